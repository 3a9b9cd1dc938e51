/**
 * Why `npm start` cannot start, in one plain sentence: checked before anything is started (the data folder, the
 * ports, the database), and made of whatever failed afterwards. `scripts/start.ts` prints it, stops what it
 * had started and exits 1.
 */
import process from "node:process";
import postgres from "postgres";

/** A start that cannot go on; its message is the sentence the developer reads. */
export class StartRefused extends Error {}

/**
 * The embedded Postgres' data folder is free, unless another server (another `npm start`) runs on it: its
 * `postmaster.pid` names a live process. A stale file from a crash is Postgres' own to clear.
 */
export async function checkDataFolder(dataDir: string, shown: string): Promise<void> {
  const text = await Deno.readTextFile(`${dataDir}/postmaster.pid`).catch(() => "");
  const pid = Number(text.split("\n")[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isRunning(pid)) return;
  throw new StartRefused(
    `Another npm start is using the data folder ${shown} (its Postgres runs as process ${pid}): stop it ` +
      "first (Ctrl-C in its terminal), or give this one its own LOCAL_DB_DIR and ports.",
  );
}

/** Whether `pid` is a live Postgres (where /proc tells the program's name; a reused pid is not). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as { code?: string }).code !== "EPERM") return false; // EPERM: alive, another user's
  }
  try {
    return Deno.readTextFileSync(`/proc/${pid}/comm`).startsWith("postgres");
  } catch {
    return true; // no /proc here: alive is all we know
  }
}

/** Each port is free on 127.0.0.1, or the sentence names the first that is not and its variable. */
export function checkPorts(ports: { port: number; variable: string; what: string }[]): void {
  for (const { port, variable, what } of ports) {
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
      throw new StartRefused(
        `Port ${port} (${what}) is already taken — another npm start, or another program: stop it, or set ` +
          `${variable} to a free port.`,
      );
    }
  }
}

/** DATABASE_URL answers a query, or the sentence says what is wrong with it. */
export async function checkDatabaseUrl(url: string): Promise<void> {
  let parsed: URL;
  try {
    parsed = new URL(url);
    if (!/^postgres(ql)?:$/.test(parsed.protocol)) throw new Error("not postgres");
  } catch {
    throw new StartRefused(
      "DATABASE_URL is not a Postgres URL: it should read postgresql://user:password@host:port/database.",
    );
  }
  const where = `${parsed.hostname}:${parsed.port || 5432}`;
  const sql = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    const [row] = await sql<{ superuser: boolean; shaped: boolean }[]>`
      select rolsuper as superuser, exists (select 1 from pg_namespace where nspname = 'auth') as shaped
      from pg_roles where rolname = current_user`;
    if (!row?.superuser && !row?.shaped) {
      throw new StartRefused(
        `DATABASE_URL connects as ${decodeURIComponent(parsed.username) || "its user"}, who is not a ` +
          "superuser: npm start sets a plain Postgres up as Supabase's image is (roles, auth), which needs one.",
      );
    }
  } catch (error) {
    if (error instanceof StartRefused) throw error;
    throw new StartRefused(`DATABASE_URL (${where}) cannot be used: ${describeConnectionError(error)}.`);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

/** What went wrong reaching a Postgres, as a person would say it. */
function describeConnectionError(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  switch (code) {
    case "ECONNREFUSED":
      return "nothing answers there — is Postgres running, and on that port?";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "that host name cannot be found";
    case "CONNECT_TIMEOUT":
      return "it did not answer within 5 seconds";
    case "28P01":
    case "28000":
      return `the server refused the user or password (${message})`;
    case "3D000":
      return `that database does not exist (${message})`;
    default:
      return String(message ?? error).split("\n")[0];
  }
}

/** Any other failure of the start, as one sentence. */
export function startFailure(error: unknown): string {
  if (error instanceof StartRefused) return error.message;
  if (error instanceof Deno.errors.AddrInUse) {
    return `A port was taken while the stack started (${error.message}): another program got there first; ` +
      "start again, or set FUNCTIONS_PORT / WEB_PORT to free ports.";
  }
  const message = (error instanceof Error ? error.message : String(error)).trim();
  return `The stack could not start: ${message.split("\n")[0] || "an unknown error"}.`;
}
