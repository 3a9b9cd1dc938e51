/// <reference lib="dom" />
/**
 * The functions, called as the academy's front end calls them: supabase-js's `functions.invoke` with the
 * signed-in session. An error answer becomes an `ApiError` carrying the API's own message.
 */
import { createClient, FunctionsHttpError, type SupabaseClient } from "@supabase/supabase-js";
import { saveFile } from "./files.ts";
import { currentLanguage, hasText, t } from "./i18n.ts";

/** Where the stack is: `<meta name="tripwire-api">`, written by the server that serves the app. */
export const apiUrl = document.querySelector<HTMLMetaElement>('meta[name="tripwire-api"]')?.content ??
  "http://127.0.0.1:54321";
/** The project's publishable key (any value locally). */
export const apiKey = document.querySelector<HTMLMetaElement>('meta[name="tripwire-key"]')?.content ??
  "local-publishable-key";

export const supabase: SupabaseClient = createClient(apiUrl, apiKey);

export class ApiError extends Error {
  constructor(readonly code: string, message: string, readonly status: number, readonly details?: unknown) {
    super(message);
  }
}

/** Calls a function route, e.g. `call("students?q=bo")` or `call("complete-lesson", { body })`. */
export async function call<T>(
  path: string,
  options: { body?: unknown; headers?: Record<string, string>; method?: "PUT" } = {},
): Promise<T> {
  const { data, error } = await supabase.functions.invoke(path, {
    method: options.method ?? (options.body === undefined ? "GET" : "POST"),
    body: options.body as Record<string, unknown> | undefined,
    // The course's titles and texts come back in the language the reader chose.
    headers: { "accept-language": currentLanguage(), ...options.headers },
  });
  if (!error) return data as T;
  if (error instanceof FunctionsHttpError) {
    const response = error.context as Response;
    const body = await response.json().catch(() => undefined);
    if (body?.error?.message) {
      const { code, message, details } = body.error;
      throw new ApiError(code, readableError(code, message, details), response.status, details);
    }
    throw new ApiError("http_error", `${response.status} ${response.statusText}`, response.status);
  }
  throw new ApiError("network", t("error.network"), 0);
}

/**
 * What an error says, in the reader's language: the catalogue's text for its stable `code` (the API's own
 * English message only for a code the catalogue does not know yet), with the fields it belongs to.
 */
export function readableError(code: string, message: string, details?: unknown): string {
  const key = `error.${code}`;
  if (!hasText(key)) return message;
  const facts = (details && typeof details === "object" && !Array.isArray(details) ? details : {}) as Record<
    string,
    unknown
  >;
  const text = t(key, {
    required: String(facts.min_watch_percentage ?? ""),
    watched: String(facts.watch_percentage ?? ""),
    length: String(facts.minimum_length ?? 8),
  });
  if (!Array.isArray(details)) return text;
  const fields = details.map((detail: { path?: string; message?: string }) => {
    const name = String(detail.path ?? "").split(".")[0];
    const field = `field.${name}`;
    return t("error.field", { field: hasText(field) ? t(field) : name });
  });
  return [text, ...fields].join(" ");
}

/**
 * Downloads a document route (a CSV export, a certificate PDF) as the signed-in user, in the reader's language,
 * and saves it as `fileName`. `functions.invoke` would read the body as text; a file wants the bytes.
 */
export async function download(path: string, fileName: string): Promise<void> {
  const token = await accessToken();
  const response = await fetch(`${apiUrl}/functions/v1/${path}`, {
    headers: {
      apikey: apiKey,
      "accept-language": currentLanguage(),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
  }).catch(() => {
    throw new ApiError("network", t("error.network"), 0);
  });
  if (!response.ok) {
    const body = await response.json().catch(() => undefined);
    const { code = "http_error", message = `${response.status}`, details } = body?.error ?? {};
    throw new ApiError(code, readableError(code, message, details), response.status, details);
  }
  saveFile(fileName, await response.blob());
}

/** The signed-in user's access token (refreshed by supabase-js when due). */
export async function accessToken(): Promise<string> {
  const { data } = await supabase.auth.getSession();
  return data.session?.access_token ?? "";
}

export type Role = "student" | "manager" | "admin";

export interface SignedIn {
  id: string;
  email: string;
  role: Role;
  fullName: string;
}

export async function signedInUser(): Promise<SignedIn | undefined> {
  const { data } = await supabase.auth.getSession();
  const user = data.session?.user;
  if (!user) return undefined;
  return {
    id: user.id,
    email: user.email ?? "",
    role: (user.app_metadata.role ?? "student") as Role,
    fullName: String(user.user_metadata.full_name ?? user.email ?? ""),
  };
}
