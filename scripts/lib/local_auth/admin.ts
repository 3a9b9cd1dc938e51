/**
 * GoTrue's admin API for users, which the functions call through supabase-js (`auth.admin.createUser`,
 * `updateUserById`, `deleteUser`): `POST /admin/users`, `GET|PUT|DELETE /admin/users/:id`. Only a server
 * key may call them — a secret key as the `apikey` (what Supabase's gateway turns into a service_role token),
 * or a service_role token signed with the project's JWT secret — as on Supabase.
 */
import type { Context, Next } from "hono";
import { jwtVerify } from "jose";
import type postgres from "postgres";
import { z } from "zod";
import { isUniqueViolation } from "../../../supabase/functions/_shared/errors.ts";
import {
  type AuthContext,
  AuthError,
  type AuthUserRow,
  checkPasswordStrength,
  jsonBody,
  userColumns,
  userJson,
  validEmail,
} from "./users.ts";

const metadata = z.record(z.string(), z.unknown());

/** The part of GoTrue's AdminUserParams the project uses; any other field is refused, never ignored. */
const AdminUserParams = z.strictObject({
  id: z.string().optional(),
  email: z.string().optional(),
  password: z.string().optional(),
  email_confirm: z.boolean().optional(),
  app_metadata: metadata.optional(),
  user_metadata: metadata.optional(),
  ban_duration: z.string().optional(),
}, {
  error: (issue) =>
    issue.code === "unrecognized_keys" ? "This local stand-in does not take this field" : undefined,
});

const userNotFound = () => new AuthError(404, "user_not_found", "User not found");

/**
 * A Go duration (`876000h`, `1h30m`, `90s`) in seconds, or null for `none` (GoTrue's ban: lifts it); 400 for
 * anything else, as GoTrue answers.
 */
export function banSeconds(duration: string): number | null {
  if (duration === "none") return null;
  const parts = [...duration.matchAll(/(\d+)(h|m|s)/g)];
  if (!parts.length || parts.map((part) => part[0]).join("") !== duration) {
    throw new AuthError(400, "validation_failed", `invalid format for ban duration: ${duration}`);
  }
  const unit = { h: 3600, m: 60, s: 1 } as const;
  return parts.reduce((seconds, [, amount, u]) => seconds + Number(amount) * unit[u as keyof typeof unit], 0);
}

/** A user id from the path: GoTrue answers 404 for one that is not a UUID, as for one that does not exist. */
function pathId(c: Context): string {
  const id = c.req.param("id") ?? "";
  if (!z.uuid().safeParse(id).success) throw userNotFound();
  return id;
}

/** A login as GoTrue's admin create writes it, for `insertLogin`. */
export interface NewLogin {
  id: string;
  /** Trimmed and in lower case. */
  email: string;
  password: string;
  emailConfirmed: boolean;
  bannedSeconds: number | null;
  appMetadata: Record<string, unknown>;
  userMetadata: Record<string, unknown>;
}

/**
 * Writes a login where GoTrue does, in one statement: `auth.users` (the password bcrypt-hashed by pgcrypto) and its
 * e-mail identity in `auth.identities`. Throws Postgres's unique violation when the address is taken.
 */
export async function insertLogin(sql: postgres.Sql, login: NewLogin): Promise<AuthUserRow> {
  const appMetadata = { provider: "email", providers: ["email"], ...login.appMetadata };
  const identity = {
    sub: login.id,
    email: login.email,
    email_verified: login.emailConfirmed,
    phone_verified: false,
  };
  const [user] = await sql<AuthUserRow[]>`
    with auth_user as (
      insert into auth.users (
        instance_id, id, aud, role, email, encrypted_password, email_confirmed_at, banned_until,
        raw_app_meta_data, raw_user_meta_data, created_at, updated_at,
        confirmation_token, recovery_token, email_change_token_new, email_change, is_sso_user, is_anonymous
      ) values (
        '00000000-0000-0000-0000-000000000000', ${login.id}, 'authenticated', 'authenticated', ${login.email},
        extensions.crypt(${login.password}, extensions.gen_salt('bf')),
        ${login.emailConfirmed ? sql`now()` : null},
        ${login.bannedSeconds === null ? null : sql`now() + make_interval(secs => ${login.bannedSeconds})`},
        ${sql.json(appMetadata as postgres.JSONValue)}, ${sql.json(login.userMetadata as postgres.JSONValue)},
        now(), now(), '', '', '', '', false, false
      )
      returning ${sql(userColumns)}
    ),
    identity as (
      insert into auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
      select id::text, id, ${sql.json(identity)}, 'email', now(), now() from auth_user
    )
    select * from auth_user`;
  return user;
}

