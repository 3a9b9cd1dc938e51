/**
 * Faults and attacks against the local stack as `npm start` runs it (its own embedded Postgres in a
 * temporary folder, real processes, real HTTP), each measured the same way: requests in flight, 2xx
 * acknowledged, acknowledged work lost, 5xx other than 503, time to recover. `tests/faults_test.ts`
 * asserts on them; `npm run reliability` writes them into docs/reliability.md. The load they run is
 * fault_load.ts, what they check afterwards fault_audit.ts.
 */
import postgres from "postgres";
import { freePort, type StackProcess, startStackProcess } from "./processes.ts";
import { prepareDatabase, startEmbeddedPostgres } from "./database.ts";
import { startDeployedStack } from "./deployed.ts";
import { localJwtSecret, localSecretKey } from "./local_stack.ts";
import { findPgBouncer, startPgBouncer } from "./pgbouncer.ts";
import { type ResendServer, startResendServer } from "./resend_server.ts";
import { paymentSecrets, prepare, startLoad, untilServing } from "./fault_load.ts";
import { audit, summarize } from "./fault_audit.ts";

/** A stack on its own embedded Postgres (what `npm start` does with nothing configured). */
export interface FaultStack {
  url: string;
  databaseUrl: string;
  dataDir: string;
  process: StackProcess;
  env: Record<string, string>;
  /** Where the stack's e-mails go: a server that answers as Resend does, idempotency keys included. */
  resend: ResendServer;
  /** The postmaster's pid, from its postmaster.pid. */
  postgresPid(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts a stack on its own Postgres in `dataDir` (a new temporary folder when not given), sending its
 * e-mails to `resend` (a new stand-in when not given, closed with the stack).
 */
export async function startFaultStack(dataDir?: string, given?: ResendServer): Promise<FaultStack> {
  const folder = dataDir ?? await Deno.makeTempDir({ prefix: "tripwire-faults-" });
  await Deno.chmod(folder, 0o755);
  const databasePort = freePort();
  const port = freePort();
  const resend = given ?? startResendServer();
  const env = {
    RESEND_API_KEY: resend.apiKey,
    RESEND_API_URL: resend.url,
    EMAIL_FROM: "Tripwire <hello@example.kz>",
    ...paymentSecrets,
    // Its own embedded Postgres, whatever the calling process has (the tests set DATABASE_URL for theirs).
    DATABASE_URL: "",
    LOCAL_DB_DIR: `${folder}/pg`,
    LOCAL_DB_PORT: String(databasePort),
    FUNCTIONS_PORT: String(port),
    SCHEDULER_INTERVAL_MS: "0",
  };
  const process = await startStackProcess(env);
  const databaseUrl = `postgresql://postgres:postgres@127.0.0.1:${databasePort}/postgres`;
  // The tests' load creates students faster than the academy's per-minute limit allows one manager.
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  await sql`update academy.settings set student_creations_per_minute = 1000000`.finally(() => sql.end());
  return {
    url: `http://127.0.0.1:${port}`,
    databaseUrl,
    dataDir: folder,
    process,
    env,
    resend,
    async postgresPid() {
      const text = await Deno.readTextFile(`${folder}/pg/postmaster.pid`);
      return Number(text.split("\n")[0]);
    },
    async stop() {
      await process.stop().catch(() => {});
      if (!given) await resend.close();
      if (!dataDir) await Deno.remove(folder, { recursive: true }).catch(() => {});
    },
  };
}

export async function stackTerminated(options: { beforeMs: number; students: number; finishers?: number }) {
  const dataDir = await Deno.makeTempDir({ prefix: "tripwire-faults-" });
  try {
    const stack = await startFaultStack(dataDir);
    const tokens = await prepare(stack, options.students, options.finishers ?? 0);
    const load = startLoad(stack, tokens);
    await new Promise((resolve) => setTimeout(resolve, options.beforeMs));
    const faultAt = performance.now();
    stack.process.child.kill("SIGTERM");
    const status = await stack.process.child.status;
    const stoppedMs = performance.now() - faultAt;
    await load.stop();
    const cleanStop = await Deno.stat(`${dataDir}/pg/postmaster.pid`).then(() => false, () => true);
    const restarted = await startFaultStack(dataDir, stack.resend);
    try {
      const recoveryMs = performance.now() - faultAt;
      const report = summarize(
        "npm start stopped (SIGTERM) under load, then started again",
        load,
        faultAt,
        recoveryMs,
      );
      report.notes.push(
        `exit code ${status.code} after ${Math.round(stoppedMs)} ms; Postgres stopped cleanly: ${cleanStop}`,
      );
      if (status.code !== 0) report.violations.push(`exit code ${status.code}`);
      if (!cleanStop) report.violations.push("Postgres was not stopped cleanly");
      // Sent before the signal: each must get its whole answer (the server lingers to take in what is on its
      // way, then waits for every answer to be copied out). Requests sent after it may be refused.
      const sentBefore = load.outcomes.filter((o) => o.startedAt <= faultAt);
      const inFlight = sentBefore.filter((o) => o.endedAt >= faultAt);
      const cut = sentBefore.filter((o) => o.status <= 0).length;
      report.notes.push(
        `${inFlight.length} requests in flight at the signal, ${cut} of those sent before it unanswered`,
      );
      if (cut) report.violations.push(`${cut} requests sent before SIGTERM got no answer`);
      await audit(restarted, load, report, faultAt);
      return report;
    } finally {
      await restarted.stop();
      await stack.resend.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

/**
 * An attacker process holding `count` connections to `port`, each having sent half a request line and
 * nothing more. The attack runs in processes of its own (10,000 connections each) because one process
 * may hold no more files than the server may. With `slow`, each connection goes on sending a header byte
 * every 2 s without ever finishing its headers, and is opened again when the server closes it (slowloris).
 */
async function holdHalfOpen(port: number, count: number, slow: false | "header" | "body" = false) {
  // A slow body: a whole request head promising 100,000 bytes of body (more than any route takes), which never
  // all come.
  const opening = slow === "body"
    ? "POST /functions/v1/create-tripwire-user HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
      "Content-Length: 100000\r\n\r\n"
    : "GET /functions/v1/leaderboard HTTP/1.1\r\nHost: x\r\n";
  const attackers: { child: Deno.ChildProcess; counts: { held: number; refused: number } }[] = [];
  for (let left = count; left > 0; left -= 10_000) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `
        const held = [];
        let refused = 0;
        const open = async () => {
          const connection = await Deno.connect({ hostname: "127.0.0.1", port: ${port} });
          await connection.write(new TextEncoder().encode(${JSON.stringify(opening)}));
          return connection;
        };
        for (let i = 0; i < ${Math.min(left, 10_000)}; i++) {
          try {
            held.push(await open());
          } catch {
            refused++;
          }
        }
        console.log(JSON.stringify({ held: held.length, refused }));
        if (${Boolean(slow)}) {
          const byte = new TextEncoder().encode("a");
          setInterval(() => {
            held.forEach((connection, i) => {
              connection.write(byte).catch(() => {
                try { connection.close(); } catch { /* closed */ }
                open().then((again) => { held[i] = again; }, () => {});
              });
            });
          }, 2000);
        }
        for await (const _ of Deno.stdin.readable) { /* held until the test closes stdin */ }
        Deno.exit(0);`,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let line = "";
    while (!line.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      line += value;
    }
    attackers.push({ child, counts: JSON.parse(line) as { held: number; refused: number } });
  }
  return {
    held: attackers.reduce((sum, attacker) => sum + attacker.counts.held, 0),
    refused: attackers.reduce((sum, attacker) => sum + attacker.counts.refused, 0),
    async release() {
      for (const { child } of attackers) {
        await child.stdin.close().catch(() => {});
        child.kill("SIGKILL");
        await child.status;
      }
    },
  };
}

/**
 * `connections` clients that send half a request line and never finish (with `slow: true` or "header", that keep
 * sending a header byte every 2 s and come back when closed; with "body", that send a whole request head
 * promising a 100,000-byte body and then a byte of it every 2 s); real requests keep being answered meanwhile.
 */
export async function halfOpenFlood(
  options: { connections: number; slow?: boolean | "header" | "body"; durationMs?: number },
) {
  const stack = await startFaultStack();
  let attack: Awaited<ReturnType<typeof holdHalfOpen>> | undefined;
  try {
    const tokens = await prepare(stack, 1);
    const slow = options.slow === true ? "header" : options.slow || false;
    attack = await holdHalfOpen(Number(new URL(stack.url).port), options.connections, slow);
    // The attack is in place: from now on real clients must still be served.
    const faultAt = performance.now();
    const load = startLoad(stack, tokens, { creators: 2, heartbeaters: 1, refunders: 0 });
    await new Promise((resolve) => setTimeout(resolve, options.durationMs ?? 2000));
    await load.stop();
    const served = load.outcomes.filter((o) => o.status >= 200 && o.status < 300).map((o) => o.endedAt);
    const recoveryMs = served.length ? Math.min(...served) - faultAt : null;
    const report = summarize(
      slow === "body"
        ? `${options.connections} slow-body connections (a whole head, then a body byte every 2 s, reopened)`
        : slow
        ? `${options.connections} slow-header connections (a byte every 2 s, never finished, reopened)`
        : `${options.connections} idle half-open connections`,
      load,
      faultAt,
      recoveryMs,
    );
    report.notes.push(`${attack.held} held open by the attacker, ${attack.refused} refused`);
    const answered = load.outcomes.filter((o) => o.status >= 200 && o.status < 300).length;
    if (answered === 0) report.violations.push("no real request was answered during the flood");
    const failed = load.outcomes.filter((o) => o.status <= 0 || o.status >= 500).length;
    if (failed) report.violations.push(`${failed} real requests failed during the flood`);
    const exited = await Promise.race([
      stack.process.child.status.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 10)),
    ]);
    if (exited) report.violations.push("the server process exited");
    await audit(stack, load, report, faultAt);
    return report;
  } finally {
    await attack?.release();
    await stack.stop();
  }
}

/**
 * The deployed shape under a fault: every function as its own bundle (with the vendored, patched postgres.js),
 * through PgBouncer in transaction mode, over an embedded Postgres that is started again when it dies (as
 * Supabase does). Logins go through the local Supabase Auth; everything else is Supabase's environment.
 */
async function startDeployedFaultStack() {
  const pgbouncer = findPgBouncer();
  if ("missing" in pgbouncer) throw new Error(pgbouncer.missing);
  const folder = await Deno.makeTempDir({ prefix: "tripwire-deployed-faults-" });
  await Deno.chmod(folder, 0o755);
  const database = await startEmbeddedPostgres({
    dataDir: `${folder}/pg`,
    port: freePort(),
    persistent: true,
    supervise: true,
  });
  await prepareDatabase(database.url);
  const sql = postgres(database.url, { max: 1, onnotice: () => {} });
  await sql`update academy.settings set student_creations_per_minute = 1000000`.finally(() => sql.end());
  const pooler = await startPgBouncer(pgbouncer.bin, database.url);
  const resend = startResendServer();
  const functions = await startDeployedStack({
    authDatabaseUrl: database.url,
    env: {
      SUPABASE_DB_URL: pooler.url,
      SUPABASE_ANON_KEY: "sb_publishable_faults",
      SUPABASE_SECRET_KEYS: JSON.stringify({ default: localSecretKey }),
      JWT_SECRET: localJwtSecret,
      APP_LOGIN_URL: "https://academy.example/login",
      RESEND_API_KEY: resend.apiKey,
      RESEND_API_URL: resend.url,
      EMAIL_FROM: "Tripwire <hello@example.kz>",
      ...paymentSecrets,
    },
  });
  return {
    url: functions.url,
    databaseUrl: database.url,
    resend,
    crashes: functions.crashes,
    async postgresPid() {
      return Number((await Deno.readTextFile(`${folder}/pg/postmaster.pid`)).split("\n")[0]);
    },
    async stop() {
      await functions.stop();
      await pooler.stop();
      await resend.close();
      await database.stop().catch(() => {});
      await Deno.remove(folder, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Under load, Postgres is killed (SIGKILL) or its backends are terminated one after another (`terminations`:
 * 30 in 1.5 s, the storm that found the driver's faults), on the local stack (`npm start`)
 * or the deployed shape (bundles, through PgBouncer). Every request must be answered — at the
 * latest at its deadline, with 503 — and nothing acknowledged lost.
 */
export async function connectionFault(options: {
  shape: "local" | "deployed";
  fault: "sigkill" | "terminations";
  beforeMs: number;
  afterMs: number;
  students: number;
  finishers?: number;
}) {
  const stack = options.shape === "local" ? await startFaultStack() : await startDeployedFaultStack();
  try {
    const tokens = await prepare(stack, options.students, options.finishers ?? 0);
    const load = startLoad(stack, tokens);
    await new Promise((resolve) => setTimeout(resolve, options.beforeMs));
    const faultAt = performance.now();
    if (options.fault === "sigkill") {
      Deno.kill(await stack.postgresPid(), "SIGKILL");
    } else {
      const admin = postgres(stack.databaseUrl, { max: 1, onnotice: () => {} });
      try {
        for (let k = 0; k < 30; k++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          await admin`
            select pg_terminate_backend(pid) from pg_stat_activity
            where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'`;
        }
      } finally {
        await admin.end();
      }
    }
    const recoveryMs = await untilServing(stack, faultAt, tokens.manager);
    await new Promise((resolve) => setTimeout(resolve, options.afterMs));
    await load.stop();
    const shape = options.shape === "local"
      ? "npm start"
      : "deployed bundles (PgBouncer, a Postgres restarted)";
    const fault = options.fault === "sigkill"
      ? "Postgres killed (SIGKILL)"
      : "30 backends terminated in 1.5 s";
    const report = summarize(`${shape}: ${fault}`, load, faultAt, recoveryMs);
    const crashed = "crashes" in stack ? stack.crashes() : [];
    if (crashed.length) {
      report.violations.push(
        `${crashed.length} function processes crashed (${crashed.map((crash) => crash.name).join(", ")}): ` +
          crashed[0].output.split("\n").filter((line) => /rror/.test(line)).slice(-2).join(" "),
      );
    }
    // npm start says what its Postgres supervisor did; the deployed processes' output is in `crashed`.
    const said = "process" in stack ? stack.process : undefined;
    if (recoveryMs === null) {
      const last = said?.output().split("\n").filter((line) => !line.startsWith("{")).slice(-30).join("\n");
      report.violations.push(`never served again${last ? `: ${last}` : ""}`);
      return report;
    }
    if (said) {
      const notices = said.notices().split("\n").filter((line) => line.startsWith("[postgres]"));
      report.notes.push(`what npm start said: ${notices.map((line) => `"${line}"`).join(", ")}`);
    }
    await audit(stack, load, report, faultAt);
    return report;
  } finally {
    await stack.stop();
  }
}
