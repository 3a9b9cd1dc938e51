/**
 * `npm run bench -- heartbeat`: 10,000 students (1,000 with --quick) posting heartbeats at concurrency 32 through
 * POST /functions/v1/video-tracking (where concurrent heartbeats share a statement), against the same code and
 * batching without HTTP (`recordHeartbeat` through its coalescer, in the load driver's process), and both
 * against the heartbeat statement run straight through postgres.js one heartbeat at a time
 * (`recordHeartbeats` of one). The three sides' rounds are interleaved, each side's p99 is over all its
 * rounds' requests, and the CPU each process used per heartbeat is counted. Then the same POST at concurrency
 * 1, 8 and 128; and what this Postgres can do at all: pgbench's single-row UPDATE at the same concurrency,
 * when pgbench is installed.
 * Also measured under the HTTP load: the function server's peak memory and the connections it holds open.
 */
import postgres from "postgres";
import { recordHeartbeat, recordHeartbeats } from "../../supabase/functions/video-tracking/video_tracking.ts";
import { createScratchDatabase } from "../lib/database.ts";
import { playheads, postHeartbeat, scaleStudents } from "./learning.ts";
import {
  type BenchOptions,
  drive,
  interleaved,
  measure,
  roundsOf,
  row,
  type ScenarioReport,
  startBenchStack,
  table,
} from "./lib.ts";
import {
  cpuTally,
  findPgbench,
  machine,
  peakMemoryMiB,
  pgbenchTps,
  postmasterOf,
  sampleConnections,
} from "./host.ts";

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
  try {
    return await pgbenchTps({
      pgbench,
      databaseUrl: database.url,
      script:
        "\\set aid random(1, 1000000)\nupdate pgbench_accounts set abalance = abalance + 1 where aid = :aid;\n",
      clients,
      seconds,
      prepared: true,
      initScale: 10,
    });
  } finally {
    await database.drop();
  }
}

/**
 * What the once-a-minute activity write costs: `count` writes to random students of `studentIds`, alternately as
 * `private.spread_watching` writes it now (a HOT update of the narrow `private.student_activity` row) and as it
 * was (an indexed column of `tripwire_users`: a new version of the sale row and an entry in each of its eight
 * indexes; `created_at` moves by a microsecond, which costs what the old `last_activity_at` write did). In a
 * heartbeat the write shares the heartbeat's transaction, so here ten writes share one (the commit is not the
 * write's); a checkpoint is taken and every row written once before counting, so the full-page images a
 * checkpoint brings (once per page per checkpoint, the same for any row on that page) are not counted as the
 * write's either. WAL bytes per write and the slowest transaction of ten.
 */
export async function minuteWriteCost(databaseUrl: string, studentIds: string[], count: number) {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  const sides = {
    now: (tx: postgres.TransactionSql, id: string) =>
      tx`update private.student_activity a set last_activity_at = now()
         from (select x.user_id from private.student_activity x where x.user_id = ${id} for update skip locked) r
         where a.user_id = r.user_id`,
    before: (tx: postgres.TransactionSql, id: string) =>
      tx`update public.tripwire_users set created_at = created_at + interval '1 microsecond' where user_id = ${id}`,
  };
  const totals = { now: { wal: 0, worst: 0 }, before: { wal: 0, worst: 0 } };
  const perTransaction = 10;
  let walLevel = "";
  try {
    [{ wal_level: walLevel }] = await sql<
      { wal_level: string }[]
    >`select current_setting('wal_level') as wal_level`;
    // A checkpoint first, then every row written once: the pages' images are in the WAL before counting, and
    // the next timed checkpoint (checkpoint_timeout, 5 min) is not reached while counting. Without it a checkpoint
    // that the heartbeat load before brought on could fall inside the count and add an image of every page
    // (seen: 327 B a write instead of 220).
    await sql`checkpoint`;
    for (const side of ["now", "before"] as const) {
      for (let index = 0; index < studentIds.length; index += 100) {
        await sql.begin((tx) =>
          Promise.all(studentIds.slice(index, index + 100).map((id) => sides[side](tx, id)))
        );
      }
    }
    for (let round = 0; round < 2; round++) {
      for (const side of ["now", "before"] as const) {
        const [{ lsn: start }] = await sql<
          { lsn: string }[]
        >`select pg_current_wal_insert_lsn()::text as lsn`;
        for (let index = 0; index < count / 2 / perTransaction; index++) {
          const began = performance.now();
          await sql.begin(async (tx) => {
            for (let write = 0; write < perTransaction; write++) {
              await sides[side](tx, studentIds[Math.floor(Math.random() * studentIds.length)]);
            }
          });
          totals[side].worst = Math.max(totals[side].worst, performance.now() - began);
        }
        const [{ bytes }] = await sql<{ bytes: string }[]>`
          select pg_wal_lsn_diff(pg_current_wal_insert_lsn(), ${start}::pg_lsn) as bytes`;
        totals[side].wal += Number(bytes);
      }
    }
  } finally {
    await sql.end();
  }
  return {
    walLevel,
    walBytesNow: totals.now.wal / count,
    walBytesBefore: totals.before.wal / count,
    worstMsNow: totals.now.worst,
    worstMsBefore: totals.before.worst,
  };
}

