/**
 * Processes the scripts and tests start: a free port, a throwaway embedded Postgres, and the local
 * stack (`scripts/start.ts`) as a child process that has said "Ready.".
 */
import { createScratchDatabase, repoRoot, type RunningDatabase, startEmbeddedPostgres } from "./database.ts";

/**
 * What a child process writes to `streams`, kept (for a failure to explain itself) and drained, so that a full
 * pipe never blocks it.
 */
export function keepOutput(streams: ReadableStream<Uint8Array<ArrayBuffer>>[]): string[] {
  const output: string[] = [];
  for (const stream of streams) {
    stream.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (chunk) => void output.push(chunk) }),
    ).catch(() => {});
  }
  return output;
}

/**
 * Waits until something listens on 127.0.0.1:`port`; throws `failure()` if `child` ends first or `limitMs`
 * passes.
 */
export async function untilListening(
  port: number,
  child: Deno.ChildProcess,
  limitMs: number,
  failure: () => Error,
): Promise<void> {
  const deadline = performance.now() + limitMs;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      const exited = await Promise.race([
        child.status.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 50)),
      ]);
      if (exited || performance.now() > deadline) {
        if (!exited) child.kill("SIGKILL");
        throw failure();
      }
    }
  }
}

/**
 * A TCP port nobody listens on right now, for a child process to listen on a moment later. Taken below the
 * systems' ephemeral ranges (Linux 32768–60999, macOS 49152–65535): a port the OS hands out for `port: 0` comes
 * from the range outgoing connections also draw from, and one of this process's own connections could take it
 * before the child binds it — the likely reason a bench run's second stack once failed to start (its own
 * reason was lost then; startStackProcess now keeps it).
 */
export function freePort(): number {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    }
  }
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** An embedded Postgres in a temporary folder on a free port, removed again by `stop()`. */
export async function startScratchPostgres(prefix: string): Promise<RunningDatabase> {
  const dataDir = await Deno.makeTempDir({ prefix });
  // The postgres system user (when we are root) must reach the data folder below this one.
  await Deno.chmod(dataDir, 0o755);
  const database = await startEmbeddedPostgres({
    dataDir: `${dataDir}/data`,
    port: freePort(),
    persistent: false,
  });
  return {
    ...database,
    async stop() {
      await database.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * A throwaway database for a script: a new database on DATABASE_URL's server when that is set, otherwise
 * a scratch embedded Postgres. `stop()` removes it either way.
 */
export async function scratchDatabase(prefix: string): Promise<RunningDatabase> {
  const serverUrl = Deno.env.get("DATABASE_URL");
  if (!serverUrl) return await startScratchPostgres(`${prefix.replaceAll("_", "-")}pg-`);
  const database = await createScratchDatabase(serverUrl, prefix);
  return { url: database.url, stop: database.drop };
}

export interface StackProcess {
  child: Deno.ChildProcess;
  /** Where its reference web app is (WEB_PORT, a free port unless given). */
  webUrl: string;
  /** Its local inbox (INBOX_PORT, a free port unless given): the e-mails it sent, when no RESEND_API_KEY is given. */
  inboxUrl: string;
  /** What the stack printed up to "Ready.". */
  printed: string;
  /** The last 64 KB it printed since (stdout and stderr). */
  output(): string;
  /** Its own notices since, such as "[postgres] running again after 120 ms". */
  notices(): string;
  /** SIGTERM, and the exit status. */
  stop(): Promise<Deno.CommandStatus>;
}

/** Runs `npm start`'s script with `env` until it says Ready. */
export async function startStackProcess(given: Record<string, string>): Promise<StackProcess> {
  // The inbox binds a port the system picks (0): one picked here and bound later could be taken in between.
  const env = { WEB_PORT: String(freePort()), INBOX_PORT: "0", ...given };
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "scripts/start.ts"],
    cwd: repoRoot,
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const decoder = new TextDecoder();
  let printed = "";
  const reader = child.stdout.getReader();
  const deadline = Date.now() + 120_000;
  while (!printed.includes("Ready.") && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    printed += decoder.decode(value);
  }
  reader.releaseLock();
  if (!printed.includes("Ready.")) {
    // It may have ended by itself (a refused start says why on stderr, exit 1): then there is nothing to kill.
    try {
      child.kill("SIGKILL");
    } catch {
      // already ended
    }
    const [status, stderr] = await Promise.all([child.status, new Response(child.stderr).text()]);
    throw new Error(`npm start did not become ready (exit ${status.code}):\n${printed}\n${stderr}`);
  }
  // Keep draining the pipes so a chatty server never blocks on a full pipe; the last 64 KB are kept.
  let after = "";
  let notices = "";
  const keep = () => {
    const decoder = new TextDecoder();
    let partial = "";
    return new WritableStream<Uint8Array>({
      write(chunk) {
        const text = decoder.decode(chunk, { stream: true });
        after = (after + text).slice(-65_536);
        // What the stack says about itself (not request logs), kept whole; a line may span chunks.
        const lines = (partial + text).split("\n");
        partial = lines.pop()!;
        for (const line of lines) if (line.startsWith("[")) notices += `${line}\n`;
      },
    });
  };
  const drained = Promise.all([child.stdout.pipeTo(keep()), child.stderr.pipeTo(keep())]).catch(() => {});
  return {
    child,
    webUrl: `http://127.0.0.1:${env.WEB_PORT}`,
    inboxUrl: printed.match(/The local inbox [^:]*: (http:\/\/\S+)/)?.[1] ?? "",
    printed,
    output: () => after,
    notices: () => notices,
    async stop() {
      child.kill("SIGTERM");
      const status = await child.status;
      await drained;
      return status;
    },
  };
}
