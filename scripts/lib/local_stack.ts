/** Fixed facts of the local stack, the same ports `supabase start` uses, and its tokens. */
import { SignJWT } from "jose";
import postgres from "postgres";

/** Functions are served at http://127.0.0.1:54321/functions/v1/<name>, as by a local Supabase. */
export const functionsPort = Number(Deno.env.get("FUNCTIONS_PORT") ?? 54321);
/** The embedded Postgres listens where a local Supabase's database does. */
export const databasePort = Number(Deno.env.get("LOCAL_DB_PORT") ?? 54322);
/** Persistent data of the embedded Postgres (git-ignored). */
export const dataDir = Deno.env.get("LOCAL_DB_DIR") ??
  new URL("../../.tripwire/postgres", import.meta.url).pathname;
/** The embedded server's superuser URL. */
export const localDatabaseUrl = `postgresql://postgres:postgres@127.0.0.1:${databasePort}/postgres`;
/**
 * The JWT secret of every local Supabase stack (public, for development only). Tokens signed with it
 * are accepted only where JWT_SECRET is set to it, i.e. by `npm start`, never by a deployment.
 */
export const localJwtSecret = "super-secret-jwt-token-with-at-least-32-characters-long";
/**
 * The local stack's secret key (development only), what a scheduler presents to service-role-only
 * routes such as POST /functions/v1/create-tripwire-user/retry-emails.
 */
export const localSecretKey = "sb_secret_tripwire_local_development_only";
/**
 * How often the local stack does what pg_cron / Supabase Cron does when deployed (SCHEDULER_INTERVAL_MS;
 * 0 turns it off, as the benchmarks do so that a background refresh never lands inside a measurement).
 */
export const schedulerIntervalMs = Number(Deno.env.get("SCHEDULER_INTERVAL_MS") ?? 60_000);

/**
 * Opens a session for `userId` as Supabase Auth does at sign-in (a row in `auth.sessions`) and returns its
 * id, for a token to name: the functions refuse a token whose session is gone. Nothing for an unknown user.
 */
export async function openSession(sql: postgres.Sql, userId: string): Promise<string> {
  const id = crypto.randomUUID();
  await sql`
    insert into auth.sessions (id, user_id)
    select ${id}, u.id from auth.users u where u.id = ${userId}`;
  return id;
}

/** Signs a token shaped like one Supabase Auth issues for a signed-in user, with a session just opened. */
export async function signLocalToken(
  sql: postgres.Sql,
  user: { id: string; email: string },
  options: { expiresIn?: string; secret?: string } = {},
): Promise<string> {
  const sessionId = await openSession(sql, user.id);
  return await new SignJWT({ email: user.email, role: "authenticated", aal: "aal1", session_id: sessionId })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(user.id)
    .setAudience("authenticated")
    .setIssuer(`http://127.0.0.1:${functionsPort}/auth/v1`)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? "1h")
    .sign(new TextEncoder().encode(options.secret ?? localJwtSecret));
}

/** `signLocalToken` against the database at `databaseUrl`, over a connection of its own. */
export async function signLocalTokenAt(
  databaseUrl: string,
  user: { id: string; email: string },
): Promise<string> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    return await signLocalToken(sql, user);
  } finally {
    await sql.end();
  }
}
