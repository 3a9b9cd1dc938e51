/**
 * supabase-js as a server uses it: with the project's secret (or service_role) key, no session kept, and no
 * request to Supabase (Auth's admin API, Storage) waiting longer than 10 s.
 */
import { createClient, type SupabaseClient } from "@supabase/supabase-js";

const requestTimeoutMs = 10_000;

export function serviceClient(supabaseUrl: string, secretKey: string): SupabaseClient {
  return createClient(supabaseUrl, secretKey, {
    auth: { autoRefreshToken: false, persistSession: false, detectSessionInUrl: false },
    global: {
      fetch: (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(requestTimeoutMs) }),
    },
  });
}
