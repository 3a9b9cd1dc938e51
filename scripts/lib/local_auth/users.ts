/**
 * What every route of the local Supabase Auth shares: GoTrue's error, its user object as `auth.users` holds it,
 * and the checks of a request body (zod), an e-mail address and a password.
 */
import type { Context } from "hono";
import type postgres from "postgres";
import { z } from "zod";
import { noControlCharacters } from "../../../supabase/functions/_shared/input.ts";
import { maximumPasswordLength, minimumPasswordLength } from "./rules.ts";

/** An error as GoTrue renders it; supabase-js reads `error_code` into `AuthApiError.code`. */
export class AuthError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 413 | 422 | 429,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds?: number,
    /** Fields GoTrue adds to this error's body (`weak_password: {reasons}`). */
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** What a route reaches: the database (`auth` schema) and the key access tokens are signed with. */
export interface AuthContext {
  sql: postgres.Sql;
  /** The project's JWT secret, as bytes. */
  key: Uint8Array;
  issuer: string;
}

/** An `auth.users` row, as much of it as GoTrue's user object shows. */
export interface AuthUserRow {
  id: string;
  aud: string | null;
  role: string | null;
  email: string | null;
  email_confirmed_at: Date | null;
  confirmed_at: Date | null;
  last_sign_in_at: Date | null;
  raw_app_meta_data: Record<string, unknown> | null;
  raw_user_meta_data: Record<string, unknown> | null;
  created_at: Date | null;
  updated_at: Date | null;
  banned_until: Date | null;
  is_anonymous: boolean;
}

export const userColumns = [
  "id",
  "aud",
  "role",
  "email",
  "email_confirmed_at",
  "confirmed_at",
  "last_sign_in_at",
  "raw_app_meta_data",
  "raw_user_meta_data",
  "created_at",
  "updated_at",
  "banned_until",
  "is_anonymous",
];

/** The user object GoTrue returns (GET /user, the admin routes, and `user` in a token answer). */
export function userJson(user: AuthUserRow) {
  return {
    id: user.id,
    aud: user.aud ?? "authenticated",
    role: user.role ?? "authenticated",
    email: user.email ?? "",
    email_confirmed_at: user.email_confirmed_at?.toISOString(),
    phone: "",
    confirmed_at: user.confirmed_at?.toISOString(),
    last_sign_in_at: user.last_sign_in_at?.toISOString(),
    app_metadata: user.raw_app_meta_data ?? {},
    user_metadata: user.raw_user_meta_data ?? {},
    identities: [],
    created_at: user.created_at?.toISOString(),
    updated_at: user.updated_at?.toISOString(),
    banned_until: user.banned_until?.toISOString(),
    is_anonymous: user.is_anonymous,
  };
}

/**
 * The request's JSON body as `schema` reads it: 400 `bad_json` for what is not a JSON object, 400
 * `validation_failed` naming the field for what the schema refuses.
 */
export async function jsonBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.output<T>> {
  const body = await c.req.json().catch(() => null);
  if (!body || typeof body !== "object" || Array.isArray(body)) {
    throw new AuthError(400, "bad_json", "Could not parse request body as JSON");
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const [issue] = parsed.error.issues;
    const field = issue.path.join(".");
    throw new AuthError(400, "validation_failed", field ? `${field}: ${issue.message}` : issue.message);
  }
  return parsed.data;
}

/** A 400 for an e-mail address or password with a control character (a NUL would reach Postgres). */
export function refuseControlCharacters(...values: string[]) {
  if (!values.every((value) => noControlCharacters.test(value))) {
    throw new AuthError(400, "validation_failed", "Control characters are not allowed");
  }
}

/** An e-mail address as GoTrue keeps it (trimmed, lower case), or its 400. */
export function validEmail(given: string): string {
  const email = given.trim().toLowerCase();
  refuseControlCharacters(email);
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email) || email.length > 255) {
    throw new AuthError(400, "validation_failed", "Unable to validate email address: invalid format");
  }
  return email;
}

/** GoTrue's password rules: 400 past bcrypt's 72 bytes, 422 `weak_password` under the minimum length. */
export function checkPasswordStrength(password: string) {
  refuseControlCharacters(password);
  if (password.length > maximumPasswordLength) {
    throw new AuthError(
      400,
      "validation_failed",
      `Password cannot be longer than ${maximumPasswordLength} characters`,
    );
  }
  if (password.length < minimumPasswordLength) {
    throw new AuthError(
      422,
      "weak_password",
      `Password should be at least ${minimumPasswordLength} characters.`,
      undefined,
      { weak_password: { reasons: ["length"] } },
    );
  }
}
