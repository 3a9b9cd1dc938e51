/**
 * `npm run bench -- leaderboard [--students 100000,1000000]`: on generated data (scripts/lib/scale_data.ts,
 * 1,000 managers), at each size: the analytics refresh, the leaderboard read through
 * GET /functions/v1/leaderboard and through the RPC straight over postgres.js, and, in the same run on
 * the same data, the approach the seeds started with: load every tripwire_users row and aggregate in
 * TypeScript.
 */
import { decodeJwt } from "jose";
import postgres from "postgres";
import {
  academyDay,
  academyMidnight,
  defaultTimeZone,
} from "../../supabase/functions/_domain/academy_day.ts";
import { getLeaderboard } from "../../supabase/functions/leaderboard/leaderboard.ts";
import { seedScale } from "../seed_scale.ts";
import { signLocalToken } from "../lib/local_stack.ts";
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

/**
 * The seeds' leaderboard: every student row into the function, grouped and ranked in TypeScript, for
 * this month in the academy's time zone (what `period=month` answers).
 */
export async function leaderboardInTypeScript(sql: postgres.Sql, limit = 20) {
  const managers = await sql<{ id: string; full_name: string }[]>`
    select id, full_name from public.users where role = 'manager'`;
  const students = await sql<{ granted_by: string; payment_amount: string; created_at: Date }[]>`
    select granted_by, payment_amount, created_at from public.tripwire_users`;
  const monthStart = academyMidnight(defaultTimeZone, `${academyDay(defaultTimeZone).slice(0, 8)}01`);
  const totals = new Map(managers.map((m) => [m.id, { ...m, revenue: 0, students_created: 0 }]));
  for (const student of students) {
    if (student.created_at < monthStart) continue;
    const total = totals.get(student.granted_by) ??
      { id: student.granted_by, full_name: "", revenue: 0, students_created: 0 };
    total.revenue += Number(student.payment_amount);
    total.students_created += 1;
    totals.set(student.granted_by, total);
  }
  return [...totals.values()]
    .sort((a, b) => b.revenue - a.revenue || b.students_created - a.students_created)
    .slice(0, limit);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** One data size's figures, for the JSON file and the scaling chart. */
export interface ScalePoint {
  students: number;
  generated_seconds: number;
  read_p50_ms: number;
  rpc_p50_ms: number;
  typescript_p50_ms: number;
  refresh_ms: number[];
  rebuild_ms: number;
}

export async function run(options: BenchOptions): Promise<ScenarioReport> {
  const sizes = options.students ?? (options.quick ? [10_000] : [10_000, 100_000, 1_000_000]);
  const rounds = roundsOf(options);
  const allRows: Row[] = [];
  const points: ScalePoint[] = [];
  const managers = options.quick ? 100 : 1000;
  const reads = options.requests ?? (options.quick ? 100 : 500);
  const stack = await startBenchStack();
  const sql = postgres(stack.databaseUrl, { max: stack.poolSize, onnotice: () => {} });
  const sections: string[] = [];
  const refreshLines: string[] = [];
  try {
    for (const size of sizes) {
      console.log(`data: ${size.toLocaleString("en")} students of ${managers} managers`);
      const load = await seedScale(stack.databaseUrl, { students: size, managers, seed });
      const [manager] = await sql<{ id: string; email: string }[]>`
        select id, email from public.users where role = 'manager' and email like ${`manager.${seed}.%`} limit 1`;
      const token = await signLocalToken(sql, manager);

      console.log("refresh: a rebuild of the history, then 3 runs as the minute job does them");
      const rebuildStarted = performance.now();
      const [{ report: rebuildReport }] = await sql`select analytics.refresh_sales_stats(true) as report`;
      const rebuildMs = performance.now() - rebuildStarted;
      const refreshMs: number[] = [];
      let views: { view: string; duration_ms: number }[] = [];
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        const [{ report }] = await sql`select analytics.refresh_sales_stats() as report`;
        refreshMs.push(performance.now() - started);
        views = report.views;
      }
      const [{ students }] = await sql<
        { students: number }[]
      >`select count(*)::int as students from public.tripwire_users`;

      console.log(`reads: ${reads} one at a time, HTTP and RPC; the TypeScript aggregation`);
      const viaHttp = () => async () => {
        const response = await fetch(`${stack.functionsUrl}/leaderboard?period=month&limit=20`, {
          headers: { authorization: `Bearer ${token}` },
        });
        const body = await response.text();
        if (response.status !== 200) throw new Error(`${response.status} ${body.slice(0, 200)}`);
      };
      await drive(50, 1, viaHttp());
      const http = await measure(rounds, () => drive(reads, 1, viaHttp()));
      const httpConcurrent = await measure(rounds, () => drive(reads * 4, 16, viaHttp()));
      // The token's claims: the RPC checks its session is still open, as for any caller.
      const caller = decodeJwt(token) as { sub: string; session_id: string };
      const rpc = await measure(rounds, () =>
        drive(reads, 1, async () => {
          await getLeaderboard(caller, { period: "month", limit: 20 }, sql);
        }));
      // The TypeScript aggregation is slow at size: its runs are its rounds' samples.
      const jsRuns = size >= 1_000_000 ? 3 : 5;
      const js = await measure(1, () =>
        drive(jsRuns, 1, async () => {
          await leaderboardInTypeScript(sql);
        }));
      const label = `${students.toLocaleString("en")} students`;
      const typescriptRow = `TypeScript aggregation of every row, ${label}`;
      const rows: Row[] = [
        row(typescriptRow, js),
        row(`GET /leaderboard, ${label}`, http, typescriptRow),
        row(`… at concurrency 16, ${label}`, httpConcurrent, typescriptRow),
        row(`get_sales_leaderboard() over postgres.js, ${label}`, rpc, typescriptRow),
      ];
      allRows.push(...rows);
      points.push({
        students,
        generated_seconds: load.seconds,
        read_p50_ms: http.figures.p50,
        rpc_p50_ms: rpc.figures.p50,
        typescript_p50_ms: js.figures.p50,
        refresh_ms: refreshMs,
        rebuild_ms: rebuildMs,
      });
      sections.push(
        table(rows),
        "",
        `${label}: the TypeScript aggregation's p50 ÷ GET /leaderboard's p50 = ` +
          `${(js.figures.p50 / http.figures.p50).toFixed(0)}×.`,
      );
      const perView = (list: { view: string; duration_ms: number }[]) =>
        list.map((v) => `${v.view} ${Math.round(v.duration_ms)}`).join(", ");
      refreshLines.push(
        `| ${label} | ${load.seconds.toFixed(0)} s | ${median(refreshMs).toFixed(0)} ms | ` +
          `${Math.min(...refreshMs).toFixed(0)}–${Math.max(...refreshMs).toFixed(0)} ms | ${
            perView(views)
          } | ` +
          `${rebuildMs.toFixed(0)} ms | ${perView(rebuildReport.views)} |`,
      );
    }
    const machineLabel = await machine(stack.databaseUrl);
    const markdown = [
      `### leaderboard — ${managers} managers, period=month, limit 20, reads one at a time unless stated`,
      "",
      `Machine: ${machineLabel}. Function server: one Deno process, pool ${stack.poolSize}.`,
      "",
      ...sections.flatMap((section) => [section, ""]),
      "Refresh: `analytics.refresh_sales_stats()` as the minute job runs it (3 runs: the open days recounted,",
      "the standings rewritten; `npm run bench -- analytics` measures a day closing) and with `rebuild` as the",
      "nightly job runs it (everything recomputed from the base rows):",
      "",
      "| data | generated in | refresh median | range | per step, ms (last run) | rebuild | per step, ms |",
      "|---|---:|---:|---:|---|---:|---|",
      ...refreshLines,
    ].join("\n");
    return { markdown, rows: allRows, machine: machineLabel, extra: { managers, scale: points } };
  } finally {
    await sql.end();
    await stack.stop();
  }
}
