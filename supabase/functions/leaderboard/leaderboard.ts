/**
 * The sales leaderboard and a manager's analytics (docs/architecture.md, Analytics). SQL does all of it:
 * the RPCs read the tables the minute refresh maintains and check the caller's scope. Here they run through
 * `asCaller` (role `authenticated` with the token's claims, as PostgREST runs them), so `supabase.rpc()` and
 * this function obey the same rules.
 */
import { z } from "zod";
import { academyDay } from "../_domain/academy_day.ts";
import { activityDetails, type ActivityType, inReadersLanguage } from "../_domain/activity.ts";
import type { Language } from "../_shared/language.ts";
import { asCaller, db, type Sql, type Transaction } from "../_shared/db.ts";
import { isStorableYear } from "../_shared/input.ts";
import { timestamp } from "../_shared/openapi.ts";
import { cursorParameter, encodeCursor, pageLimit } from "../_shared/paging.ts";

/** The SQL's chart limit (analytics.max_chart_days()); a test holds this to it. */
export const maxChartDays = 366;

const limit = pageLimit;
const day = z.iso.date("a date as YYYY-MM-DD").refine(isStorableYear, "there is no year 0000");
const managerId = z.uuid("a manager's id (uuid)").optional();

export const LeaderboardQuery = z.strictObject({
  period: z.enum(["day", "week", "month", "all"], "day, week, month or all").default("month"),
  limit,
});

