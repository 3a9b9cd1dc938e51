/**
 * `npm run bench -- instances`: heartbeats as deployed. Supabase runs each function in many isolates with a
 * small pool each, behind Supavisor in transaction mode, so the batching one busy process does (concurrent
 * heartbeats sharing a statement) is rarer. Here the video-tracking bundle (as `supabase functions deploy`
 * builds it) runs as 1, 2 and 4 processes with a pool of 3 each, behind PgBouncer in transaction mode, under
 * the same load as one process with a pool of 10 through the same pooler (the baseline): 10,000 students (1,000 with --quick)
 * heartbeating at concurrency 32, each request sent straight to the next instance in turn (a load balancer's
 * view; the load driver is this process, the servers are others). Rounds are interleaved across the shapes and
 * each row's p99 is taken over all its rounds' requests pooled.
 */
import postgres from "postgres";
import { prepareDatabase } from "../lib/database.ts";
import { type DeployedStack, startDeployedStack } from "../lib/deployed.ts";
import { findPgBouncer, startPgBouncer } from "../lib/pgbouncer.ts";
import { scratchDatabase } from "../lib/processes.ts";
import { playheads, postHeartbeat, scaleStudents } from "./learning.ts";
import {
  type BenchOptions,
  deployedBenchEnv,
  drive,
  interleaved,
  roundsOf,
  type ScenarioReport,
  table,
} from "./lib.ts";
import { cpuTally, findPgbench, machine, pgbenchTps, postmasterOf } from "./host.ts";
import {
  heartbeatBurst,
  maxIdleSeconds,
  maxPlaybackRate,
  maxStoredRanges,
  toleranceSeconds,
} from "../../supabase/functions/video-tracking/video_tracking.ts";

/**
 * Postgres' own ceiling for heartbeats: pgbench calls the heartbeat statement through the pooler, `batch`
 * students a statement (a random run of the `students`, each with its open session), each having played half a
 * second on from where its watched range ends, as a player does (the script's lookup of that end is counted
 * too). Heartbeats a second = transactions a second × batch.
 */
function heartbeatScript(batch: number, students: number): string {
  return `\\set n random(0, ${students - batch})
select * from private.record_heartbeats((
  select jsonb_agg(jsonb_build_object('i', s.n - :n, 'user_id', s.user_id, 'session_id', s.session_id,
                                      'lesson_id', 67, 'segments', format('{[%s,%s)}', p.at, p.at + 0.5)))
  from bench_students s
  cross join lateral (select coalesce(upper(vt.watched_ranges), 0) as at from public.video_tracking vt
                      where vt.user_id = s.user_id and vt.lesson_id = 67) p
  where s.n between :n and :n + ${batch - 1}),
  1000000, ${heartbeatBurst}, ${maxPlaybackRate}, ${maxIdleSeconds}, ${toleranceSeconds}, ${maxStoredRanges});
`;
}

const shapes = [
  { name: "1 process, pool 10, through PgBouncer", instances: 1, pool: 10 },
  { name: "1 process × pool 3, through PgBouncer", instances: 1, pool: 3 },
  { name: "2 processes × pool 3, through PgBouncer", instances: 2, pool: 3 },
  { name: "4 processes × pool 3, through PgBouncer", instances: 4, pool: 3 },
] as const;
const baselineName = shapes[0].name;

