/**
 * A throwaway Postgres cluster that loads pg_cron, from the machine's Debian packages
 * (`postgresql-NN-cron`; `.ci/run` installs it). The embedded Postgres 17 cannot load Debian's
 * pg_cron, so the tests that need it use this, and are skipped with a reason where it is absent.
 */
import type postgres from "postgres";
import { freePort } from "../../scripts/lib/processes.ts";

export interface CronPostgres {
  /** Superuser URL of the `postgres` database, the one pg_cron runs jobs in. */
  url: string;
  version: string;
  stop(): Promise<void>;
}

/** The bin folder of a Debian Postgres whose lib folder has pg_cron, or why there is none. */
export function findCronPostgres(): { bin: string; version: string } | { missing: string } {
  let versions: string[] = [];
  try {
    versions = [...Deno.readDirSync("/usr/lib/postgresql")].map((entry) => entry.name).sort().reverse();
  } catch {
    return { missing: "no Debian Postgres in /usr/lib/postgresql" };
  }
  for (const version of versions) {
    const base = `/usr/lib/postgresql/${version}`;
    try {
      Deno.statSync(`${base}/lib/pg_cron.so`);
      Deno.statSync(`${base}/bin/initdb`);
      return { bin: `${base}/bin`, version };
    } catch {
      // not this one
    }
  }
  return { missing: "pg_cron is not installed (apt-get install postgresql-15-cron)" };
}

async function run(command: string[], asPostgres: boolean): Promise<void> {
  const [program, ...args] = asPostgres ? ["runuser", "-u", "postgres", "--", ...command] : command;
  const output = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).output();
  if (!output.success) {
    const text = new TextDecoder().decode(output.stderr) + new TextDecoder().decode(output.stdout);
    throw new Error(`${command.join(" ")} failed:\n${text}`);
  }
}

/** initdb + start with `shared_preload_libraries = pg_cron`; `stop()` removes it all. */
export async function startCronPostgres(bin: string, version: string): Promise<CronPostgres> {
  const root = await Deno.makeTempDir({ prefix: "tripwire-cron-pg-" });
  const asPostgres = Deno.uid() === 0; // Postgres refuses to run as root
  await Deno.chmod(root, 0o777);
  const dataDir = `${root}/data`;
  const port = freePort();
  await run(
    [`${bin}/initdb`, "-D", dataDir, "-U", "postgres", "--auth=trust", "--encoding=UTF8"],
    asPostgres,
  );
  await run([
    `${bin}/pg_ctl`,
    "-D",
    dataDir,
    "-w",
    "-l",
    `${root}/server.log`,
    "-o",
    [
      `-p ${port}`,
      "-c listen_addresses=127.0.0.1",
      `-c unix_socket_directories=${root}`,
      "-c shared_preload_libraries=pg_cron",
      "-c cron.database_name=postgres",
    ].join(" "),
    "start",
  ], asPostgres);
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    version,
    async stop() {
      await run([`${bin}/pg_ctl`, "-D", dataDir, "-m", "immediate", "-w", "stop"], asPostgres).catch(
        () => {},
      );
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Stand-ins for what Supabase's image has and Debian's does not, with the documented shapes:
 * `net.http_post(url, body, params, headers, timeout_milliseconds)` of pg_net, which here really sends the
 * request (through Node, the one runtime every machine of ours has, run by COPY … TO PROGRAM) and returns a
 * request id; and Vault's `vault.decrypted_secrets` (name, decrypted_secret) with `vault.create_secret`.
 */
export async function installNetAndVaultStandIns(sql: postgres.Sql): Promise<void> {
  const node = new TextDecoder().decode(
    (await new Deno.Command("sh", { args: ["-c", "command -v node"], stdout: "piped" }).output()).stdout,
  ).trim();
  if (!node) throw new Error("node is not on the PATH: the pg_net stand-in sends its requests with it");
  // The request goes to the program as base64 (nothing to quote); the script has no single quote in it.
  const script = `const r = JSON.parse(Buffer.from(process.argv[1], "base64").toString());` +
    `fetch(r.url, { method: "POST", headers: r.headers, body: JSON.stringify(r.body) })` +
    `.then((a) => a.text()).catch((e) => { console.error(e); process.exit(1); })`;
  const program = `${node} -e '${script}' `.replaceAll("'", "''");
  await sql.unsafe(`
    create schema if not exists net;
    create sequence if not exists net.request_ids;
    create or replace function net.http_post(
      url text, body jsonb default '{}', params jsonb default '{}',
      headers jsonb default '{"Content-Type": "application/json"}', timeout_milliseconds integer default 5000
    ) returns bigint language plpgsql as $$
    declare
      request text := replace(encode(convert_to(
        jsonb_build_object('url', url, 'headers', headers, 'body', body)::text, 'UTF8'), 'base64'), E'\\n', '');
    begin
      execute format('copy (select 1) to program %L', '${program}' || request);
      return nextval('net.request_ids');
    end $$;
    create schema if not exists vault;
    create table if not exists vault.secrets (name text primary key, secret text not null);
    create or replace view vault.decrypted_secrets as select name, secret as decrypted_secret from vault.secrets;
    create or replace function vault.create_secret(new_secret text, new_name text) returns text
    language sql as $$ insert into vault.secrets values (new_name, new_secret) returning name $$;
  `);
}
