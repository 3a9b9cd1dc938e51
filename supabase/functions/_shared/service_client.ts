/**
 * Supabase's Auth admin API and Storage as a server uses them: the two clients supabase-js is made of
 * (`@supabase/auth-js`, `@supabase/storage-js`, the versions supabase-js pins), with the project's secret (or
 * service_role) key sent as supabase-js sends it, no session kept, and no request waiting longer than 10 s.
 * Without supabase-js itself a function's bundle leaves out Realtime, PostgREST's client and the rest that no
 * function uses (≈ 0.3 MB each; docs/benchmarks.md).
 */
import { StorageClient } from "@supabase/storage-js";
import { projectKey } from "./config.ts";

const requestTimeoutMs = 10_000;

/** fetch with the key in `apikey` and as the Bearer (supabase-js's `fetchWithAuth` without a session). */
export function keyedFetch(secretKey: string): typeof fetch {
  return (input, init) => {
    const headers = new Headers(init?.headers);
    if (!headers.has("apikey")) headers.set("apikey", secretKey);
    if (!headers.has("authorization")) headers.set("authorization", `Bearer ${secretKey}`);
    return fetch(input, { ...init, headers, signal: AbortSignal.timeout(requestTimeoutMs) });
  };
}

let storage: StorageClient | undefined;

/**
 * The project's Storage (`storage` in supabase-js) with its secret key: it may sign any object of any bucket
 * (the lesson videos, the certificate's fonts).
 */
export function projectStorage(): StorageClient {
  if (storage) return storage;
  const { supabaseUrl, secretKey } = projectKey();
  storage = new StorageClient(serviceUrl(supabaseUrl, "storage/v1"), {}, keyedFetch(secretKey));
  return storage;
}

/** A service of the project (`auth/v1`, `storage/v1`), resolved against its URL as supabase-js does. */
export function serviceUrl(supabaseUrl: string, path: string): string {
  return new URL(path, supabaseUrl.endsWith("/") ? supabaseUrl : `${supabaseUrl}/`).href;
}

/** Storage's answer for an object that is not there: HTTP 400, `"statusCode": "404"`, `"code": "NoSuchKey"`. */
export function isMissingObject(error: unknown): boolean {
  const { statusCode, code } = (error ?? {}) as { statusCode?: string; code?: string };
  return statusCode === "404" || code === "NoSuchKey";
}
