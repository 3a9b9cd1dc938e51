/**
 * `npm run bench -- figures`: what the Status screen's request figures cost the heartbeat. Three function servers
 * over one database, started alike one after the other: two that do not count requests (REQUEST_FIGURES=off;
 * the second is the baseline, the first shows how far apart identical servers can be) and one that counts (on,
 * the default).
 * Each gets its own 100 students posting heartbeats at concurrency 32, in rounds that alternate which side goes
 * first, and each server's CPU per heartbeat is counted. The counting is in memory; the write, once a minute per
 * process, is timed on its own with a realistic minute (every route of every function).
 */
import postgres from "postgres";
import { functions } from "../lib/functions.ts";
import { createStudents, playheads, postHeartbeat } from "./learning.ts";
import {
  type BenchOptions,
  drive,
  interleaved,
  roundsOf,
  row,
  type ScenarioReport,
  startBenchServer,
  startBenchStack,
  table,
} from "./lib.ts";
import { cpuTally, machine, postmasterOf } from "./host.ts";

export async function run(options: BenchOptions): Promise<ScenarioReport> {
  const requests = options.requests ?? (options.quick ? 500 : 10_000);
  const concurrency = options.concurrency ?? 32;
  // An even number of rounds, alternating which side goes first (A B, B A…).
  const rounds = options.quick ? 2 : Math.max(4, roundsOf(options) + (roundsOf(options) % 2));
  // The bench stack makes the database and the students; the three measured servers are started alike and do
  // nothing else, so only the one setting differs between the first and the third (the second is the control).
  const setup = await startBenchStack({ REQUEST_FIGURES: "off" });
  const server = (figures: "on" | "off") => startBenchServer(setup.databaseUrl, { REQUEST_FIGURES: figures });
  const silent = await server("off");
  const control = await server("off");
  const counting = await server("on");
  const sql = postgres(setup.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    // Each side its own 100 students: a lesson row grows with what was watched, and so does a heartbeat's cost.
    const at = async (url: string, label: string) => {
      const students = await createStudents(setup.databaseUrl, setup.functionsUrl, 100, label);
      const segmentFor = playheads(students.length);
      return (index: number) =>
        postHeartbeat(`${url}/video-tracking`, students[index % students.length], segmentFor(index));
    };
    // The first server started ran 2–9 % slower than the next ones whatever its setting (also with all of them
    // off): the baseline is the second, started just before the one that counts.
    const offName = `POST /video-tracking, figures off, the first server started, concurrency ${concurrency}`;
    const controlName = `POST /video-tracking, figures off, concurrency ${concurrency}`;
    const onName = `POST /video-tracking, figures counted, concurrency ${concurrency}`;
    const viaSilent = await at(silent.functionsUrl, "figures-off");
    const viaControl = await at(control.functionsUrl, "figures-control");
    const viaCounting = await at(counting.functionsUrl, "figures-on");
    const postmaster = await postmasterOf(setup.databaseUrl);
    const warmUp = Math.min(2_000, requests);
    console.log(`warm-up: ${warmUp} heartbeats each`);
    for (const task of [viaSilent, viaControl, viaCounting]) await drive(warmUp, concurrency, task);
    const cpu = cpuTally();
    const measured = await interleaved(rounds, {
      [offName]: () => drive(requests, concurrency, viaSilent),
      [controlName]: () => drive(requests, concurrency, viaControl),
      [onName]: () => drive(requests, concurrency, viaCounting),
    }, {
      before(name) {
        cpu.start(name, {
          "function server": [
            name === offName
              ? silent.serverPid
              : name === controlName
              ? control.serverPid
              : counting.serverPid,
          ],
          postgres: { postmaster },
        });
      },
      after: () => cpu.stop(),
      alternate: true,
    });
    const perHeartbeat = (name: string, group: string) =>
      (cpu.totals[name]?.[group] ?? 0) * 1000 / (requests * rounds);

    // The write a process makes once a minute: every route of every function, each with a full histogram.
    const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 120_000).toISOString();
    const routes = new Set(
      Object.entries(functions).flatMap(([name, app]) =>
        app.routes.filter((route) => route.method !== "ALL").map((route) =>
          `${name} ${route.method} ${route.path}`
        )
      ),
    );
    const tallies = [...routes].map((key) => key.split(" ")).map(([name, method, path]) => ({
      minute,
      function: name,
      route: `${method} ${path}`,
      requests: 100,
      client_errors: 2,
      server_errors: 1,
      buckets: [10, 20, 30, 20, 10, 5, 2, 1, 1, 1, 0, 0],
    }));
    const writes: number[] = [];
    for (let index = 0; index < 20; index++) {
      const started = performance.now();
      await sql`select private.record_request_minutes(${sql.json(tallies)})`;
      writes.push(performance.now() - started);
    }
    writes.sort((a, b) => a - b);
    const writeMs = writes[Math.floor(writes.length / 2)];

    const rows = [
      row(controlName, measured[controlName]),
      row(onName, measured[onName], controlName),
      row(offName, measured[offName], controlName),
    ];
    const ratio = measured[onName].figures.perSecond / measured[controlName].figures.perSecond;
    const noise = measured[offName].figures.perSecond / measured[controlName].figures.perSecond;
    const machineLabel = await machine(setup.databaseUrl);
    const markdown = [
      `### figures — what counting requests for the Status screen costs the heartbeat`,
      "",
      `Machine: ${machineLabel}. Three function servers (one Deno process each, pool ${setup.poolSize}) over ` +
      `one database; ${requests} heartbeats from each side's own 100 students a round, ${rounds} rounds, ` +
      "alternating which side goes first.",
      "",
      table(rows),
      "",
      `- Throughput with the figures counted: ${
        (ratio * 100).toFixed(1)
      } % of without (target ≥ 98 %); the ` +
      `same code, off, in the first server started: ${
        (noise * 100).toFixed(1)
      } % (how far apart two servers ` +
      "that differ in nothing but their start can be on this host).",
      `- Function server CPU per heartbeat: ${
        perHeartbeat(controlName, "function server").toFixed(3)
      } ms off, ` +
      `${perHeartbeat(onName, "function server").toFixed(3)} ms counted ` +
      `(${perHeartbeat(offName, "function server").toFixed(3)} ms off in the first server); Postgres ` +
      `${perHeartbeat(controlName, "postgres").toFixed(3)}, ${
        perHeartbeat(onName, "postgres").toFixed(3)
      } and ` +
      `${perHeartbeat(offName, "postgres").toFixed(3)} ms.`,
      `- The once-a-minute write of ${tallies.length} routes (every route of every function): median ` +
      `${writeMs.toFixed(1)} ms of 20, i.e. at most that much a minute per function process.`,
    ].join("\n");
    return {
      markdown,
      rows,
      machine: machineLabel,
      extra: {
        throughput_ratio: ratio,
        noise_ratio: noise,
        minute_write_ms: writeMs,
        routes_written: tallies.length,
      },
    };
  } finally {
    await sql.end();
    await silent.stop();
    await control.stop();
    await counting.stop();
    await setup.stop();
  }
}
