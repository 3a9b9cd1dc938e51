/**
 * PgBouncer in transaction mode in front of a Postgres: what Supavisor (port 6543) is to deployed functions —
 * every transaction may run on another server connection, so no prepared statement and no session setting
 * outlives it. Debian's `pgbouncer` (`.ci/run` installs it); the deploy test and the deployed fault run use it.
 */
import postgres from "postgres";
import { freePort, keepOutput, untilListening } from "./processes.ts";

export interface PgBouncer {
  /** The pooled URL of `databaseUrl`'s database, marked `pgbouncer=true` as the functions expect. */
  url: string;
  /** Transactions and queries PgBouncer has passed to the server so far (its `SHOW STATS`), all databases. */
  served(): Promise<{ transactions: number; queries: number }>;
  stop(): Promise<void>;
}

const binaries = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"];

/** PgBouncer's path, or why there is none. */
export function findPgBouncer(): { bin: string } | { missing: string } {
  for (const bin of binaries) {
    try {
      Deno.statSync(bin);
      return { bin };
    } catch {
      // not here
    }
  }
  return { missing: "PgBouncer is not installed (apt-get install pgbouncer)" };
}

/** Starts PgBouncer (transaction mode) in front of the server `databaseUrl` names. */
export async function startPgBouncer(bin: string, databaseUrl: string, poolSize = 20): Promise<PgBouncer> {
  const target = new URL(databaseUrl);
  const folder = await Deno.makeTempDir({ prefix: "tripwire-pgbouncer-" });
  await Deno.chmod(folder, 0o755);
  const port = freePort();
  const password = decodeURIComponent(target.password);
  await Deno.writeTextFile(
    `${folder}/pgbouncer.ini`,
    `[databases]
* = host=${target.hostname} port=${target.port || 5432}${password ? ` password=${password}` : ""}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${folder}/users.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = ${poolSize}
server_login_retry = 1
stats_users = ${decodeURIComponent(target.username)}
`,
  );
  // Clients are trusted (the tests' own); towards the server PgBouncer logs in with this password (SCRAM).
  await Deno.writeTextFile(`${folder}/users.txt`, `"${decodeURIComponent(target.username)}" "${password}"\n`);
  // PgBouncer refuses to run as root; as root it runs as the postgres system user, as Postgres does.
  const asRoot = Deno.uid() === 0;
  const child = new Deno.Command(asRoot ? "runuser" : bin, {
    args: asRoot ? ["-u", "postgres", "--", bin, `${folder}/pgbouncer.ini`] : [`${folder}/pgbouncer.ini`],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Its log goes to stderr, kept for a failure to start.
  const log = keepOutput([child.stderr]);
  await untilListening(
    port,
    child,
    5_000,
    () => new Error(`PgBouncer did not start: ${log.join("").slice(-2000)}`),
  );
  const pooled = new URL(databaseUrl);
  pooled.hostname = "127.0.0.1";
  pooled.port = String(port);
  pooled.searchParams.set("pgbouncer", "true");
  const adminUrl = new URL(pooled);
  adminUrl.pathname = "/pgbouncer";
  adminUrl.search = "";
  return {
    url: pooled.toString(),
    async served() {
      // The admin console speaks only the simple protocol and has no pg_type to fetch.
      const admin = postgres(adminUrl.toString(), { max: 1, fetch_types: false, onnotice: () => {} });
      try {
        const rows = await admin`show stats`.simple();
        return {
          transactions: rows.reduce((sum, row) => sum + Number(row.total_xact_count), 0),
          queries: rows.reduce((sum, row) => sum + Number(row.total_query_count), 0),
        };
      } finally {
        await admin.end();
      }
    },
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      await child.status;
      await Deno.remove(folder, { recursive: true }).catch(() => {});
    },
  };
}
