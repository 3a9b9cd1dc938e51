/// <reference lib="dom" />
/**
 * The functions, called as the academy's front end calls them: supabase-js's `functions.invoke` with the
 * signed-in session. An error answer becomes an `ApiError` carrying the API's own message.
 */
import { createClient, FunctionsHttpError, type SupabaseClient } from "@supabase/supabase-js";
import { t } from "./i18n.ts";

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
  options: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<T> {
  const { data, error } = await supabase.functions.invoke(path, {
    method: options.body === undefined ? "GET" : "POST",
    body: options.body as Record<string, unknown> | undefined,
    headers: options.headers,
  });
  if (!error) return data as T;
  if (error instanceof FunctionsHttpError) {
    const response = error.context as Response;
    const body = await response.json().catch(() => undefined);
    if (body?.error?.message) {
      throw new ApiError(body.error.code, body.error.message, response.status, body.error.details);
    }
    throw new ApiError("http_error", `${response.status} ${response.statusText}`, response.status);
  }
  throw new ApiError("network", t("error.network"), 0);
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
