import assert from "node:assert/strict";
import postgres from "postgres";
import { createScratchDatabase, prepareDatabase } from "../scripts/lib/database.ts";
import { findCronPostgres, installNetAndVaultStandIns, startCronPostgres } from "./support/cron_postgres.ts";
import { createMigratedDatabase } from "./support/database.ts";
import { shapeAsSupabase, supabasePostgresRole } from "./support/supabase_role.ts";

const schedulingMigration = new URL("../supabase/migrations/20261206110060_scheduling.sql", import.meta.url);
const found = findCronPostgres();
if ("missing" in found) console.log(`cron_test: the pg_cron story is skipped: ${found.missing}`);

Deno.test({
  name:
    "with pg_cron: the migrations schedule every job once, still once after scheduling again, and each job works",
  ignore: "missing" in found,
  async fn() {
    if ("missing" in found) return;
    const cluster = await startCronPostgres(found.bin, found.version);
    const sql = postgres(cluster.url, { max: 1, onnotice: () => {} });
    const jobs = () =>
      sql<{ jobname: string; schedule: string; command: string; database: string; username: string }[]>`
        select jobname, schedule, command, database, username from cron.job order by jobid`;
    try {
      // Supabase's image has pg_net and Vault; Debian's has neither: stand-ins with their documented shapes.
      await installNetAndVaultStandIns(sql);
      await prepareDatabase(cluster.url);
      const expected = [{
        jobname: "tripwire-refresh-sales-stats",
        schedule: "* * * * *",
        command: "select analytics.refresh_sales_stats()",
        database: "postgres",
        username: "postgres",
      }, {
        jobname: "tripwire-rebuild-sales-history",
        schedule: "17 21 * * *",
        command: "select analytics.refresh_sales_stats(rebuild => true)",
        database: "postgres",
        username: "postgres",
      }, {
        jobname: "tripwire-housekeeping",
        schedule: "* * * * *",
        command: "select private.housekeeping()",
        database: "postgres",
        username: "postgres",
      }, {
        jobname: "tripwire-retry-emails",
        schedule: "* * * * *",
        command: "select private.call_scheduler_route('create-tripwire-user/retry-emails')",
        database: "postgres",
        username: "postgres",
      }, {
        jobname: "tripwire-deliver-webhooks",
        schedule: "* * * * *",
        command: "select private.call_scheduler_route('webhooks/deliver')",
        database: "postgres",
        username: "postgres",
      }, {
        jobname: "tripwire-refresh-conversion",
        schedule: "* * * * *",
        command: "select analytics.refresh_conversion()",
        database: "postgres",
        username: "postgres",
      }, {
        jobname: "tripwire-refresh-retention",
        schedule: "*/15 * * * *",
        command: "select analytics.refresh_retention()",
        database: "postgres",
        username: "postgres",
      }];
      assert.deepEqual([...await jobs()], expected);

      // The scheduling migration applied once more by hand: still one of each job.
      await sql.file(schedulingMigration.pathname);
      assert.deepEqual([...await jobs()], expected);
      const command = async (name: string) => (await jobs()).find((job) => job.jobname === name)!.command;

      // What the job runs works here, as the job's user.
      const [{ report }] = await sql`select analytics.refresh_sales_stats() as report`;
      assert.equal(report.refreshed, true);
      assert.deepEqual(report.views.map((view: { view: string }) => view.view), [
        "manager_daily_history",
        "academy_daily_totals",
        "leaderboard_standings",
      ]);
      const [{ conversion }] = await sql`select analytics.refresh_conversion() as conversion`;
      assert.equal(conversion.view, "conversion");
      const [{ retention }] = await sql`select analytics.refresh_retention() as retention`;
      assert.equal(retention.view, "retention");

      // The housekeeping: an expired key, an old e-mail and an abandoned login go; what is current stays.
      const abandoned = crypto.randomUUID();
      await sql`insert into auth.users (id, aud, role, email, created_at, updated_at)
                values (${abandoned}, 'authenticated', 'authenticated', 'abandoned@example.kz', now(), now())`;
      await sql`insert into private.pending_logins (user_id, manager_id, created_at)
                values (${abandoned}, 'a0000000-0000-4000-8000-000000000002', now() - interval '10 minutes')`;
      await sql`insert into private.idempotency_keys (manager_id, idempotency_key, request_hash, expires_at)
                values ('a0000000-0000-4000-8000-000000000002', 'expired', 'x', now() - interval '1 minute'),
                       ('a0000000-0000-4000-8000-000000000002', 'current', 'x', now() + interval '1 hour')`;
      const [{ report: housekept }] = await sql.unsafe(`${await command("tripwire-housekeeping")} as report`);
      assert.deepEqual(housekept, {
        expired_idempotency_keys: 1,
        old_emails_purged: 0,
        abandoned_logins_deleted: 1,
      });
      const [left] = await sql`
        select (select count(*)::int from auth.users where id = ${abandoned}) as logins,
               (select count(*)::int from private.idempotency_keys) as keys`;
      assert.deepEqual({ ...left }, { logins: 0, keys: 1 });

      // The e-mail job reaches the function's route with the secret key, both read from Vault.
      const received: { path: string; authorization: string | null }[] = [];
      const route = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
        received.push({
          path: new URL(request.url).pathname,
          authorization: request.headers.get("authorization"),
        });
        return Response.json({
          emails: { attempted: 0, sent: 0, queued: 0, failed: 0, not_configured: false },
        });
      });
      try {
        const [{ skipped }] = await sql.unsafe(`${await command("tripwire-retry-emails")} as skipped`);
        assert.equal(skipped, null, "without the Vault secrets the job calls nothing");
        await sql`select vault.create_secret(${`http://127.0.0.1:${route.addr.port}/`}, 'tripwire_project_url')`;
        await sql`select vault.create_secret('sb_secret_cron_test', 'tripwire_secret_key')`;
        const [{ request_id }] = await sql.unsafe(`${await command("tripwire-retry-emails")} as request_id`);
        assert.ok(Number(request_id) > 0);
        for (let wait = 0; wait < 100 && received.length === 0; wait++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        assert.deepEqual(received, [{
          path: "/functions/v1/create-tripwire-user/retry-emails",
          authorization: "Bearer sb_secret_cron_test",
        }]);
      } finally {
        await route.shutdown();
      }
    } finally {
      await sql.end();
      await cluster.stop();
    }
  },
});

