/**
 * The sales leaderboard and a manager's analytics (DESIGN.md, leaderboard). SQL does all of it: the
 * RPCs of migration 20261123100000 read the materialized views and check the caller's scope. Here they
 * run as the caller (role `authenticated` with the token's claims, as PostgREST runs them), so
 * `supabase.rpc()` and this function obey the same rules.
 */
import { z } from "zod";
import { db, type Sql } from "../_shared/db.ts";
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

/**
 * Calls one analytics RPC as the caller: `private.call_as_user` takes on role `authenticated` and the
 * token's subject, as PostgREST would, in the same statement (one round trip).
 */
async function asCaller(
  caller: Caller,
  rpc: string,
  args: Record<string, unknown>,
  sql: Sql,
): Promise<unknown> {
  try {
    const json = JSON.stringify(args);
    const [row] = await sql<{ result: unknown }[]>`
      select private.call_as_user(${caller.sub}::uuid, ${rpc}, ${json}::text::jsonb) as result`;
    return row.result;
  } catch (error) {
    throw fromRpcError(error);
  }
}

export function getLeaderboard(
  caller: Caller,
  query: z.output<typeof LeaderboardQuery>,
  sql: Sql = db(),
): Promise<unknown> {
  return asCaller(caller, "get_sales_leaderboard", { period: query.period, limit: query.limit }, sql);
}

export function getChart(
  caller: Caller,
  query: z.output<typeof ChartQuery>,
  sql: Sql = db(),
): Promise<unknown> {
  return asCaller(caller, "get_sales_chart_data", query, sql);
}

export function getStats(
  caller: Caller,
  query: z.output<typeof StatsQuery>,
  sql: Sql = db(),
): Promise<unknown> {
  return asCaller(caller, "get_manager_stats", query, sql);
}

interface ActivityEvent {
  id: number;
  created_at: string;
}

/**
 * The feed's page after `before`. The cursor's time reaches SQL as text, never as a JS Date (which
 * keeps milliseconds only): events logged in one transaction share a microsecond time, and the page
 * after one of them would skip its siblings.
 */
export async function getActivity(
  caller: Caller,
  query: z.output<typeof ActivityQuery>,
  sql: Sql = db(),
): Promise<Record<string, unknown>> {
  const result = await asCaller(caller, "get_manager_activity", {
    manager_id: query.manager_id,
    before_created_at: query.before?.createdAt,
    before_id: query.before?.id,
    limit: query.limit,
  }, sql) as { events: ActivityEvent[] };
  const last = result.events.at(-1);
  return {
    ...result,
    next_cursor: last && result.events.length === query.limit
      ? encodeCursor({ createdAt: last.created_at, id: last.id })
      : null,
  };
}

export const RefreshQuery = z.strictObject({
  // Recompute the closed days from the base rows too (after corrections to past data).
  rebuild: z.enum(["true", "false"]).optional().transform((value) => value === "true"),
});

/** Refreshes the views now (the scheduler's job; a no-op report while another refresh runs). */
export async function refreshSalesStats(rebuild = false, sql: Sql = db()): Promise<unknown> {
  const [row] = await sql`select analytics.refresh_sales_stats(${rebuild}) as report`;
  return row.report;
}