/** The admin routes and the check in front of them. */
export function admin({ sql, key }: AuthContext, secretKeys: string[]) {
  /** Lets through a server key only: 401 without credentials, 403 for a person's token. */
  async function requireServerKey(c: Context, next: Next) {
    if (secretKeys.includes(c.req.header("apikey") ?? "")) return await next();
    const token = c.req.header("authorization")?.match(/^Bearer\s+(\S+)$/i)?.[1];
    if (!token) throw new AuthError(401, "no_authorization", "This endpoint requires a valid Bearer token");
    const claims = await jwtVerify(token, key, { algorithms: ["HS256"] }).then(
      ({ payload }) => payload,
      () => {
        throw new AuthError(403, "bad_jwt", "invalid JWT: unable to parse or verify signature");
      },
    );
    if (claims.role !== "service_role") throw new AuthError(403, "not_admin", "User not allowed");
    return await next();
  }

  async function userById(id: string): Promise<AuthUserRow> {
    const [user] = await sql<AuthUserRow[]>`select ${sql(userColumns)} from auth.users where id = ${id}`;
    if (!user) throw userNotFound();
    return user;
  }

  return {
    requireServerKey,
    routes: {
      /** POST /admin/users: a login with an e-mail and a password; 422 `email_exists` when the address is taken. */
      async createUser(c: Context) {
        const params = await jsonBody(c, AdminUserParams);
        if (!params.email) {
          throw new AuthError(
            400,
            "validation_failed",
            "Cannot create a user without either an email or phone",
          );
        }
        const email = validEmail(params.email);
        const id = params.id ?? crypto.randomUUID();
        if (!z.uuid().safeParse(id).success) {
          throw new AuthError(400, "validation_failed", "ID must conform to the uuid v4 format");
        }
        // GoTrue makes up a password when none is given: the login exists, nobody knows it.
        const password = params.password ?? crypto.randomUUID();
        checkPasswordStrength(password);
        const banned = params.ban_duration ? banSeconds(params.ban_duration) : null;
        try {
          const user = await insertLogin(sql, {
            id,
            email,
            password,
            emailConfirmed: Boolean(params.email_confirm),
            bannedSeconds: banned,
            appMetadata: params.app_metadata ?? {},
            userMetadata: params.user_metadata ?? {},
          });
          return c.json(userJson(user));
        } catch (error) {
          // GoTrue's one-account-per-e-mail index.
          if (isUniqueViolation(error, ["users_email_partial_key"])) {
            throw new AuthError(
              422,
              "email_exists",
              "A user with this email address has already been registered",
            );
          }
          throw error;
        }
      },
      /** GET /admin/users/:id */
      async getUser(c: Context) {
        return c.json(userJson(await userById(pathId(c))));
      },
      /**
       * PUT /admin/users/:id: a new password, a ban (`ban_duration`, `none` lifts it) or metadata (merged, as GoTrue
       * merges it). A ban does not end the user's sessions (GoTrue's doesn't): it refuses sign-in and refresh.
       */
      async updateUser(c: Context) {
        const id = pathId(c);
        const params = await jsonBody(c, AdminUserParams.omit({ id: true }));
        if (params.email !== undefined) {
          throw new AuthError(
            400,
            "validation_failed",
            "This local stand-in does not change an e-mail address",
          );
        }
        if (params.password !== undefined) checkPasswordStrength(params.password);
        const banned = params.ban_duration === undefined ? undefined : banSeconds(params.ban_duration);
        const [user] = await sql<AuthUserRow[]>`
          update auth.users set
            encrypted_password = ${
          params.password === undefined
            ? sql`encrypted_password`
            : sql`extensions.crypt(${params.password}, extensions.gen_salt('bf'))`
        },
            banned_until = ${
          banned === undefined
            ? sql`banned_until`
            : banned === null
            ? null
            : sql`now() + make_interval(secs => ${banned})`
        },
            email_confirmed_at = ${
          params.email_confirm ? sql`coalesce(email_confirmed_at, now())` : sql`email_confirmed_at`
        },
            raw_app_meta_data = coalesce(raw_app_meta_data, '{}') || ${
          sql.json((params.app_metadata ?? {}) as Record<string, string>)
        },
            raw_user_meta_data = coalesce(raw_user_meta_data, '{}') || ${
          sql.json((params.user_metadata ?? {}) as Record<string, string>)
        },
            updated_at = now()
          where id = ${id}
          returning ${sql(userColumns)}`;
        if (!user) throw userNotFound();
        return c.json(userJson(user));
      },
      /** DELETE /admin/users/:id: the login, its identities and sessions. */
      async deleteUser(c: Context) {
        const [deleted] = await sql`delete from auth.users where id = ${pathId(c)} returning id`;
        if (!deleted) throw userNotFound();
        return c.json({});
      },
    },
  };
}
