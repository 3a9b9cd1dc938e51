/**
 * `npm run bench -- second-sale [--students 1000000]`: what the second sale's figures cost at scale, beside the
 * leaderboard's in the same run. 1,000,000 scale-seeded students of 1,000 managers (a year of history), a fifth
 * of the graduates buying the main course; then: the conversion rebuild (every student), the minute refresh with
 * nothing new, the minute refresh after 100 new purchases and 100 new sales, the retention job, and the reads
 * (the funnel, the ranking, the cohorts, the call list, a lesson's curve) over HTTP one at a time and sixteen at
 * once, each against the leaderboard's all-time read as the baseline.
 */
import postgres from "postgres";
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

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

export async function run(options: BenchOptions): Promise<ScenarioReport> {
  const students = options.students?.[0] ?? (options.quick ? 10_000 : 1_000_000);
  const managers = options.quick ? 100 : 1000;
  const rounds = roundsOf(options);
  const requests = options.requests ?? (options.quick ? 50 : 200);
  const rows: Row[] = [];
  console.log(`data: ${students.toLocaleString("en")} students of ${managers} managers over 1 year`);
  const stack = await startBenchStack();
  const sql = postgres(stack.databaseUrl, { max: 2, onnotice: () => {} });
  try {
    await seedScale(stack.databaseUrl, { students, managers, seed, years: 1 });
    const machineLabel = await machine(stack.databaseUrl);
    await sql`update academy.settings set main_course_checkout_url = 'https://main.example.kz/checkout'`;
    // A fifth of the graduates bought the main course, 1–60 days after completing.
    await sql`
      insert into private.main_course_purchases
        (purchase_id, student_id, manager_id, matched_by, amount, currency, purchased_at, received_at)
      select 'bench-' || c.user_id, c.user_id, t.granted_by, 'email', 150000, 'KZT',
             c.issued_at + make_interval(days => 1 + abs(hashtext(c.user_id::text)) % 60),
             c.issued_at + make_interval(days => 1 + abs(hashtext(c.user_id::text)) % 60)
      from public.certificates c join public.tripwire_users t on t.user_id = c.user_id
      where abs(hashtext(c.user_id::text)) % 5 = 0`;
    const [{ buyers, graduates }] = await sql<{ buyers: number; graduates: number }[]>`
      select (select count(*)::int from private.main_course_purchases) as buyers,
             (select count(*)::int from public.certificates) as graduates`;
    await sql`analyze`;
    const refresh = (rebuild = false) => sql`select analytics.refresh_conversion(${rebuild}) as report`;

    console.log(
      "the conversion rebuild, the minute refresh idle (5) and after 100 purchases and 100 sales (3)",
    );
    const rebuildMs = await timed(() => refresh(true));
    const idleMs: number[] = [];
    for (let i = 0; i < 5; i++) idleMs.push(await timed(() => refresh()));
    const changedMs: number[] = [];
    for (let i = 0; i < 3; i++) {
      await sql`
        insert into private.main_course_purchases
          (purchase_id, student_id, manager_id, matched_by, amount, currency, purchased_at)
        select 'bench-new-' || ${i} || '-' || c.user_id, c.user_id, t.granted_by, 'email', 150000, 'KZT', now()
        from public.certificates c join public.tripwire_users t on t.user_id = c.user_id
        where not exists (select from private.main_course_purchases p where p.student_id = c.user_id)
        limit 100`;
      // A hundred students who were sold now (their sale's time moved to now: the refresh finds them by it).
      await sql`
        update public.tripwire_users set created_at = now()
        where user_id in (select user_id from public.tripwire_users
                          where created_at < now() - interval '1 day' order by user_id limit 100 offset ${
        i * 100
      })`;
      changedMs.push(await timed(() => refresh()));
    }
    console.log("the retention job (3 runs)");
    const retentionMs: number[] = [];
    for (let i = 0; i < 3; i++) {
      retentionMs.push(await timed(() => sql`select analytics.refresh_retention()`));
    }
    const [{ ranges }] = await sql<{ ranges: number }[]>`
      select count(*)::int as ranges from public.video_tracking where not isempty(watched_ranges)`;

    console.log(`reads: ${requests} of each, one at a time and sixteen at once`);
    const [manager] = await sql<{ id: string; email: string }[]>`
      select id, email from public.users where role = 'manager' and email like ${`manager.${seed}.%`} limit 1`;
    const [admin] = await sql<{ id: string; email: string }[]>`
      select id, email from public.users where role = 'admin' limit 1`;
    const managerToken = await signLocalToken(sql, manager);
    const adminToken = await signLocalToken(sql, admin);
    const read = (token: string, path: string) => async () => {
      const response = await fetch(`${stack.functionsUrl}/${path}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const body = await response.text();
      if (response.status !== 200) throw new Error(`${response.status} ${body.slice(0, 200)}`);
    };
    const [{ month }] = await sql<{ month: string }[]>`
      select ((now() at time zone time_zone)::date - 29)::text as month from academy.settings`;
    const baseline = "GET /leaderboard?period=all (the sales leaderboard), c1";
    const reads: [string, string, string][] = [
      [baseline, adminToken, "leaderboard?period=all&limit=20"],
      ["GET /second-sale/figures (a manager's, 30 days)", managerToken, `second-sale/figures?from=${month}`],
      ["GET /second-sale/figures (a manager's, all time)", managerToken, "second-sale/figures"],
      ["GET /second-sale/figures (the admin's, 30 days)", adminToken, `second-sale/figures?from=${month}`],
      ["GET /second-sale/figures (the admin's, all time)", adminToken, "second-sale/figures"],
      [
        "GET /second-sale/managers (all time, by conversion)",
        adminToken,
        "second-sale/managers?order_by=conversion",
      ],
      ["GET /second-sale/cohorts (the admin's, 12 weeks)", adminToken, "second-sale/cohorts"],
      ["GET /second-sale/call-list (a manager's)", managerToken, "second-sale/call-list"],
      ["GET /second-sale/retention/67 (a lesson's curves)", managerToken, "second-sale/retention/67"],
    ];
    for (const [name, token, path] of reads) {
      await drive(20, 1, read(token, path));
      const one = await measure(rounds, () => drive(requests, 1, read(token, path)));
      rows.push(
        row(name.endsWith(", c1") ? name : `${name}, c1`, one, name === baseline ? undefined : baseline),
      );
      if (name === baseline) continue;
      const many = await measure(rounds, () => drive(requests, 16, read(token, path)));
      rows.push(row(`${name}, c16`, many, baseline));
    }
    const range = (values: number[]) =>
      `${median(values).toFixed(0)} ms (${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)})`;
    const markdown = [
      `### second-sale — ${students.toLocaleString("en")} students of ${managers} managers, ` +
      `${graduates.toLocaleString("en")} graduates, ${buyers.toLocaleString("en")} main-course buyers`,
      "",
      `Machine: ${machineLabel}. One stack; the reads over HTTP through the function server, against the sales ` +
      "leaderboard's all-time read in the same run.",
      "",
      "| the job | time |",
      "|---|---:|",
      `| conversion rebuild (every student) | ${(rebuildMs / 1000).toFixed(1)} s |`,
      `| minute refresh, nothing new (5 runs) | ${range(idleMs)} |`,
      `| minute refresh after 100 purchases and 100 sales (3 runs) | ${range(changedMs)} |`,
      `| retention job, ${ranges.toLocaleString("en")} watched lessons (3 runs) | ${range(retentionMs)} |`,
      "",
      table(rows),
    ].join("\n");
    return {
      markdown,
      rows,
      machine: machineLabel,
      extra: {
        students,
        managers,
        graduates,
        buyers,
        rebuild_ms: rebuildMs,
        refresh_idle_ms: idleMs,
        refresh_changed_ms: changedMs,
        retention_ms: retentionMs,
      },
    };
  } finally {
    await sql.end();
    await stack.stop();
  }
}
