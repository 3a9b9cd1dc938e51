/**
 * Signing in as a browser does against the local stack (scripts/lib/local_auth/): a supabase-js client with its own
 * session storage, GoTrue's routes called directly, a student to sign in as, and GoTrue's error checked.
 */
import assert from "node:assert/strict";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { aida } from "./fixtures.ts";
import { expectJson } from "./responses.ts";
import { baseUrl } from "./server.ts";
import { newStudentBody, postStudent } from "./students.ts";

/** A browser-like client with its own session storage. */
export function client(): SupabaseClient {
  const storage = new Map<string, string>();
  return createClient(baseUrl, "local-publishable-key", {
    auth: {
      persistSession: true,
      autoRefreshToken: false,
      detectSessionInUrl: false,
      storage: {
        getItem: (key) => storage.get(key) ?? null,
        setItem: (key, value) => void storage.set(key, value),
        removeItem: (key) => void storage.delete(key),
      },
    },
  });
}

export async function authPost(path: string, body: unknown, token?: string): Promise<Response> {
  return await fetch(`${baseUrl}/auth/v1/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
}

/** A new student made through the API, with the password the manager was shown. */
export async function newLogin(name: string): Promise<{ email: string; password: string; id: string }> {
  const created = await expectJson(await postStudent(aida.id, newStudentBody(name)), 201);
  return { email: created.email, password: created.password, id: created.id };
}

export function signIn(email: string, password: string, address?: string): Promise<Response> {
  return fetch(`${baseUrl}/auth/v1/token?grant_type=password`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(address ? { "x-forwarded-for": address } : {}) },
    body: JSON.stringify({ email, password }),
  });
}

/** GoTrue's error: `status`, and `code` as `error_code`. */
export async function expectAuthError(response: Response, status: number, code: string) {
  const body = await response.json();
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(body.error_code, code);
  return body;
}