export async function run(options: BenchOptions): Promise<ScenarioReport> {
  const pgbouncer = findPgBouncer();
  if ("missing" in pgbouncer) {
    return { markdown: `### instances — skipped: ${pgbouncer.missing}`, machine: "", rows: [] };
  }
  const requests = options.requests ?? (options.quick ? 400 : 6_000);
  const studentCount = options.quick ? 1_000 : 10_000;
  const concurrency = options.concurrency ?? 32;
  const rounds = roundsOf(options);
  const database = await scratchDatabase("tripwire_bench_instances_");
  await prepareDatabase(database.url);
  const admin = postgres(database.url, { max: 1, onnotice: () => {} });
  await admin`update academy.settings set student_creations_per_minute = 1000000`;
  const pooler = await startPgBouncer(pgbouncer.bin, database.url, 40);
  const env = (pool: number) => ({
    ...deployedBenchEnv(pooler.url, pool),
    ...(Deno.env.get("HEARTBEAT_STATEMENTS")
      ? { HEARTBEAT_STATEMENTS: Deno.env.get("HEARTBEAT_STATEMENTS")! }
      : {}),
  });
  const stacks: DeployedStack[] = [];
  try {
    for (const shape of shapes) {
      stacks.push(
        await startDeployedStack({
          env: env(shape.pool),
          names: ["video-tracking", "create-tripwire-user"],
          authDatabaseUrl: database.url,
          instances: shape.instances,
        }),
      );
    }
    const students = await scaleStudents(database.url, studentCount);
    const postmaster = await postmasterOf(database.url);
    const segmentFor = playheads(students.length);
    const heartbeatsTo = (urls: string[]) => (index: number) =>
      postHeartbeat(urls[index % urls.length], students[index % students.length], segmentFor(index));
    const tasks = stacks.map((stack) => heartbeatsTo(stack.instanceUrls("video-tracking")));
    for (const task of tasks) await drive(Math.min(1_000, requests), concurrency, task); // warm-up
    const costs = shapes.map(() => ({ seconds: 0, statements: 0 }));
    const cpu = cpuTally();
    let servedBefore = 0;
    const byName = Object.fromEntries(shapes.map((shape, index) => [shape.name, index]));
    const measured = await interleaved(
      rounds,
      Object.fromEntries(
        shapes.map((shape, index) => [shape.name, () => drive(requests, concurrency, tasks[index])]),
      ),
      {
        async before(name) {
          servedBefore = (await pooler.served()).transactions;
          cpu.start(name, {
            postgres: { postmaster },
            pgbouncer: "pgbouncer",
            functions: stacks[byName[name]].instancePids("video-tracking"),
            "load driver": [Deno.pid],
          });
        },
        async after(name, result) {
          cpu.stop();
          const cost = costs[byName[name]];
          cost.statements += (await pooler.served()).transactions - servedBefore - 1; // less the SHOW STATS
          cost.seconds += result.seconds;
        },
      },
    );
    const pgbench = findPgbench();
    const ceilings: { batch: number; heartbeatsPerSecond: number }[] = [];
    if (pgbench) {
      await admin`
        create table bench_students as
        select (x.ordinality - 1)::int as n, (x.value ->> 'user_id')::uuid as user_id,
               (x.value ->> 'session_id')::uuid as session_id
        from jsonb_array_elements(${
        JSON.stringify(
          students.map((student) => ({ user_id: student.user.id, session_id: student.sessionId })),
        )
      }::text::jsonb) with ordinality as x`;
      await admin`create unique index on bench_students (n)`;
      for (const batch of [1, 6]) {
        console.log(`pgbench: the heartbeat statement, ${batch} a statement, through PgBouncer`);
        const tps = await pgbenchTps({
          pgbench,
          databaseUrl: pooler.url.split("?")[0],
          script: heartbeatScript(batch, students.length),
          clients: concurrency,
          seconds: options.quick ? 3 : 10,
        });
        ceilings.push({ batch, heartbeatsPerSecond: tps * batch });
      }
    }
    const ceilingNote = pgbench
      ? `Postgres' own ceiling, pgbench calling the heartbeat statement through the same PgBouncer at ${concurrency} ` +
        `clients: ${
          ceilings.map((c) => `${c.heartbeatsPerSecond.toFixed(0)} heartbeats/s at ${c.batch} a statement`)
            .join(", ")
        }.`
      : "pgbench is not installed (Debian: postgresql-client), so Postgres' own ceiling is not measured.";
    const heartbeats = requests * rounds;
    const cores = navigator.hardwareConcurrency;
    const whereCpuWent = shapes.map((shape, index) => {
      const { machine: busy, ...groups } = cpu.totals[shape.name];
      return {
        shape: shape.name,
        heartbeatsPerStatement: heartbeats / costs[index].statements,
        cpuMsPerHeartbeat: Object.fromEntries(
          Object.entries(groups).map(([name, seconds]) => [name, (seconds * 1000) / heartbeats]),
        ),
        machineCpuMsPerHeartbeat: (busy * 1000) / heartbeats,
        machineBusyShare: busy / (costs[index].seconds * cores),
      };
    });
    const groups = Object.keys(whereCpuWent[0].cpuMsPerHeartbeat);
    const cpuTable = [
      `| shape | heartbeats per statement | ${groups.map((name) => `${name} CPU ms`).join(" | ")} | ` +
      `whole machine CPU ms | machine busy |`,
      `|---|---:|${groups.map(() => "---:").join("|")}|---:|---:|`,
      ...whereCpuWent.map((row) =>
        `| ${row.shape} | ${row.heartbeatsPerStatement.toFixed(2)} | ${
          groups.map((name) => row.cpuMsPerHeartbeat[name].toFixed(3)).join(" | ")
        } | ${row.machineCpuMsPerHeartbeat.toFixed(3)} | ${(row.machineBusyShare * 100).toFixed(0)} % |`
      ),
    ].join("\n");
    const rows = shapes.map((shape, index) => ({
      name: `POST video-tracking, ${shape.name}, concurrency ${concurrency}`,
      ...measured[shape.name],
      baseline: index === 0 ? undefined : `POST video-tracking, ${baselineName}, concurrency ${concurrency}`,
    }));
    return {
      markdown:
        `### instances — heartbeats from ${
          studentCount.toLocaleString("en")
        } students at concurrency ${concurrency}, the deploy bundle ` +
        `as 1, 2 and 4 processes behind PgBouncer\n\n${
          table(rows)
        }\n\nEach function process is the deploy bundle (the functions' import map, no ` +
        `node_modules) with only Supabase's environment; the load driver sends each request straight to the ` +
        `next instance. ${rounds} interleaved round(s) of ${requests} heartbeats per shape; p50/p95/p99 over ` +
        `every request of a row's rounds. Target: the deployed shape keeps ≥ 0.8× the baseline's throughput, ` +
        `p99 ≤ 50 ms.\n\nWhere the CPU went, per heartbeat (all rounds; ${cores} cores; \"statements\" are the ` +
        `transactions PgBouncer passed to Postgres):\n\n${cpuTable}\n\n${ceilingNote}`,
      machine: await machine(database.url),
      rows,
      extra: { whereCpuWent, ceilings },
    };
  } finally {
    for (const stack of stacks) await stack.stop();
    await admin.end();
    await pooler.stop();
    await database.stop();
  }
}
