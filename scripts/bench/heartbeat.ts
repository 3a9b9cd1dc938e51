/**
 * `npm run bench -- heartbeat`: 100 students posting heartbeats at concurrency 32 through
 * POST /functions/v1/video-tracking (where concurrent heartbeats share a statement), against the heartbeat
 * statement run straight through postgres.js one heartbeat at a time (`recordHeartbeats` of one, without
 * HTTP, the JWT or the coalescing); then the same POST at concurrency 1, 8 and 128; and against what this
 * Postgres can do at all: pgbench's single-row UPDATE at the same concurrency, when pgbench is installed.
 * Also measured under the HTTP load: the function server's peak memory and the connections it holds open.
 */
import postgres from "postgres";
import { recordHeartbeats } from "../../supabase/functions/video-tracking/video_tracking.ts";
import { createScratchDatabase } from "../lib/database.ts";
import { createStudents } from "./learning.ts";
import {
  type BenchOptions,
  drive,
  machine,
  measure,
  peakMemoryMiB,
  roundsOf,
  row,
  sampleConnections,
  type ScenarioReport,
  startBenchStack,
  table,
} from "./lib.ts";

/** Where pgbench is, or undefined: it comes with Debian's postgresql-client, not with npm. */
function findPgbench(): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      Deno.statSync(`${dir}/pgbench`);
      return `${dir}/pgbench`;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * pgbench in its own database on the same server: `pgbench -i -s 10`, then a script of one single-row
 * UPDATE of pgbench_accounts by random key, at `clients` clients for `seconds`. Returns transactions/s.
 */
