// The sales leaderboard and a manager's analytics, served from the tables the minute refresh maintains; the
// scheduler's refresh. The role checks are the RPCs' own (from public.users), as under supabase.rpc().
import { createApp, jsonWithEtag, requireServiceRole, requireToken, zQuery } from "../_shared/app.ts";
import { describe } from "../_shared/openapi.ts";
import { negotiateLanguage } from "../_shared/language.ts";
import {
  ActivityFeed,
  ActivityQuery,
  ChartQuery,
  getActivity,
  getChart,
  getLeaderboard,
  getStats,
  Leaderboard,
  LeaderboardQuery,
  ManagerStats,
  RefreshQuery,
  RefreshReport,
  refreshSalesStats,
  SalesChart,
  StatsQuery,
} from "./leaderboard.ts";

const noSuchManager = { 404: "`not_found`: there is no manager with this id." };
const onlyOwnFigures = { 403: "`forbidden`: not a manager or admin, or another manager's figures." };

export const app = createApp("leaderboard")
  .get(
    "/",
    describe({
      summary: "The sales leaderboard",
      description: "Managers ranked by net revenue, then students created, then certificates.",
      access: "manager",
      ok: { status: 200, schema: Leaderboard, description: "The ranking for the period." },
      etag: true,
    }),
    requireToken(),
    zQuery(LeaderboardQuery),
    async (c) => jsonWithEtag(c, await getLeaderboard(c.get("claims"), c.req.valid("query"))),
  )
  .get(
    "/chart",
    describe({
      summary: "Daily sales for a chart",
      description: "From `from` to `to` (at most 366 days; default: the last 30 days), days without sales " +
        "as zeros. A manager sees their own; an admin everyone's, or one manager's with `manager_id`.",
      access: "manager",
      ok: { status: 200, schema: SalesChart, description: "One entry per day." },
      etag: true,
      errors: { ...onlyOwnFigures, ...noSuchManager },
    }),
    requireToken(),
    zQuery(ChartQuery),
    async (c) => jsonWithEtag(c, await getChart(c.get("claims"), c.req.valid("query"))),
  )
  .get(
    "/stats",
    describe({
      summary: "A manager's own figures and rank",
      description: "For each period. An admin: everyone's totals, or one manager's with `manager_id`.",
      access: "manager",
      ok: { status: 200, schema: ManagerStats, description: "The figures by period." },
      etag: true,
      errors: { ...onlyOwnFigures, ...noSuchManager },
    }),
    requireToken(),
    zQuery(StatsQuery),
    async (c) => jsonWithEtag(c, await getStats(c.get("claims"), c.req.valid("query"))),
  )
  .get(
    "/activity",
    describe({
      summary: "The activity feed",
      description: "Sales and students' progress, newest first, read live; page with `before`.",
      access: "manager",
      ok: { status: 200, schema: ActivityFeed, description: "One page of events." },
      etag: true,
      errors: onlyOwnFigures,
      // Lesson and module titles in the reader's language.
      language: true,
    }),
    requireToken(),
    negotiateLanguage,
    zQuery(ActivityQuery),
    async (c) => {
      const feed = await getActivity(c.get("claims"), c.req.valid("query"), c.get("language"));
      // Read live: the read time changes on every call, the feed does not.
      return jsonWithEtag(c, feed, { ...feed, refreshed_at: undefined });
    },
  )
  // For pg_cron's stand-ins: Supabase Cron's HTTP jobs, external schedulers, `npm start`.
  .post(
    "/refresh",
    describe({
      summary: "Refresh the analytics",
      description: "For the scheduler (every minute, when pg_cron does not). `rebuild=true` recomputes " +
        "the closed days too, after corrections to past data. While another refresh runs: " +
        "`refreshed: false`.",
      access: "service",
      ok: { status: 200, schema: RefreshReport, description: "What was refreshed, and how long it took." },
    }),
    requireServiceRole(),
    zQuery(RefreshQuery),
    async (c) => c.json(await refreshSalesStats(c.req.valid("query").rebuild)),
  );