/** Days between two YYYY-MM-DD dates, counting both. */
function daysSpanned(from: string, to: string): number {
  return (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000 + 1;
}

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

export const ActivityQuery = z.strictObject({
  manager_id: managerId,
  before: cursorParameter(/^\d{1,18}$/, "not a cursor this feed gave out"),
  limit,
});

const periods = ["day", "week", "month", "all"] as const;
const count = z.number().int().min(0);
const money = z.number().meta({
  description:
    "Net revenue in the academy's currency, 2 decimals: sales on their day minus refunds on theirs.",
});
const isoDay = z.iso.date();
const timeZone = z.string().meta({ description: "The academy's time zone: where its days begin." });
const currency = z.string().meta({ description: "ISO 4217: the academy's currency, of every amount here." });
const today = isoDay.meta({
  description:
    "The academy's day now, in its time zone: what a client names as today (never its own UTC date).",
});
const refreshedAt = timestamp.nullable().meta({
  description: "When the figures were computed; null before the first refresh.",
});

/** A manager's figures for one period. */
const Figures = {
  revenue: money,
  refunds: z.number().min(0).meta({
    description: "Refunds taken in the period (already subtracted from revenue).",
  }),
  students_created: count,
  students_active: count.meta({
    description: "The manager's students whose status is `active` now (access kept, course not finished), " +
      "as the academy counts them: the same in every period.",
  }),
  students_learning: count.meta({
    description:
      "Students who watched (a credited heartbeat) or completed a lesson in the period, whatever " +
      "their status now; for `all`, every student who ever started a lesson.",
  }),
  lessons_completed: count,
  certificates_issued: count,
};

export const Leaderboard = z.object({
  period: z.enum(periods),
  period_start: isoDay.nullable().meta({ description: "The period's first day; null for `all`." }),
  time_zone: timeZone,
  today,
  currency,
  refreshed_at: refreshedAt,
  managers: z.array(z.object({
    rank: z.number().int().min(1),
    manager_id: z.uuid(),
    full_name: z.string(),
    ...Figures,
  })),
}).meta({ id: "Leaderboard" });
export type Leaderboard = z.output<typeof Leaderboard>;

export const SalesChart = z.object({
  from: isoDay,
  to: isoDay,
  manager_id: z.uuid().nullable().meta({ description: "null: every manager's sales (admin)." }),
  time_zone: timeZone,
  today,
  currency,
  refreshed_at: refreshedAt,
  days: z.array(z.object({
    day: isoDay,
    revenue: money,
    refunds: z.number().min(0),
    students_created: count,
    lessons_completed: count,
    certificates_issued: count,
  })).meta({ description: "One entry per day from `from` to `to`, zeros where nothing happened." }),
}).meta({ id: "SalesChart" });
export type SalesChart = z.output<typeof SalesChart>;

export const ManagerStats = z.object({
  manager_id: z.uuid().nullable(),
  full_name: z.string().nullable(),
  time_zone: timeZone,
  today,
  currency,
  refreshed_at: refreshedAt,
  periods: z.partialRecord(
    z.enum(periods),
    z.object({
      period_start: isoDay.nullable(),
      rank: z.number().int().min(1).nullable().meta({
        description: "null when the manager sold nothing in it.",
      }),
      managers_ranked: count,
      ...Figures,
    }),
  ).nullable().meta({ description: "null before the first refresh." }),
}).meta({ id: "ManagerStats" });
export type ManagerStats = z.output<typeof ManagerStats>;

/** One event of the feed, with the details its type carries. */
function feedEvent<Type extends ActivityType>(type: Type) {
  return z.object({
    id: z.number().int(),
    event_type: z.literal(type),
    manager_id: z.uuid(),
    student_id: z.uuid().nullable(),
    details: activityDetails[type],
    created_at: timestamp,
  });
}

export const ActivityFeed = z.object({
  manager_id: z.uuid().nullable(),
  currency: currency.meta({ description: "ISO 4217: the academy's currency, of the amounts in `details`." }),
  refreshed_at: timestamp.meta({ description: "When this page was read (the feed is live)." }),
  events: z.array(z.discriminatedUnion("event_type", [
    feedEvent("user_created"),
    feedEvent("lesson_completed"),
    feedEvent("module_unlocked"),
    feedEvent("certificate_issued"),
    feedEvent("student_refunded"),
    feedEvent("student_suspended"),
    feedEvent("student_reactivated"),
    feedEvent("password_reset"),
  ])),
  next_cursor: z.string().nullable().meta({
    description: "Pass as `before` for the next page; null at the end.",
  }),
}).meta({ id: "ActivityFeed" });
export type ActivityFeed = z.output<typeof ActivityFeed>;

export const RefreshReport = z.union([
  z.object({ refreshed: z.literal(false), reason: z.string() }),
  z.object({
    refreshed: z.literal(true),
    rebuilt: z.boolean(),
    views: z.array(z.object({ view: z.string(), duration_ms: z.number(), rows: count })),
  }),
]).meta({ id: "RefreshReport" });
export type RefreshReport = z.output<typeof RefreshReport>;

/**
 * Who is asking, as the token says (its subject and session); the role, and that the session is still open,
 * are checked by the SQL (`analytics.caller_scope`).
 */
export interface Caller {
  sub: string;
  session_id?: unknown;
}

/**
 * One analytics RPC's answer, called as the caller (the RPCs check the caller's scope themselves), parsed
 * with the schema the OpenAPI document shows: an answer SQL shapes differently fails here, not in a client.
 * An answer that states the academy's time zone gains its today there and its currency.
 */
async function rpcAsCaller<T extends z.ZodType>(
  caller: Caller,
  sql: Sql,
  schema: T,
  call: (tx: Transaction) => Promise<{ result: unknown; currency?: string }[]>,
): Promise<z.output<T>> {
  const [row] = await asCaller(caller, call, sql);
  const result = row.result as Record<string, unknown>;
  const timeZone = result.time_zone;
  return schema.parse({
    ...result,
    ...(typeof timeZone === "string" ? { today: academyDay(timeZone) } : {}),
    ...(row.currency ? { currency: row.currency } : {}),
  });
}

export async function getLeaderboard(
  caller: Caller,
  query: z.output<typeof LeaderboardQuery>,
  sql: Sql = db(),
): Promise<Leaderboard> {
  return await rpcAsCaller(caller, sql, Leaderboard, (tx) =>
    tx`
    select public.get_sales_leaderboard(${query.period}, ${query.limit}) as result,
           analytics.academy_currency() as currency`);
}

export async function getChart(
  caller: Caller,
  query: z.output<typeof ChartQuery>,
  sql: Sql = db(),
): Promise<SalesChart> {
  return await rpcAsCaller(caller, sql, SalesChart, (tx) =>
    tx`
    select public.get_sales_chart_data(${query.from ?? null}::text::date, ${query.to ?? null}::text::date,
                                       ${query.manager_id ?? null}::uuid) as result,
           analytics.academy_currency() as currency`);
}

export async function getStats(
  caller: Caller,
  query: z.output<typeof StatsQuery>,
  sql: Sql = db(),
): Promise<ManagerStats> {
  return await rpcAsCaller(caller, sql, ManagerStats, (tx) =>
    tx`
    select public.get_manager_stats(${query.manager_id ?? null}::uuid) as result,
           analytics.academy_currency() as currency`);
}

/**
 * The feed's page after `before`. The cursor's time reaches SQL as text (`::text::timestamptz`), never
 * as a JS Date: a parameter typed timestamptz is serialized by postgres.js through Date, which keeps
 * milliseconds only, and events logged in one transaction share a microsecond time, so the page after
 * one of them would skip its siblings (tests/leaderboard_test.ts pages across such a pair).
 */
export async function getActivity(
  caller: Caller,
  query: z.output<typeof ActivityQuery>,
  language: Language | null = null,
  sql: Sql = db(),
): Promise<ActivityFeed> {
  const beforeTime = query.before?.createdAt ?? null;
  const beforeId = query.before?.id ?? null;
  const result = await rpcAsCaller(caller, sql, ActivityFeed.omit({ next_cursor: true }), (tx) =>
    tx`
    select public.get_manager_activity(${query.manager_id ?? null}::uuid, ${beforeTime}::text::timestamptz,
                                       ${beforeId}::bigint, ${query.limit}) as result,
           analytics.academy_currency() as currency`);
  const last = result.events.at(-1);
  return {
    ...result,
    events: await inReadersLanguage(result.events, language, sql),
    next_cursor: last && result.events.length === query.limit
      ? encodeCursor({ createdAt: last.created_at, id: String(last.id) })
      : null,
  };
}

export const RefreshQuery = z.strictObject({
  // Recompute the closed days from the base rows too (after corrections to past data).
  rebuild: z.enum(["true", "false"]).optional().transform((value) => value === "true"),
});

/** Refreshes the views now (the scheduler's job; a no-op report while another refresh runs). */
export async function refreshSalesStats(rebuild = false, sql: Sql = db()): Promise<RefreshReport> {
  return await sql.begin(async (tx) => {
    // A refresh at scale, and a rebuild more so, may outlast the statement timeout meant for requests.
    await tx`set local statement_timeout = '10min'`;
    const [row] = await tx<{ report: unknown }[]>`select analytics.refresh_sales_stats(${rebuild}) as report`;
    return RefreshReport.parse(row.report);
  });
}
