/**
 * One postgres.js pool per isolate and the transaction helpers every capability uses.
 */
import postgres from "postgres";
import { config } from "./config.ts";
import type { Database } from "../_generated/database.types.ts";

export type Sql = postgres.Sql;
export type Transaction = postgres.TransactionSql;
/** A connection taken out of the pool (`sql.reserve()`) until released. */
export type ReservedSql = postgres.ReservedSql;

/**
 * The numeric and bigint columns, which postgres.js returns as exact decimal strings (integers come as
 * numbers). A test checks this list against the database's catalog.
 */
export const decimalColumns = [
  "private.audit_log.id",
  "private.email_outbox.id",
  "private.main_course_purchases.amount",
  "private.offer_promotions.price",
  "private.offers.list_price",
  "private.payment_orders.amount",
  "private.payment_refunds.student_refund_id",
  "private.payment_reviews.amount",
  "private.payment_reviews.id",
  "private.webhook_attempts.delivery_id",
  "private.webhook_attempts.id",
  "private.webhook_deliveries.event_id",
  "private.webhook_deliveries.id",
  "private.webhook_events.id",
  "public.sales_activity_log.id",
  "public.student_progress.watch_percentage",
  "public.student_refunds.amount",
  "public.student_refunds.id",
  "public.tripwire_lessons.min_watch_percentage",
  "public.tripwire_user_profile.completion_percentage",
  "public.tripwire_users.payment_amount",
  "public.tripwire_users.refunded_amount",
  "public.user_statistics.total_watch_seconds",
  "public.video_tracking.last_playback_rate",
  "public.video_tracking.last_position_seconds",
  "public.video_tracking.rejected_seconds",
  "public.video_tracking.watch_percentage",
  "public.video_tracking.watched_seconds",
] as const;
type DecimalColumn = (typeof decimalColumns)[number];

/**
 * A row as postgres.js returns it, typed from the generated database types (`npm run gen:types`), so a
 * renamed or retyped column breaks `deno check`. The generated types are PostgREST's JSON; postgres.js
 * returns timestamps as Date (every timestamp column is named `*_at`, which a test holds) and the
 * `decimalColumns` as strings, read with `Number()`.
 */
type AsReturned<Table extends string, Columns> = {
  [Column in keyof Columns]: Column extends `${string}_at` ? Date | Extract<Columns[Column], null>
    : `${Table}.${Column & string}` extends DecimalColumn ? string | Extract<Columns[Column], null>
    : Columns[Column];
};
type Tables<Schema extends "public" | "private"> = Database[Schema]["Tables"];
/** A row of a table in `public`. */
export type Row<Table extends keyof Tables<"public"> & string> = AsReturned<
  `public.${Table}`,
  Tables<"public">[Table]["Row"]
>;
/** A row of a table in `private`. */
export type PrivateRow<Table extends keyof Tables<"private"> & string> = AsReturned<
  `private.${Table}`,
  Tables<"private">[Table]["Row"]
>;

/**
 * Supabase's transaction pooler (Supavisor on port 6543, or any URL marked `pgbouncer=true`) hands
 * each transaction to another server connection, so server-side prepared statements cannot be used.
 */
export function isTransactionPooler(url: string): boolean {
  const parsed = new URL(url);
  return parsed.port === "6543" || parsed.searchParams.get("pgbouncer") === "true";
}

/**
 * The pool settings the functions use, for `postgres(url, options)`. Every statement is bounded by
 * `statementTimeoutMs` (a startup parameter of each connection), and a connection attempt by 5 s:
 * past either the client gets a 503 with Retry-After instead of waiting.
 */
export function poolSettings(url: string, max: number, statementTimeoutMs = 8_000) {
  const parsed = new URL(url);
  parsed.searchParams.delete("pgbouncer");
  const pooled = isTransactionPooler(url);
  return [parsed.toString(), {
    max,
    prepare: !pooled,
    idle_timeout: 20,
    connect_timeout: 5,
    // postgres.js waits (0.5–1) × 3^failures / 100 s before reconnecting, counting the whole pool's failed
    // attempts: after a database restart that reached 7–20 s, during which requests hung although the
    // database was back within a second (tests/faults_test.ts). At most 1 s here; clients get 503 meanwhile.
    backoff: (failures: number) => Math.min(0.05 * 2 ** Math.min(failures, 5), 1),
    onnotice: () => {},
    // A transaction pooler refuses startup parameters it does not know (PgBouncer: "unsupported startup
    // parameter: statement_timeout"), and keeps no session settings: there, the request deadline (app.ts)
    // bounds what a client waits.
    connection: pooled
      ? { application_name: "tripwire-functions" }
      : { application_name: "tripwire-functions", statement_timeout: statementTimeoutMs },
  }] as const;
}

/** Opens a pool with the settings the functions use (`poolSettings`). */
export function connect(url: string, max: number, statementTimeoutMs = 8_000): Sql {
  return postgres(...poolSettings(url, max, statementTimeoutMs));
}

let pool: Sql | undefined;

/** The isolate's pool, opened on first use. */
export function db(): Sql {
  const { databaseUrl, databasePoolSize, statementTimeoutMs } = config();
  pool ??= connect(databaseUrl, databasePoolSize, statementTimeoutMs);
  return pool;
}

const retryableCodes = new Set(["40001", "40P01"]);
const maxAttempts = 4;

/**
 * Runs `work` in one transaction, retrying it from the start on a serialization failure or a
 * deadlock. `work` must therefore have no side effects outside the database.
 */
export async function withTransaction<T>(
  work: (tx: Transaction) => Promise<T>,
  sql: Sql = db(),
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await sql.begin(work) as T;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (!code || !retryableCodes.has(code) || attempt >= maxAttempts) throw error;
      // Jittered backoff so the transactions that collided do not collide again.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * 2 ** attempt));
    }
  }
}

/**
 * Who a statement runs as: a signed-in user (their token's subject and session, which the policies check
 * is still open), or nobody (`anon`).
 */
export type Caller = { sub: string; session_id?: unknown } | "anon";

/**
 * Runs `work` in one transaction as the caller, as PostgREST runs a request: role `authenticated` (or
 * `anon`) with the caller's JWT claims, so grants, row level security and the RPCs' own scope checks
 * apply exactly as under `supabase.rpc()`. The only way code here acts as a user; the settings end with
 * the transaction, so the pooled connection is the owner again afterwards.
 */
export async function asCaller<T>(
  caller: Caller,
  work: (tx: Transaction) => Promise<T>,
  sql: Sql = db(),
): Promise<T> {
  const role = caller === "anon" ? "anon" : "authenticated";
  const claims = JSON.stringify(
    caller === "anon" ? { role } : { role, sub: caller.sub, session_id: caller.session_id },
  );
  return await sql.begin(async (tx) => {
    await tx`select set_config('role', ${role}, true), set_config('request.jwt.claims', ${claims}, true)`;
    return await work(tx);
  }) as T;
}
