// The sales leaderboard and a manager's analytics, served from materialized views; the scheduler's
// refresh. The role checks are the RPCs' own (from public.users), as under supabase.rpc().
import { createApp, jsonWithEtag, requireServiceRole, requireToken, zQuery } from "../_shared/app.ts";
import {
  ActivityQuery,
  ChartQuery,
  getActivity,
  getChart,
  getLeaderboard,
  getStats,
  LeaderboardQuery,
  RefreshQuery,
  refreshSalesStats,
  StatsQuery,
} from "./leaderboard.ts";

export const app = createApp("leaderboard")
  .get(
    "/",
    requireToken(),
    zQuery(LeaderboardQuery),
    async (c) => jsonWithEtag(c, await getLeaderboard(c.get("claims"), c.req.valid("query"))),
  )
  .get(
    "/chart",
    requireToken(),
    zQuery(ChartQuery),
    async (c) => jsonWithEtag(c, await getChart(c.get("claims"), c.req.valid("query"))),
  )
  .get(
    "/stats",
    requireToken(),
    zQuery(StatsQuery),
    async (c) => jsonWithEtag(c, await getStats(c.get("claims"), c.req.valid("query"))),
  )
  .get(
    "/activity",
    requireToken(),
    zQuery(ActivityQuery),
    async (c) => {
      const feed = await getActivity(c.get("claims"), c.req.valid("query"));
      // Read live: the read time changes on every call, the feed does not.
      return jsonWithEtag(c, feed, { ...feed, refreshed_at: undefined });
    },
  )
  // For pg_cron's stand-ins: Supabase Cron's HTTP jobs, external schedulers, `npm start`.
  .post(
    "/refresh",
    requireServiceRole(),
    zQuery(RefreshQuery),
    async (c) => c.json(await refreshSalesStats(c.req.valid("query").rebuild)),
  );

if (import.meta.main) Deno.serve(app.fetch);
