/**
 * `npm run bench -- analytics [--students 1000000] [--years 1,2,3]`: what the analytics cost as history
 * grows. For each span of history, a fresh stack with the same students (scripts/lib/scale_data.ts, 1,000
 * managers) sold over that many years, then: the minute refresh as the job runs it, the refresh that closes
 * a day (the state just before the last closed day closed is put back, then refreshed), the nightly rebuild,
 * the reads (leaderboard, chart, stats: one at a time, over HTTP and straight to the RPC), and, in the same
 * run on the same data, the work the minute refresh did before the totals were maintained: regrouping the
 * whole history.
 */
import { decodeJwt } from "jose";
import postgres from "postgres";
import { seedScale } from "../seed_scale.ts";
import { signLocalToken } from "../lib/local_stack.ts";
import { playheads, postHeartbeat, watchingStudents } from "./learning.ts";
import { getChart, getLeaderboard, getStats } from "../../supabase/functions/leaderboard/leaderboard.ts";
import {
  type BenchOptions,
  drive,
  measure,
  roundsOf,
  type Row,
  row,
  type ScenarioReport,
  startBenchStack,
  table,
} from "./lib.ts";
import { machine } from "./host.ts";

const seed = 1;

/** One span of history's figures, for the JSON file and the chart. */
export interface HistoryPoint {
  years: number;
  students: number;
  history_rows: number;
  refresh_ms: number[];
  /** The same refresh while heartbeats run, and how many a second ran (runs since 2026-12-07). */
  refresh_under_load_ms?: number[];
  heartbeats_per_second?: number;
  closing_day_ms: number[];
  rebuild_ms: number;
  regroup_ms: number[];
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

/**
 * Puts back the analytics as they stood just before the last closed day closed: its history rows gone,
 * its figures taken out of the period totals, the history closed through the day before.
 */
async function reopenLastClosedDay(sql: postgres.Sql) {
  await sql.begin(async (tx) => {
    await tx`
      update analytics.manager_period_totals t
      set students_created = t.students_created - h.students_created, revenue = t.revenue - h.revenue,
          refunds = t.refunds - h.refunds, lessons_completed = t.lessons_completed - h.lessons_completed,
          certificates_issued = t.certificates_issued - h.certificates_issued,
          students_started = t.students_started - h.students_started
      from analytics.manager_daily_history h, academy.settings s
      where h.manager_id = t.manager_id and h.day = s.history_closed_through
        and (t.starts_on is null or h.day >= t.starts_on)`;
    await tx`
      update analytics.manager_period_totals
      set closed_through = (select history_closed_through - 1 from academy.settings)`;
    await tx`
      delete from analytics.manager_daily_history
      where day = (select history_closed_through from academy.settings)`;
    await tx`update academy.settings set history_closed_through = history_closed_through - 1`;
  });
}

export async function run(options: BenchOptions): Promise<ScenarioReport> {
  const students = options.students?.[0] ?? (options.quick ? 10_000 : 1_000_000);
  const spans = options.years ?? (options.quick ? [1, 3] : [1, 2, 3]);
  const managers = options.quick ? 100 : 1000;
  const rounds = roundsOf(options);
  const requests = options.requests ?? (options.quick ? 100 : 300);
  const points: HistoryPoint[] = [];
  const rows: Row[] = [];
  let machineLabel = "";
  for (const years of spans) {
    console.log(
      `data: ${students.toLocaleString("en")} students of ${managers} managers over ${years} years`,
    );
    const stack = await startBenchStack();
    const sql = postgres(stack.databaseUrl, { max: 2, onnotice: () => {} });
    try {
      await seedScale(stack.databaseUrl, { students, managers, seed, years });
      machineLabel = await machine(stack.databaseUrl);
      const refresh = (rebuild = false) => sql`select analytics.refresh_sales_stats(${rebuild}) as report`;

      console.log("the nightly rebuild, the minute refresh (5 runs), closing a day (3 runs)");
      const rebuildMs = await timed(() => refresh(true));
      await refresh();
      const refreshMs: number[] = [];
      for (let i = 0; i < 5; i++) refreshMs.push(await timed(() => refresh()));
      // The same refresh while students watch: heartbeats at concurrency 16 through the function server.
      console.log("the minute refresh (5 runs) while heartbeats run");
      const watchers = await watchingStudents(stack.databaseUrl, options.quick ? 200 : 1_000);
      const segmentFor = playheads(watchers.length);
      let watching = true;
      let heartbeats = 0;
      // Sixteen players posting until the refreshes are done; a refused heartbeat fails the bench.
      const load = Promise.all(Array.from({ length: 16 }, async (_, player) => {
        for (let index = player; watching; index += 16) {
          await postHeartbeat(
            `${stack.functionsUrl}/video-tracking`,
            watchers[index % watchers.length],
            segmentFor(index),
          );
          heartbeats++;
        }
      }));
      const loadStarted = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const refreshUnderLoadMs: number[] = [];
      for (let i = 0; i < 5; i++) refreshUnderLoadMs.push(await timed(() => refresh()));
      const heartbeatsPerSecond = heartbeats / ((performance.now() - loadStarted) / 1000);
      watching = false;
      await load;
      const closingDayMs: number[] = [];
      for (let i = 0; i < 3; i++) {
        await reopenLastClosedDay(sql);
        closingDayMs.push(await timed(() => refresh()));
      }
      // What the two materialized views recomputed every minute before: the whole history regrouped.
      const regroupMs: number[] = [];
      for (let i = 0; i < 3; i++) {
        regroupMs.push(
          await timed(() =>
            sql.begin(async (tx) => {
              await tx`
                select day, sum(students_created), sum(revenue), sum(refunds), sum(lessons_completed),
                       sum(certificates_issued)
                from analytics.manager_daily_history group by day`;
              await tx`
                select manager_id, sum(students_created), sum(revenue), sum(refunds), sum(lessons_completed),
                       sum(certificates_issued), sum(students_started)
                from analytics.manager_daily_history group by manager_id`;
            })
          ),
        );
      }
      const [{ history }] = await sql<{ history: number }[]>`
        select count(*)::int as history from analytics.manager_daily_history`;
      points.push({
        years,
        students,
        history_rows: history,
        refresh_ms: refreshMs,
        refresh_under_load_ms: refreshUnderLoadMs,
        heartbeats_per_second: heartbeatsPerSecond,
        closing_day_ms: closingDayMs,
        rebuild_ms: rebuildMs,
        regroup_ms: regroupMs,
      });

      console.log(`reads: ${requests} of each, one at a time, over HTTP and straight to the RPC`);
      const [manager] = await sql<{ id: string; email: string }[]>`
        select id, email from public.users where role = 'manager' and email like ${`manager.${seed}.%`} limit 1`;
      const token = await signLocalToken(sql, manager);
      const read = (path: string) => async () => {
        const response = await fetch(`${stack.functionsUrl}/${path}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        const body = await response.text();
        if (response.status !== 200) throw new Error(`${response.status} ${body.slice(0, 200)}`);
      };
      // The token's claims: the RPCs check its session is still open, as for any caller.
      const caller = decodeJwt(token) as { sub: string; session_id: string };
      const reads: [string, string, () => Promise<unknown>][] = [
        [
          "the leaderboard, all time",
          "leaderboard?period=all&limit=20",
          () => getLeaderboard(caller, { period: "all", limit: 20 }, sql),
        ],
        ["a manager's chart, 30 days", "leaderboard/chart", () => getChart(caller, {}, sql)],
        ["a manager's stats", "leaderboard/stats", () => getStats(caller, {}, sql)],
      ];
      for (const [name, path, rpc] of reads) {
        await drive(30, 1, read(path));
        const http = await measure(rounds, () => drive(requests, 1, read(path)));
        const direct = await measure(rounds, () => drive(requests, 1, async () => void await rpc()));
        rows.push(row(`GET /${path.split("?")[0]} (${name}), ${years} years`, http));
        rows.push(row(`… its RPC over postgres.js, ${years} years`, direct));
      }
    } finally {
      await sql.end();
      await stack.stop();
    }
  }
  const first = points[0];
  const lines = points.map((p) =>
    `| ${p.years} | ${p.history_rows.toLocaleString("en")} | ${median(p.refresh_ms).toFixed(0)} ms ` +
    `(${Math.min(...p.refresh_ms).toFixed(0)}–${Math.max(...p.refresh_ms).toFixed(0)}) | ` +
    `${(median(p.refresh_ms) / median(first.refresh_ms)).toFixed(2)}× | ` +
    `${median(p.closing_day_ms).toFixed(0)} ms | ${(p.rebuild_ms / 1000).toFixed(1)} s | ` +
    `${median(p.regroup_ms).toFixed(0)} ms |`
  );
  const markdown = [
    `### analytics — ${students.toLocaleString("en")} students of ${managers} managers, history of ` +
    `${spans.join(", ")} years`,
    "",
    `Machine: ${machineLabel}. Each span on a fresh stack with the same students, only their dates spread wider.`,
    "",
    `| years | history rows | minute refresh, median (range of 5) | vs ${first.years} year | refresh that closes ` +
    "a day | nightly rebuild | regrouping the whole history (the views' work before) |",
    "|---:|---:|---:|---:|---:|---:|---:|",
    ...lines,
    "",
    ...points.map(({ years, refresh_ms, refresh_under_load_ms: loaded = [], heartbeats_per_second = 0 }) =>
      `- The minute refresh while students watch (${heartbeats_per_second.toFixed(0)} heartbeats/s through ` +
      `the function server at concurrency 16), ${years} years: median ${median(loaded).toFixed(0)} ms ` +
      `(${Math.min(...loaded).toFixed(0)}–${Math.max(...loaded).toFixed(0)}), against ` +
      `${median(refresh_ms).toFixed(0)} ms idle.`
    ),
    "",
    table(rows),
  ].join("\n");
  return { markdown, rows, machine: machineLabel, extra: { managers, history: points } };
}
