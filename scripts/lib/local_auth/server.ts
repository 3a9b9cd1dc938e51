/**
 * The local Supabase Auth: the part of GoTrue this project uses, answered by `npm start` (and the tests) at
 * http://127.0.0.1:54321/auth/v1 with GoTrue's request and response shapes and error codes — sign-in and
 * sessions (sessions.ts), a forgotten password (recovery.ts) and the admin API the functions call through
 * supabase-js (admin.ts). Passwords are bcrypt hashes in `auth.users`, as GoTrue keeps them.
 *
 * Local only: it never ships as a function, and it refuses to start against a database where Supabase
 * Auth runs (where GoTrue's `supabase_auth_admin` owns `auth.users`). Deployed, Supabase Auth does all of this.
 */
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import postgres from "postgres";
import { fileURLToPath } from "node:url";
import { admin } from "./admin.ts";
import { recovery, type RecoveryOptions } from "./recovery.ts";
import { maxAuthBodyBytes } from "./rules.ts";
import { sessions } from "./sessions.ts";
import { AuthError } from "./users.ts";

export * from "./rules.ts";

const tablesFile = new URL("../../sql/local_auth.sql", import.meta.url);

export interface LocalAuth {
  /** Answers a request whose path starts with /auth/v1. */
  fetch(request: Request): Response | Promise<Response>;
  /** Waits for the recovery e-mails being prepared after their answers. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

export interface LocalAuthOptions extends RecoveryOptions {
  databaseUrl: string;
  /** The project's JWT secret: access tokens are signed with it, service_role tokens checked with it. */
  jwtSecret: string;
  issuer: string;
  /** The project's secret keys: an `apikey` among them may call the admin routes. */
  secretKeys: string[];
}

/** Refuses a database without `auth.users`, or one where Supabase Auth runs; adds the session tables. */
async function prepare(sql: postgres.Sql) {
  const [{ owner }] = await sql<{ owner: string | null }[]>`
    select (select tableowner from pg_tables where schemaname = 'auth' and tablename = 'users') as owner`;
  if (owner === null || owner === "supabase_auth_admin") {
    throw new Error(
      owner === null
        ? "Local sign-in refuses to start: this database has no auth.users table."
        : "Local sign-in refuses to start: Supabase Auth runs on this database (auth.users belongs to " +
          "supabase_auth_admin). Sign in through that project's Supabase Auth instead.",
    );
  }
  await sql.file(fileURLToPath(tablesFile));
}

/** Starts the local Supabase Auth against `options.databaseUrl`. Throws when Supabase Auth runs there. */
export async function startLocalAuth(options: LocalAuthOptions): Promise<LocalAuth> {
  const sql = postgres(options.databaseUrl, { max: 6, onnotice: () => {} });
  await prepare(sql).catch(async (error) => {
    await sql.end();
    throw error;
  });
  const context = { sql, key: new TextEncoder().encode(options.jwtSecret), issuer: options.issuer };
  const session = sessions(context);
  const recovering = recovery(context, session, options);
  const users = admin(context, options.secretKeys);

  /** Every route, one named handler each: GoTrue's paths under /auth/v1. */
  const routes: [method: string, path: string, handler: (c: Context) => Promise<Response>][] = [
    ["POST", "/token", session.routes.token],
    ["GET", "/user", session.routes.user],
    ["PUT", "/user", recovering.routes.updateUser],
    ["POST", "/logout", session.routes.logout],
    ["POST", "/recover", recovering.routes.recover],
    ["GET", "/verify", recovering.routes.verify],
    ["POST", "/admin/users", users.routes.createUser],
    ["GET", "/admin/users/:id", users.routes.getUser],
    ["PUT", "/admin/users/:id", users.routes.updateUser],
    ["DELETE", "/admin/users/:id", users.routes.deleteUser],
  ];

  const app = new Hono().basePath("/auth/v1");
  app.use(
    "*",
    cors({
      origin: "*",
      allowMethods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"],
      allowHeaders: ["authorization", "apikey", "content-type", "x-client-info", "x-supabase-api-version"],
      exposeHeaders: ["x-supabase-api-version", "retry-after"],
      maxAge: 86400,
    }),
  );
  // A body is read only up to its limit, whatever Content-Length says.
  app.use(
    bodyLimit({
      maxSize: maxAuthBodyBytes,
      onError: () => {
        throw new AuthError(
          413,
          "request_too_large",
          `The request body is larger than ${maxAuthBodyBytes} bytes`,
        );
      },
    }),
  );
  app.use("/admin/*", users.requireServerKey);
  for (const [method, path, handler] of routes) app.on(method, path, handler);
  app.notFound((c) =>
    c.json({
      code: 404,
      error_code: "not_found",
      msg: `This local stand-in for Supabase Auth answers only ${
        [...new Set(routes.map(([, path]) => path))].join(", ")
      }`,
    }, 404)
  );
  app.onError((error, c) => {
    if (error instanceof AuthError) {
      if (error.retryAfterSeconds) c.header("retry-after", String(error.retryAfterSeconds));
      return c.json(
        { code: error.status, error_code: error.code, msg: error.message, ...error.extra },
        error.status,
      );
    }
    console.error(JSON.stringify({ level: "error", msg: "local Auth failed", error: String(error) }));
    return c.json({ code: 500, error_code: "unexpected_failure", msg: "Unexpected failure" }, 500);
  });

  return {
    fetch: (request) => app.fetch(request),
    settled: recovering.settled,
    close: async () => {
      await recovering.settled();
      await sql.end();
    },
  };
}