Deno.test({
  name:
    "with pg_cron, as Supabase's postgres role (not a superuser): db push schedules every job as that role",
  ignore: "missing" in found,
  async fn() {
    if ("missing" in found) return;
    const cluster = await startCronPostgres(found.bin, found.version);
    const sql = postgres(cluster.url, { max: 1, onnotice: () => {} });
    try {
      // pg_cron available but not enabled — a new Supabase project: the migrations still apply (reading
      // shared_preload_libraries, as they once did, is refused to this role), and schedule nothing.
      const fresh = await createScratchDatabase(cluster.url, "tripwire_nocron_");
      try {
        await prepareDatabase(await shapeAsSupabase(fresh.url, { withCron: false }));
      } finally {
        await fresh.drop();
      }

      await installNetAndVaultStandIns(sql);
      const url = await shapeAsSupabase(cluster.url, { withCron: true });
      // Supabase's postgres role may use pg_net and Vault.
      await sql.unsafe(`
        grant usage on schema net, vault to ${supabasePostgresRole};
        grant all on all tables in schema net, vault to ${supabasePostgresRole};
        grant all on all sequences in schema net, vault to ${supabasePostgresRole};
        grant all on all routines in schema net, vault to ${supabasePostgresRole};
      `);
      await prepareDatabase(url);
      const jobs = await sql<{ jobname: string; username: string }[]>`
        select jobname, username from cron.job order by jobid`;
      assert.deepEqual(jobs.map((job) => [job.jobname, job.username]), [
        ["tripwire-refresh-sales-stats", supabasePostgresRole],
        ["tripwire-rebuild-sales-history", supabasePostgresRole],
        ["tripwire-housekeeping", supabasePostgresRole],
        ["tripwire-retry-emails", supabasePostgresRole],
        ["tripwire-deliver-webhooks", supabasePostgresRole],
        ["tripwire-refresh-conversion", supabasePostgresRole],
        ["tripwire-refresh-retention", supabasePostgresRole],
      ]);

      // The status report sees pg_cron's jobs: a stopped one, and the Vault secrets the jobs need, missing.
      await sql`update cron.job set active = false where jobname = 'tripwire-housekeeping'`;
      Deno.env.set("DATABASE_URL", url);
      Deno.env.set("LOCAL_STACK", "on");
      const { statusReport } = await import("../supabase/functions/status/status.ts");
      const asRole = postgres(url, { max: 1, onnotice: () => {} });
      try {
        const report = await statusReport(asRole);
        assert.equal(report.status, "degraded");
        assert.equal(report.scheduler, "pg_cron");
        assert.deepEqual(report.vault, { tripwire_project_url: false, tripwire_secret_key: false });
        const codes = report.problems.map((problem) => problem.code);
        assert.ok(codes.includes("vault_secret_missing"), JSON.stringify(report.problems));
        const stopped = report.problems.filter((problem) => problem.code === "job_stopped");
        assert.equal(stopped.length, 1, JSON.stringify(report.problems));
        assert.match(stopped[0].message, /tripwire-housekeeping/);
        assert.equal(report.jobs.find((job) => job.name === "tripwire-housekeeping")?.state, "stopped");

        await sql`select vault.create_secret('https://ref.supabase.co', 'tripwire_project_url')`;
        await sql`select vault.create_secret('sb_secret_x', 'tripwire_secret_key')`;
        await sql`update cron.job set active = true where jobname = 'tripwire-housekeeping'`;
        const healed = await statusReport(asRole);
        assert.ok(
          !healed.problems.some((problem) => ["vault_secret_missing", "job_stopped"].includes(problem.code)),
          JSON.stringify(healed.problems),
        );
      } finally {
        await asRole.end();
      }
    } finally {
      await sql.end();
      await cluster.stop();
    }
  },
});

Deno.test("without pg_cron (the embedded Postgres) the cron migration schedules nothing and fails nothing", async () => {
  const database = await createMigratedDatabase();
  try {
    const [row] = await database.sql`
      select to_regnamespace('cron') is null as no_cron_schema,
             exists (select 1 from pg_extension where extname = 'pg_cron') as has_extension`;
    assert.deepEqual({ ...row }, { no_cron_schema: true, has_extension: false });
  } finally {
    await database.drop();
  }
});
