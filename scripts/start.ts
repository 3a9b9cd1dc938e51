/**
 * `npm start`: the whole local stack in one command. Postgres (embedded, or DATABASE_URL), made
 * Supabase-shaped when plain, migrated with the Supabase CLI, seeded; then every function served at
 * http://127.0.0.1:54321/functions/v1/<name>.
 */
import postgres from "postgres";
import { prepareDatabase, type RunningDatabase, startEmbeddedPostgres } from "./lib/database.ts";
import {
  databasePort,
  dataDir,
  functionsPort,
  localJwtSecret,
  localSecretKey,
  schedulerIntervalMs,
} from "./lib/local_stack.ts";

let database: RunningDatabase | undefined;
let databaseUrl = Deno.env.get("DATABASE_URL");
if (databaseUrl) {
  console.log("Using DATABASE_URL");
} else {
  database = await startEmbeddedPostgres({ dataDir, port: databasePort, persistent: true });
  databaseUrl = database.url;
  console.log(`Postgres 17 (embedded) on 127.0.0.1:${databasePort}, data in ${dataDir}`);
}

await prepareDatabase(databaseUrl);
console.log("Migrations applied with the Supabase CLI; seed loaded");

// The functions read their configuration from the environment, as on Supabase.
Deno.env.set("DATABASE_URL", databaseUrl);
Deno.env.set("DB_POOL_SIZE", Deno.env.get("DB_POOL_SIZE") ?? "10");
Deno.env.set("SUPABASE_URL", Deno.env.get("SUPABASE_URL") ?? `http://127.0.0.1:${functionsPort}`);
Deno.env.set("JWT_SECRET", localJwtSecret);
Deno.env.set("SUPABASE_SECRET_KEYS", JSON.stringify({ default: localSecretKey }));
// Logins are written into this database's auth schema: there is no GoTrue locally.
Deno.env.set("AUTH_ADMIN", "local");

const { functions, serveFunctions } = await import("./serve.ts");
const server = serveFunctions();
for (const name of Object.keys(functions)) {
  console.log(`  http://127.0.0.1:${functionsPort}/functions/v1/${name}`);
}

// The scheduler's work, which pg_cron / Supabase Cron does when deployed: retry queued e-mails, and
// refresh the sales analytics unless this database's pg_cron already does.
const refreshByCron = await hasCronRefreshJob(databaseUrl);
console.log(
  refreshByCron
    ? "Sales analytics: refreshed by this database's pg_cron job every minute"
    : "Sales analytics: refreshed now and every minute by this process (no pg_cron job here)",
);
if (!refreshByCron) await runScheduled("leaderboard/refresh");
console.log("Ready. A token for a seeded user: npm run token -- aida.manager@tripwire.local");
const scheduler = schedulerIntervalMs > 0
  ? setInterval(async () => {
    await runScheduled("create-tripwire-user/retry-emails");
    if (!refreshByCron) await runScheduled("leaderboard/refresh");
  }, schedulerIntervalMs)
  : undefined;

async function runScheduled(path: string): Promise<void> {
  const response = await serveScheduled(path);
  if (!response.ok) console.error(`Scheduled ${path} answered ${response.status}`);
}

async function hasCronRefreshJob(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ scheduled: boolean }[]>`
      select exists (select 1 from cron.job where jobname = 'tripwire-refresh-sales-stats') as scheduled`;
    return row.scheduled;
  } catch {
    return false; // no cron schema: pg_cron is not installed here
  } finally {
    await sql.end();
  }
}

function serveScheduled(path: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${functionsPort}/functions/v1/${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${localSecretKey}` },
  }).then(async (response) => {
    await response.body?.cancel();
    return response;
  }).catch((error) => new Response(String(error), { status: 599 }));
}

async function shutdown() {
  clearInterval(scheduler);
  await server.shutdown();
  await database?.stop();
  Deno.exit(0);
}
Deno.addSignalListener("SIGINT", shutdown);
Deno.addSignalListener("SIGTERM", shutdown);
