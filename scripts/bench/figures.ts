/**
 * `npm run bench -- figures`: what the Status screen's request figures cost. Two function servers over one
 * database, the same code, one counting every request (REQUEST_FIGURES=on, the default) and one not (off);
 * 100 students post heartbeats at concurrency 32 to each in interleaved rounds, and each server's CPU per
 * heartbeat is counted. The counting is in memory; the write, once a minute per process, is timed on its own
 * with a realistic minute (every route of every function).
 */
import postgres from "postgres";
import { freePort, startStackProcess } from "../lib/processes.ts";
import { functions } from "../lib/functions.ts";
import { createStudents, playheads, postHeartbeat } from "./learning.ts";
import {
  type BenchOptions,
  cpuTally,
  drive,
  interleaved,
  machine,
  roundsOf,
  row,
  type ScenarioReport,
  startBenchStack,
  table,
} from "./lib.ts";

export async function run(options: BenchOptions): Promise<ScenarioReport> {
  const requests = options.requests ?? (options.quick ? 500 : 10_000);
  const concurrency = options.concurrency ?? 32;
  const rounds = roundsOf(options);
  const counting = await startBenchStack({ REQUEST_FIGURES: "on" });
  const port = freePort();
  const silent = await startStackProcess({
    DATABASE_URL: counting.databaseUrl,
    FUNCTIONS_PORT: String(port),
    DB_POOL_SIZE: String(counting.poolSize),
    SCHEDULER_INTERVAL_MS: "0",
    HEARTBEATS_PER_SECOND: "1000000",
    REQUEST_FIGURES: "off",
  });
  const sql = postgres(counting.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const students = await createStudents(counting.databaseUrl, counting.functionsUrl, 100, "figures");
    const segmentFor = playheads(students.length);
    const at = (url: string) => (index: number) =>
      postHeartbeat(`${url}/video-tracking`, students[index % students.length], segmentFor(index));
    const offName = `POST /video-tracking, figures off, concurrency ${concurrency}`;
    const onName = `POST /video-tracking, figures counted, concurrency ${concurrency}`;
    const viaSilent = at(`http://127.0.0.1:${port}/functions/v1`);
    const viaCounting = at(counting.functionsUrl);
    const warmUp = Math.min(2_000, requests);
    console.log(`warm-up: ${warmUp} heartbeats each`);
    for (const task of [viaSilent, viaCounting]) await drive(warmUp, concurrency, task);
    const cpu = cpuTally();
    const measured = await interleaved(rounds, {
      [offName]: () => drive(requests, concurrency, viaSilent),
      [onName]: () => drive(requests, concurrency, viaCounting),
    }, {
      before(name) {
        cpu.start(name, {
          "function server": [name === offName ? silent.child.pid : counting.serverPid],
          postgres: "postgres",
        });
      },
      after: () => cpu.stop(),
    });
    const perHeartbeat = (name: string, group: string) =>
      (cpu.totals[name]?.[group] ?? 0) * 1000 / (requests * rounds);

    // The write a process makes once a minute: every route of every function, each with a full histogram.
    const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 120_000).toISOString();
    const tallies = Object.entries(functions).flatMap(([name, app]) =>
      app.routes.filter((route) => route.method !== "ALL").map((route) => ({
        minute,
        function: name,
        route: `${route.method} ${route.path}`,
        requests: 100,
        client_errors: 2,
        server_errors: 1,
        buckets: [10, 20, 30, 20, 10, 5, 2, 1, 1, 1, 0, 0],
      }))
    );
    const writes: number[] = [];
    for (let index = 0; index < 20; index++) {
      const started = performance.now();
      await sql`select private.record_request_minutes(${sql.json(tallies)})`;
      writes.push(performance.now() - started);
    }
    writes.sort((a, b) => a - b);
    const writeMs = writes[Math.floor(writes.length / 2)];

    const rows = [row(offName, measured[offName]), row(onName, measured[onName], offName)];
    const ratio = measured[onName].figures.perSecond / measured[offName].figures.perSecond;
    const machineLabel = await machine(counting.databaseUrl);
    const markdown = [
      `### figures — what counting requests for the Status screen costs the heartbeat`,
      "",
      `Machine: ${machineLabel}. Two function servers (one Deno process each, pool ${counting.poolSize}) over ` +
      `one database; ${requests} heartbeats from 100 students a round, ${rounds} round(s), interleaved.`,
      "",
      table(rows),
      "",
      `- Throughput with the figures counted: ${(ratio * 100).toFixed(1)} % of without (target ≥ 98 %).`,
      `- Function server CPU per heartbeat: ${perHeartbeat(offName, "function server").toFixed(3)} ms off, ` +
      `${perHeartbeat(onName, "function server").toFixed(3)} ms counted; Postgres ` +
      `${perHeartbeat(offName, "postgres").toFixed(3)} ms and ${
        perHeartbeat(onName, "postgres").toFixed(3)
      } ms.`,
      `- The once-a-minute write of ${tallies.length} routes (every route of every function): median ` +
      `${writeMs.toFixed(1)} ms of 20, i.e. at most that much a minute per function process.`,
    ].join("\n");
    return {
      markdown,
      rows,
      machine: machineLabel,
      extra: { throughput_ratio: ratio, minute_write_ms: writeMs, routes_written: tallies.length },
    };
  } finally {
    await sql.end();
    await silent.stop();
    await counting.stop();
  }
}
