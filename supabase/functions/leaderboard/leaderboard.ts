/**
 * The sales leaderboard and a manager's analytics (DESIGN.md, leaderboard). SQL does all of it: the
 * RPCs of migration 20261123100000 read the materialized views and check the caller's scope. Here they
 * run as the caller (role `authenticated` with the token's claims, as PostgREST runs them), so
 * `supabase.rpc()` and this function obey the same rules.
 */
import { z } from "zod";
import { actAs, db, type Sql } from "../_shared/db.ts";
import { HttpError } from "../_shared/errors.ts";

const limit = z.coerce.number().int().min(1).max(100).default(20);
const day = z.iso.date("a date as YYYY-MM-DD");
const managerId = z.uuid("a manager's id (uuid)").optional();

export const LeaderboardQuery = z.strictObject({
  period: z.enum(["day", "week", "month", "all"], "day, week, month or all").default("month"),
  limit,
});

/** Days between two YYYY-MM-DD dates, counting both. */
function daysSpanned(from: string, to: string): number {
  return (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000 + 1;
}

export const maxChartDays = 366;

export const ChartQuery = z.strictObject({ from: day.optional(), to: day.optional(), manager_id: managerId })
  .superRefine((query, context) => {
    if (!query.from || !query.to) return;
    if (query.from > query.to) {
      context.addIssue({ code: "custom", path: ["from"], message: "must not be after to" });
    } else if (daysSpanned(query.from, query.to) > maxChartDays) {
      context.addIssue({ code: "custom", path: ["to"], message: `at most ${maxChartDays} days after from` });
    }
  });

export const StatsQuery = z.strictObject({ manager_id: managerId });

/** The feed's position: the last event seen, as an opaque string. */
export interface Cursor {
  createdAt: string;
  id: number;
}

export function encodeCursor(cursor: Cursor): string {
  return btoa(`${cursor.createdAt}|${cursor.id}`).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

export function decodeCursor(text: string): Cursor | undefined {
  let decoded: string;
  try {
    decoded = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    return undefined;
  }
  const match = decoded.match(/^(\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d{2}:\d{2}))\|(\d{1,18})$/);
  if (!match || Number.isNaN(Date.parse(match[1]))) return undefined;
  return { createdAt: match[1], id: Number(match[2]) };
}

export const ActivityQuery = z.strictObject({
  manager_id: managerId,
  before: z.string().max(200).optional().transform((text, context) => {
    if (text === undefined) return undefined;
    const cursor = decodeCursor(text);
    if (!cursor) context.addIssue({ code: "custom", message: "not a cursor this feed gave out" });
    return cursor;
  }),
  limit,
});

/** Who is asking, as the token says; the role is checked by the SQL, from `public.users`. */
export interface Caller {
  sub: string;
}

/** SQLSTATEs the RPCs raise on purpose, with their messages, which are ours and safe to show. */
function fromRpcError(error: unknown): unknown {
  const { code, message } = error as { code?: string; message?: string };
  if (code === "42501") return new HttpError(403, "forbidden", message ?? "Not allowed");
  if (code === "22023") return new HttpError(400, "validation_failed", message ?? "Bad parameter");
  if (code === "P0002") return new HttpError(404, "not_found", message ?? "Not found");
  return error;
}

/** Runs one RPC as the caller, in a transaction that sets the role and claims PostgREST would. */
async function asCaller(
  caller: Caller,
  rpc: (tx: Sql) => Promise<{ result: unknown }[]>,
  sql: Sql,
): Promise<unknown> {
  try {
    return await sql.begin(async (tx) => {
      await actAs(tx, { sub: caller.sub });
      const [row] = await rpc(tx as unknown as Sql);
      return row.result;
    });
  } catch (error) {
    throw fromRpcError(error);
  }
}

export function getLeaderboard(
  caller: Caller,
  query: z.output<typeof LeaderboardQuery>,
  sql: Sql = db(),
): Promise<unknown> {
  return asCaller(
    caller,
    (tx) => tx`select public.get_sales_leaderboard(${query.period}, ${query.limit}) as result`,
    sql,
  );
}

export function getChart(
  caller: Caller,
  query: z.output<typeof ChartQuery>,
  sql: Sql = db(),
): Promise<unknown> {
  return asCaller(
    caller,
    (tx) =>
      tx`select public.get_sales_chart_data(${query.from ?? null}::date, ${query.to ?? null}::date,
                                            ${query.manager_id ?? null}::uuid) as result`,
    sql,
  );
}

export function getStats(
  caller: Caller,
  query: z.output<typeof StatsQuery>,
  sql: Sql = db(),
): Promise<unknown> {
  return asCaller(
    caller,
    (tx) => tx`select public.get_manager_stats(${query.manager_id ?? null}::uuid) as result`,
    sql,
  );
}

interface ActivityEvent {
  id: number;
  created_at: string;
}

/**
 * The feed's page after `before`. The cursor's time goes to SQL as text: postgres.js would turn a
 * timestamptz parameter into a JS Date, which keeps milliseconds only, and events logged in one
 * transaction share a microsecond time, so the page after one of them would skip its siblings.
 */
export async function getActivity(
  caller: Caller,
  query: z.output<typeof ActivityQuery>,
  sql: Sql = db(),
): Promise<Record<string, unknown>> {
  const result = await asCaller(
    caller,
    (tx) =>
      tx`select public.get_manager_activity(${query.manager_id ?? null}::uuid,
                                            ${query.before?.createdAt ?? null}::text::timestamptz,
                                            ${query.before?.id ?? null}::bigint, ${query.limit}) as result`,
    sql,
  ) as { events: ActivityEvent[] };
  const last = result.events.at(-1);
  return {
    ...result,
    next_cursor: last && result.events.length === query.limit
      ? encodeCursor({ createdAt: last.created_at, id: last.id })
      : null,
  };
}

/** Refreshes the materialized views now (the scheduler's job; a no-op report while one is running). */
export async function refreshSalesStats(sql: Sql = db()): Promise<unknown> {
  const [row] = await sql`select analytics.refresh_sales_stats() as report`;
  return row.report;
}
