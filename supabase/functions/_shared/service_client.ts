/**
 * supabase-js as a server uses it: with the project's secret (or service_role) key, no session kept, and no
 * request to Supabase (Auth's admin API, Storage) waiting longer than 10 s.
 */
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { projectKey } from "./config.ts";

const requestTimeoutMs = 10_000;

export function serviceClient(supabaseUrl: string, secretKey: string): SupabaseClient {
  return createClient(supabaseUrl, secretKey, {
    auth: { autoRefreshToken: false, persistSession: false, detectSessionInUrl: false },
    global: {
      fetch: (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(requestTimeoutMs) }),
    },
  });
}

let storage: SupabaseClient["storage"] | undefined;

/**
 * The project's Storage through supabase-js with its secret key: it may sign any object of any bucket (the
 * lesson videos, the certificate's fonts).
 */
export function projectStorage(): SupabaseClient["storage"] {
  if (storage) return storage;
  const { supabaseUrl, secretKey } = projectKey();
  storage = serviceClient(supabaseUrl, secretKey).storage;
  return storage;
}

/** Storage's answer for an object that is not there: HTTP 400, `"statusCode": "404"`, `"code": "NoSuchKey"`. */
export function isMissingObject(error: unknown): boolean {
  const { statusCode, code } = (error ?? {}) as { statusCode?: string; code?: string };
  return statusCode === "404" || code === "NoSuchKey";
}
