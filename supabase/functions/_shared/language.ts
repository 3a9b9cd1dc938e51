/**
 * The academy's two languages, and which one a caller asked for. The course's texts are stored in both
 * (`public.localized_text`); a route that serves them passes the caller's choice to SQL, where
 * `private.content_language` falls back to the academy's own (academy.settings.language, Russian unless set).
 */
import type { MiddlewareHandler } from "hono";
import { db, type Sql } from "./db.ts";

export const languages = ["ru", "en"] as const;
export type Language = (typeof languages)[number];

/**
 * The caller's language from an `Accept-Language` header (RFC 9110 §12.5.4): the first of ours by
 * preference, `ru-KZ` counting as `ru`; null when the header names none of them (the academy's then).
 */
export function acceptedLanguage(header: string | undefined | null): Language | null {
  if (!header) return null;
  const ranked = header.split(",").map((part, index) => {
    const [range, ...parameters] = part.trim().toLowerCase().split(";");
    const quality = parameters.map((p) => p.trim().match(/^q=([01](?:\.\d{0,3})?)$/)?.[1]).find(Boolean);
    return {
      primary: range.trim().split("-")[0],
      quality: quality === undefined ? 1 : Number(quality),
      index,
    };
  }).filter((entry) => entry.quality > 0)
    .sort((a, b) => b.quality - a.quality || a.index - b.index);
  return ranked.map((entry) => entry.primary).find((primary): primary is Language =>
    (languages as readonly string[]).includes(primary)
  ) ?? null;
}

/**
 * A route that serves the course's texts (described with `language: true`): reads `Accept-Language` into
 * `c.get("language")` (null: none of ours), says so in `Vary`, and names the language of the answer in
 * `Content-Language` when the caller chose one of ours.
 */
export const negotiateLanguage: MiddlewareHandler<{ Variables: { language: Language | null } }> = async (
  c,
  next,
) => {
  const language = acceptedLanguage(c.req.header("accept-language"));
  c.set("language", language);
  await next();
  c.header("vary", "Accept-Language", { append: true });
  if (language) c.header("content-language", language);
};

/** The OpenAPI description of the request header (describe()'s `language: true`). */
export const acceptLanguageHeader = {
  in: "header" as const,
  name: "Accept-Language",
  required: false,
  description: "`ru` or `en` (e.g. `en-US,en;q=0.9`): the language of the course's titles and texts in the " +
    "answer. Without it, or naming neither, the academy's language (Russian unless the academy set another).",
  schema: { type: "string" as const },
};

/** The OpenAPI description of the answer's header (describe()'s `language: true`). */
export const contentLanguageHeader = {
  "content-language": {
    description: "`ru` or `en`, when the request's Accept-Language chose one.",
    schema: { type: "string", enum: [...languages] },
  },
};

/** The language the course's texts are served in to a caller who named none of ours: the academy's own. */
export async function academyLanguage(sql: Sql = db()): Promise<Language> {
  const [row] = await sql<{ language: Language }[]>`select private.content_language(null) as language`;
  return row.language;
}