async function pgbenchSingleRowUpdate(
  pgbench: string,
  databaseUrl: string,
  clients: number,
  seconds: number,
): Promise<number> {
  const database = await createScratchDatabase(databaseUrl, "tripwire_pgbench_");
  const target = new URL(database.url);
  const env = {
    PGHOST: target.hostname,
    PGPORT: target.port || "5432",
    PGUSER: decodeURIComponent(target.username),
    PGPASSWORD: decodeURIComponent(target.password),
    PGDATABASE: database.name,
  };
  const script = await Deno.makeTempFile({ suffix: ".sql" });
  try {
    await Deno.writeTextFile(
      script,
      "\\set aid random(1, 1000000)\nupdate pgbench_accounts set abalance = abalance + 1 where aid = :aid;\n",
    );
    const init = await new Deno.Command(pgbench, { args: ["-i", "-s", "10", "-q"], env, stderr: "piped" })
      .output();
    if (!init.success) throw new Error(new TextDecoder().decode(init.stderr));
    const run = await new Deno.Command(pgbench, {
      args: ["-n", "-M", "prepared", "-c", String(clients), "-j", "2", "-T", String(seconds), "-f", script],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const printed = new TextDecoder().decode(run.stdout);
    const tps = Number(printed.match(/tps = ([\d.]+)/)?.[1]);
    if (!run.success || !Number.isFinite(tps)) {
      throw new Error(printed + new TextDecoder().decode(run.stderr));
    }
    return tps;
  } finally {
    await Deno.remove(script);
    await database.drop();
  }
}

const baselineName = "raw SQL: the heartbeat statement, one heartbeat each, concurrency 32";

export async function run(options: BenchOptions): Promise<ScenarioReport> {
  const requests = options.requests ?? (options.quick ? 500 : 10_000);
  const concurrency = options.concurrency ?? 32;
  const rounds = roundsOf(options);
  const stack = await startBenchStack();
  try {
    const students = await createStudents(stack.functionsUrl, 100, "heartbeat");
    // Each student plays lesson 67 at normal speed and, like the player, posts what it played since its
    // previous heartbeat: one contiguous segment that fits the plausibility bucket, merged into one range.
    // (The first runs sent a fixed 2 s per heartbeat, ten times what the wall clock allowed at this
    // rate, so most of each segment was refused and every row fragmented into hundreds of ranges.)
    const duration = 600;
    const playheads = students.map(() => ({ position: 0, at: performance.now() }));
    const segmentFor = (index: number) => {
      const playhead = playheads[index % students.length];
      const now = performance.now();
      const played = Math.max(0.01, Math.round(now - playhead.at) / 1000);
      playhead.at = now;
      if (playhead.position + played > duration) playhead.position = 0;
      const segment: [number, number] = [
        playhead.position,
        Math.round((playhead.position + played) * 1000) / 1000,
      ];
      playhead.position = segment[1];
      return [segment];
    };
    const viaHttp = async (index: number) => {
      const student = students[index % students.length];
      const response = await fetch(`${stack.functionsUrl}/video-tracking`, {
        method: "POST",
        headers: { authorization: `Bearer ${student.token}`, "content-type": "application/json" },
        body: JSON.stringify({ lesson_id: 67, segments: segmentFor(index), position: 0 }),
      });
      const text = await response.text();
      if (response.status !== 200) throw new Error(`${response.status} ${text.slice(0, 200)}`);
    };
    // About two seconds of load first, so the server's hot code is compiled (V8 tiers up after thousands of
    // calls) before anything is measured; the same for the raw-SQL pool's prepared statement below.
    const warmUp = Math.min(2_000, requests);
    console.log(`warm-up: ${warmUp} heartbeats`);
    await drive(warmUp, concurrency, viaHttp);
    console.log(`HTTP: ${requests} heartbeats at concurrency ${concurrency}, ${rounds} round(s)`);
    const connections = sampleConnections(stack.databaseUrl);
    const http = await measure(rounds, () => drive(requests, concurrency, viaHttp));
    const mostConnections = await connections.stop();
    const peakMiB = peakMemoryMiB(stack.serverPid);

    const sql = postgres(stack.databaseUrl, { max: stack.poolSize, onnotice: () => {} });
    console.log(`raw SQL: ${requests} heartbeat UPDATEs at concurrency ${concurrency}`);
    const viaSql = async (index: number) => {
      const [state] = await recordHeartbeats([{
        userId: students[index % students.length].user.id,
        heartbeat: { lesson_id: 67, segments: segmentFor(index) },
      }], sql);
      if (!state.lesson_id) throw new Error(`refused: ${JSON.stringify(state)}`);
    };
    await drive(warmUp, concurrency, viaSql);
    const raw = await measure(rounds, () => drive(requests, concurrency, viaSql));
    const [shape] = await sql<{ ranges_avg: string; ranges_max: number; rejected: string }[]>`
      select round(avg(n), 1) as ranges_avg, max(n) as ranges_max, sum(rejected_seconds) as rejected
      from public.video_tracking vt, lateral (select count(*)::int as n from unnest(vt.watched_ranges)) c
      where vt.lesson_id = 67 and vt.heartbeat_count > 0`;
    await sql.end();
    const shapeNote =
      `after the load each student's lesson row held ${shape.ranges_avg} watched ranges on average ` +
      `(at most ${shape.ranges_max}); seconds refused as implausible: ${Number(shape.rejected).toFixed(0)}`;

    const pgbench = findPgbench();
    let pgbenchTps: number | undefined;
    let pgbenchNote = "pgbench is not installed (Debian: postgresql-client), so that ratio is not measured";
    if (pgbench) {
      const seconds = options.quick ? 3 : 10;
      console.log(`pgbench: single-row UPDATE, ${concurrency} clients, ${seconds} s`);
      pgbenchTps = await pgbenchSingleRowUpdate(pgbench, stack.databaseUrl, concurrency, seconds);
      pgbenchNote =
        `pgbench single-row UPDATE of pgbench_accounts (scale 10), ${concurrency} clients, same server: ` +
        `${pgbenchTps.toFixed(0)} tps; POST /video-tracking reaches ` +
        `${(http.figures.perSecond / pgbenchTps * 100).toFixed(0)} % of it, the raw heartbeat UPDATE ` +
        `${(raw.figures.perSecond / pgbenchTps * 100).toFixed(0)} %.`;
    }

    // Requests a second against concurrency: the coalescing has company only when requests overlap.
    const sweep = [];
    for (const level of [1, 8, 128]) {
      const count = level === 1 ? Math.min(requests, 1_000) : requests;
      console.log(`HTTP: ${count} heartbeats at concurrency ${level}`);
      sweep.push(
        row(
          `POST /video-tracking, concurrency ${level}`,
          await measure(rounds, () => drive(count, level, viaHttp)),
          baselineName,
        ),
      );
    }
    const rows = [
      row(baselineName, raw),
      row(`POST /video-tracking, concurrency ${concurrency}`, http, baselineName),
      ...sweep,
    ];
    const memoryNote = peakMiB === undefined
      ? "peak memory: not measurable here (no /proc)"
      : `function server peak RSS (VmHWM) after the load: ${peakMiB.toFixed(0)} MiB`;
    const machineLabel = await machine(stack.databaseUrl);
    const markdown = [
      `### heartbeat — ${requests} heartbeats from 100 students at concurrency ${concurrency}`,
      "",
      `Machine: ${machineLabel}. Function server: one Deno process, pool ${stack.poolSize}.`,
      "",
      table(rows),
      "",
      `- ${pgbenchNote}`,
      `- ${shapeNote}.`,
      `- ${memoryNote}.`,
      `- Postgres connections the function server held open under the load: at most ${mostConnections} ` +
      `(pool ${stack.poolSize}).`,
    ].join("\n");
    return {
      markdown,
      rows,
      machine: machineLabel,
      extra: {
        pgbench_single_row_update_tps: pgbenchTps ?? null,
        http_share_of_pgbench: pgbenchTps ? http.figures.perSecond / pgbenchTps : null,
        function_server_peak_rss_mib: peakMiB ?? null,
        connections_open_max: mostConnections,
        pool_size: stack.poolSize,
      },
    };
  } finally {
    await stack.stop();
  }
}
