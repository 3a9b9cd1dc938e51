/**
 * `npm run bench -- instances`: heartbeats as deployed. Supabase runs each function in many isolates with a
 * small pool each, behind Supavisor in transaction mode, so the batching one busy process does (concurrent
 * heartbeats sharing a statement) is rarer. Here the video-tracking bundle (as `supabase functions deploy`
 * builds it) runs as 1, 2 and 4 processes with a pool of 3 each, behind PgBouncer in transaction mode, under
 * the same load as one process with a pool of 10 through the same pooler (the baseline): 100 students
 * heartbeating at concurrency 32, each request sent straight to the next instance in turn (a load balancer's
 * view; the load driver is this process, the servers are others). Rounds are interleaved across the shapes and
 * each row's p99 is taken over all its rounds' requests pooled.
 */
import postgres from "postgres";
import { prepareDatabase } from "../lib/database.ts";
import { startDeployedStack } from "../lib/deployed.ts";
import { localJwtSecret, localSecretKey } from "../lib/local_stack.ts";
import { findPgBouncer, startPgBouncer } from "../lib/pgbouncer.ts";
import { scratchDatabase } from "../lib/processes.ts";
import { createStudents } from "./learning.ts";
import {
  type BenchOptions,
  drive,
  type Figures,
  figures,
  machine,
  roundsOf,
  type RunResult,
  type ScenarioReport,
  table,
} from "./lib.ts";

const shapes = [
  { name: "1 process, pool 10, through PgBouncer", instances: 1, pool: 10 },
  { name: "1 process × pool 3, through PgBouncer", instances: 1, pool: 3 },
  { name: "2 processes × pool 3, through PgBouncer", instances: 2, pool: 3 },
  { name: "4 processes × pool 3, through PgBouncer", instances: 4, pool: 3 },
] as const;
const baselineName = shapes[0].name;

/** One row's figures over all its rounds' requests, pooled (p99 of every request, not a median of p99s). */
function pooled(results: RunResult[]): Figures {
  return figures({
    requests: results.reduce((sum, result) => sum + result.requests, 0),
    concurrency: results[0].concurrency,
    errors: results.reduce((sum, result) => sum + result.errors, 0),
    errorSamples: results.flatMap((result) => result.errorSamples),
    seconds: results.reduce((sum, result) => sum + result.seconds, 0),
    latenciesMs: results.flatMap((result) => result.latenciesMs),
  });
}

export async function run(options: BenchOptions): Promise<ScenarioReport> {
  const pgbouncer = findPgBouncer();
  if ("missing" in pgbouncer) {
    return { markdown: `### instances — skipped: ${pgbouncer.missing}`, machine: "", rows: [] };
  }
  const requests = options.requests ?? (options.quick ? 400 : 6_000);
  const concurrency = options.concurrency ?? 32;
  const rounds = roundsOf(options);
  const database = await scratchDatabase("tripwire_bench_instances_");
  await prepareDatabase(database.url);
  const admin = postgres(database.url, { max: 1, onnotice: () => {} });
  await admin`update analytics.settings set student_creations_per_minute = 1000000`;
  const pooler = await startPgBouncer(pgbouncer.bin, database.url, 40);
  const env = (pool: number) => ({
    SUPABASE_DB_URL: pooler.url,
    SUPABASE_ANON_KEY: "sb_publishable_bench",
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: localSecretKey }),
    JWT_SECRET: localJwtSecret,
    AUTH_ADMIN: "local",
    DB_POOL_SIZE: String(pool),
    HEARTBEATS_PER_SECOND: "1000000",
  });
  const stacks = [];
  try {
    for (const shape of shapes) {
      stacks.push(
        await startDeployedStack({
          env: env(shape.pool),
          names: ["video-tracking", "create-tripwire-user"],
          instances: shape.instances,
        }),
      );
    }
    const students = await createStudents(`${stacks[0].url}/functions/v1`, 100, "instances");
    const playheads = students.map(() => ({ position: 0, at: performance.now() }));
    const segmentFor = (index: number): [number, number][] => {
      const playhead = playheads[index % students.length];
      const now = performance.now();
      const played = Math.max(0.01, Math.round(now - playhead.at) / 1000);
      playhead.at = now;
      if (playhead.position + played > 600) playhead.position = 0;
      const segment: [number, number] = [
        playhead.position,
        Math.round((playhead.position + played) * 1000) / 1000,
      ];
      playhead.position = segment[1];
      return [segment];
    };
    const heartbeatsTo = (urls: string[]) => async (index: number) => {
      const student = students[index % students.length];
      const response = await fetch(urls[index % urls.length], {
        method: "POST",
        headers: { authorization: `Bearer ${student.token}`, "content-type": "application/json" },
        body: JSON.stringify({ lesson_id: 67, segments: segmentFor(index), position: 0 }),
      });
      const text = await response.text();
      if (response.status !== 200) throw new Error(`${response.status} ${text.slice(0, 200)}`);
    };
    const tasks = stacks.map((stack) => heartbeatsTo(stack.instanceUrls("video-tracking")));
    for (const task of tasks) await drive(Math.min(1_000, requests), concurrency, task); // warm-up
    const results: RunResult[][] = shapes.map(() => []);
    for (let round = 0; round < rounds; round++) {
      for (const [index, task] of tasks.entries()) {
        console.log(`round ${round + 1}: ${shapes[index].name}`);
        results[index].push(await drive(requests, concurrency, task));
      }
    }
    const rows = shapes.map((shape, index) => ({
      name: `POST video-tracking, ${shape.name}, concurrency ${concurrency}`,
      figures: pooled(results[index]),
      rounds: results[index].map(figures),
      baseline: index === 0 ? undefined : `POST video-tracking, ${baselineName}, concurrency ${concurrency}`,
    }));
    return {
      markdown:
        `### instances — heartbeats from 100 students at concurrency ${concurrency}, the deploy bundle ` +
        `as 1, 2 and 4 processes behind PgBouncer\n\n${
          table(rows)
        }\n\nEach function process is the deploy bundle (the functions' import map, no ` +
        `node_modules) with only Supabase's environment; the load driver sends each request straight to the ` +
        `next instance. ${rounds} interleaved round(s) of ${requests} heartbeats per shape; p50/p95/p99 over ` +
        `every request of a row's rounds. Target: the deployed shape keeps ≥ 0.8× the baseline's throughput, ` +
        `p99 ≤ 50 ms.`,
      machine: await machine(database.url),
      rows,
    };
  } finally {
    for (const stack of stacks) await stack.stop();
    await admin.end();
    await pooler.stop();
    await database.stop();
  }
}
