/**
 * supabase-js as a server uses it: with the project's secret (or service_role) key, no session kept, and no
 * request to Supabase (Auth's admin API, Storage) waiting longer than 10 s.
 */
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { config } from "./config.ts";

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
  const { supabaseUrl, secretKeys } = config();
  if (!supabaseUrl || secretKeys.length === 0) {
    throw new Error("Storage needs SUPABASE_URL and SUPABASE_SECRET_KEYS or SUPABASE_SERVICE_ROLE_KEY");
  }
  storage = serviceClient(supabaseUrl, secretKeys[0]).storage;
  return storage;
}