export async function run(options: BenchOptions): Promise<ScenarioReport> {
  const requests = options.requests ?? (options.quick ? 500 : 10_000);
  const concurrency = options.concurrency ?? 32;
  const baselineName = `raw SQL: the heartbeat statement, one heartbeat each, concurrency ${concurrency}`;
  const batchedName =
    `same code and batching, no HTTP (recordHeartbeat in the load driver), concurrency ${concurrency}`;
  const httpName = `POST /video-tracking, concurrency ${concurrency}`;
  const rounds = roundsOf(options);
  const stack = await startBenchStack();
  try {
    const studentCount = options.quick ? 1_000 : 10_000;
    const students = await scaleStudents(stack.databaseUrl, studentCount);
    const postmaster = await postmasterOf(stack.databaseUrl);
    const segmentFor = playheads(students.length);
    const viaHttp = (index: number) =>
      postHeartbeat(
        `${stack.functionsUrl}/video-tracking`,
        students[index % students.length],
        segmentFor(index),
      );
    // The same code and batching as the function server, without HTTP or the JWT: recordHeartbeat through its
    // coalescer on a pool of the server's size, called in this process. The coalescer reads its settings from
    // the functions' configuration, which needs a database URL; the pool it uses is the one passed. The
    // variables are taken back at the end: later scenarios' stacks inherit this process's environment.
    Deno.env.set("SUPABASE_DB_URL", stack.databaseUrl);
    Deno.env.set("DB_POOL_SIZE", String(stack.poolSize));
    // The local stack's settings (no APP_LOGIN_URL needed), as the function server has them.
    Deno.env.set("LOCAL_STACK", "on");
    const sql = postgres(stack.databaseUrl, { max: stack.poolSize, onnotice: () => {} });
    const viaSql = async (index: number) => {
      const student = students[index % students.length];
      const [state] = await recordHeartbeats([{
        userId: student.user.id,
        sessionId: student.sessionId,
        heartbeat: { lesson_id: 67, segments: segmentFor(index) },
      }], sql);
      if (!state.lesson_id) throw new Error(`refused: ${JSON.stringify(state)}`);
    };
    const viaCoalescer = async (index: number) => {
      const student = students[index % students.length];
      await recordHeartbeat({ sub: student.user.id, session_id: student.sessionId }, {
        lesson_id: 67,
        segments: segmentFor(index),
        position: 0,
      }, sql);
    };
    // About two seconds of load first on each side, so hot code is compiled (V8 tiers up after thousands of
    // calls) and the pools' statements prepared before anything is measured.
    const warmUp = Math.min(2_000, requests);
    console.log(`warm-up: ${warmUp} heartbeats each side`);
    for (const task of [viaHttp, viaCoalescer, viaSql]) await drive(warmUp, concurrency, task);
    const connections = sampleConnections(stack.databaseUrl);
    const sides = {
      [baselineName]: () => drive(requests, concurrency, viaSql),
      [batchedName]: () => drive(requests, concurrency, viaCoalescer),
      [httpName]: () => drive(requests, concurrency, viaHttp),
    };
    const cpu = cpuTally();
    const measured = await interleaved(rounds, sides, {
      before(name) {
        cpu.start(name, {
          "function server": [stack.serverPid],
          postgres: { postmaster },
          "load driver": [Deno.pid],
        });
      },
      after: () => cpu.stop(),
    });
    const mostConnections = await connections.stop();
    const http = measured[httpName];
    const raw = measured[baselineName];
    const peakMiB = peakMemoryMiB(stack.serverPid);
    const cpuNote = Object.entries(cpu.totals).map(([name, groups]) =>
      `${name}: ${
        Object.entries(groups).map(([group, seconds]) =>
          `${group} ${(seconds * 1000 / (requests * rounds)).toFixed(3)} ms`
        ).join(", ")
      }`
    ).join("; ");
    const [shape] = await sql<{ ranges_avg: string; ranges_max: number; rejected: string }[]>`
      select round(avg(n), 1) as ranges_avg, max(n) as ranges_max, sum(rejected_seconds) as rejected
      from public.video_tracking vt, lateral (select count(*)::int as n from unnest(vt.watched_ranges)) c
      where vt.lesson_id = 67 and vt.heartbeat_count > 0`;
    await sql.end();
    const shapeNote =
      `after the load each student's lesson row held ${shape.ranges_avg} watched ranges on average ` +
      `(at most ${shape.ranges_max}); seconds refused as implausible: ${Number(shape.rejected).toFixed(0)}`;

    const pgbench = findPgbench();
    let updateTps: number | undefined;
    let pgbenchNote = "pgbench is not installed (Debian: postgresql-client), so that ratio is not measured";
    if (pgbench) {
      const seconds = options.quick ? 3 : 10;
      console.log(`pgbench: single-row UPDATE, ${concurrency} clients, ${seconds} s`);
      updateTps = await pgbenchSingleRowUpdate(pgbench, stack.databaseUrl, concurrency, seconds);
      pgbenchNote =
        `pgbench single-row UPDATE of pgbench_accounts (scale 10), ${concurrency} clients, same server: ` +
        `${updateTps.toFixed(0)} tps; POST /video-tracking reaches ` +
        `${(http.figures.perSecond / updateTps * 100).toFixed(0)} % of it, the raw heartbeat UPDATE ` +
        `${(raw.figures.perSecond / updateTps * 100).toFixed(0)} %.`;
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
      row(batchedName, measured[batchedName], baselineName),
      row(httpName, http, batchedName),
      ...sweep,
    ];
    const memoryNote = peakMiB === undefined
      ? "peak memory: not measurable here (no /proc)"
      : `function server peak RSS (VmHWM) after the load: ${peakMiB.toFixed(0)} MiB`;
    console.log("the minute write: WAL and the slowest of 4,000");
    const minuteWrite = await minuteWriteCost(
      stack.databaseUrl,
      students.map((student) => student.user.id),
      options.quick ? 1_000 : 4_000,
    );
    const machineLabel = await machine(stack.databaseUrl);
    const markdown = [
      `### heartbeat — ${requests} heartbeats from ${
        studentCount.toLocaleString("en")
      } students at concurrency ${concurrency}`,
      "",
      `Machine: ${machineLabel}. Function server: one Deno process, pool ${stack.poolSize}.`,
      "",
      table(rows),
      "",
      `- ${pgbenchNote}`,
      `- ${shapeNote}.`,
      `- CPU per heartbeat (all rounds; the load driver is this process, the function server another): ` +
      `${cpuNote}.`,
      `- ${memoryNote}.`,
      `- The once-a-minute activity write (wal_level=${minuteWrite.walLevel}, as Supabase runs; ten writes a ` +
      `transaction, pages already imaged since the checkpoint): ` +
      `${minuteWrite.walBytesNow.toFixed(0)} B of WAL each to \`private.student_activity\` (HOT), slowest ` +
      `transaction of ten ${minuteWrite.worstMsNow.toFixed(1)} ms, against ${
        minuteWrite.walBytesBefore.toFixed(0)
      } B and ` +
      `${
        minuteWrite.worstMsBefore.toFixed(1)
      } ms for the same write to an indexed column of \`tripwire_users\` ` +
      `(as \`last_activity_at\` was), in the same run.`,
      `- Postgres connections the function server held open under the load: at most ${mostConnections} ` +
      `(pool ${stack.poolSize}).`,
    ].join("\n");
    return {
      markdown,
      rows,
      machine: machineLabel,
      extra: {
        pgbench_single_row_update_tps: updateTps ?? null,
        http_share_of_pgbench: updateTps ? http.figures.perSecond / updateTps : null,
        function_server_peak_rss_mib: peakMiB ?? null,
        connections_open_max: mostConnections,
        minute_write_wal_bytes: minuteWrite.walBytesNow,
        minute_write_wal_bytes_before: minuteWrite.walBytesBefore,
        minute_write_worst_ms: minuteWrite.worstMsNow,
        pool_size: stack.poolSize,
      },
    };
  } finally {
    Deno.env.delete("SUPABASE_DB_URL");
    Deno.env.delete("DB_POOL_SIZE");
    Deno.env.delete("LOCAL_STACK");
    await stack.stop();
  }
}
