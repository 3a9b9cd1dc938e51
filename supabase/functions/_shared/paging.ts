/**
 * Keyset paging, one way for every list (the activity feed, a manager's students): a page size, and an
 * opaque cursor naming the last row seen by its time and id.
 */
import { z } from "zod";
import { isStorableYear } from "./input.ts";

/** A real calendar time (2026-02-30 is not one), as Postgres writes it. */
const isoTime = z.iso.datetime({ offset: true });

/** The SQL's page limit (analytics.max_page_size()); a test holds this to it. */
export const maxPageSize = 100;

/** `limit`: 1 to maxPageSize rows, 20 unless asked. */
export const pageLimit = z.coerce.number().int().min(1).max(maxPageSize).default(20);

/**
 * The last row seen: its sort time as Postgres wrote it (microseconds kept — it reaches SQL as text, never
 * through a JS Date; `-infinity` for a row that has no time) and its id.
 */
export interface Cursor {
  createdAt: string;
  id: string;
}

/** A cursor as the opaque base64url text a list gives out. */
export function encodeCursor(cursor: Cursor): string {
  return btoa(`${cursor.createdAt}|${cursor.id}`).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

const cursorTime = /^(-infinity|\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d{2}:\d{2}))\|(.+)$/;

/** A time a cursor may hold: a real one, or -infinity (where a list sorts a row that has none). */
const isCursorTime = (text: string) =>
  text === "-infinity" || (isoTime.safeParse(text).success && isStorableYear(text));

/** The cursor in `text`, if a list gave it out and its id matches `idPattern`. */
export function decodeCursor(text: string, idPattern: RegExp): Cursor | undefined {
  let decoded: string;
  try {
    decoded = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    return undefined;
  }
  const match = decoded.match(cursorTime);
  if (
    !match || !isCursorTime(match[1]) || !idPattern.test(match[2])
  ) {
    return undefined;
  }
  return { createdAt: match[1], id: match[2] };
}

/** A query parameter holding a cursor, its id matching `idPattern`; anything else → 400. */
export function cursorParameter(idPattern: RegExp, message: string) {
  return z.string().max(200).optional().transform((text, context) => {
    if (text === undefined) return undefined;
    const cursor = decodeCursor(text, idPattern);
    if (!cursor) context.addIssue({ code: "custom", message });
    return cursor;
  });
}
