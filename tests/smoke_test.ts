/**
 * `npm run smoke` against the local stack (`npm start`'s process): every function answers, the smoke admin
 * signs in, the status passes, a smoke-test student is created, watches and is erased — and afterwards the books
 * and every figure are what they were, the CRM heard nothing, and only the audit trail says it happened.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { localSecretKey, signLocalToken } from "../scripts/lib/local_stack.ts";
import { freePort, startStackProcess } from "../scripts/lib/processes.ts";
import { createEmptyDatabase } from "./support/database.ts";
import { startCrm } from "./support/crm_server.ts";
import { aida, saule } from "./support/fixtures.ts";

const repoRoot = new URL("../", import.meta.url).pathname;

/** Everything a smoke test could leave behind: the books, the figures, the outboxes. */
async function snapshot(sql: postgres.Sql) {
  const count = async (table: string) =>
    Number((await sql.unsafe(`select count(*)::int as n from ${table}`))[0].n);
  const tables = [
    "auth.users",
    "auth.sessions",
    "public.users",
    "public.tripwire_users",
    "public.student_progress",
    "public.video_tracking",
    "public.sales_activity_log",
    "public.student_refunds",
    "public.certificates",
    "private.email_outbox",
    "private.webhook_events",
    "private.webhook_deliveries",
    "private.smoke_tests",
  ];
  const counts: Record<string, number> = {};
  for (const table of tables) counts[table] = await count(table);
  // Sessions are opened by every sign-in (the admin's stays); the rest must be exactly as before.
  delete counts["auth.sessions"];
  return {
    counts,
    standings: await sql`
      select period, manager_id, revenue::text, students_created, students_active, lessons_completed, rank
      from analytics.leaderboard_standings order by period, manager_id`,
    statuses: await sql`select * from analytics.manager_student_statuses where students > 0 order by 1, 2`,
    days:
      await sql`select day, students_created, revenue::text from analytics.academy_daily_totals order by day`,
  };
}

Deno.test({
  name: "npm run smoke on the local stack proves the flow and leaves the books and figures as they were",
  sanitizeResources: false,
  fn: async () => {
    const database = await createEmptyDatabase();
    const port = freePort();
    const stack = await startStackProcess({
      DATABASE_URL: database.url,
      FUNCTIONS_PORT: String(port),
      SCHEDULER_INTERVAL_MS: "0",
    });
    const base = `http://127.0.0.1:${port}`;
    const crm = startCrm();
    const scheduled = async (path: string) => {
      const response = await fetch(`${base}/functions/v1/${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${localSecretKey}` },
      });
      assert.equal(response.status, 200, `${path}: ${await response.text()}`);
    };
    try {
      // The academy's CRM is registered: a smoke test must not reach it.
      const endpoint = await fetch(`${base}/functions/v1/webhooks/endpoints`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${await signLocalToken(database.sql, saule)}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ url: crm.url, event_types: ["student.created", "lesson.started"] }),
      });
      assert.equal(endpoint.status, 201, await endpoint.clone().text());
      crm.state.secrets.push((await endpoint.json()).secret);
      // A real sale today, so the figures the smoke test must not move are not empty.
      const sale = await fetch(`${base}/functions/v1/create-tripwire-user`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${await signLocalToken(database.sql, aida)}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({
          email: "real.buyer@example.kz",
          full_name: "Real Buyer",
          payment_amount: "490",
        }),
      });
      assert.equal(sale.status, 201, await sale.text());
      await scheduled("webhooks/deliver");
      assert.deepEqual(crm.received.map((event) => event.data.student.email), ["real.buyer@example.kz"]);
      await scheduled("leaderboard/refresh");
      const before = await snapshot(database.sql);
      assert.ok(before.standings.length > 0 && before.days.length > 0, "figures to keep");

      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", "scripts/smoke.ts", base],
        cwd: repoRoot,
        env: { SMOKE_ADMIN_EMAIL: saule.email, SMOKE_ADMIN_PASSWORD: "tripwire-local" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const printed = new TextDecoder().decode(output.stdout);
      assert.equal(output.success, true, printed + new TextDecoder().decode(output.stderr));
      for (
        const step of [
          "the smoke admin signs in",
          "the status: jobs ran",
          "a smoke-test student is created",
          "the student watches a few seconds, every heartbeat credited: [0-9.]+ s credited",
          "the dashboard and the leaderboard answer",
          "the smoke-test student is erased, nothing of them left: removed",
        ]
      ) {
        assert.match(printed, new RegExp(`^ok +${step}`, "m"), printed);
      }

      await scheduled("webhooks/deliver");
      assert.equal(crm.received.length, 1, "the CRM heard nothing of the smoke test");
      await scheduled("leaderboard/refresh");
      assert.deepEqual(await snapshot(database.sql), before, "the books and figures are as they were");
      // The audit trail is the record of what was done: the smoke test's creation and its removal.
      const [studentId] = printed.match(/a smoke-test student is created: ([0-9a-f-]{36})/)!.slice(1);
      const audited = await database.sql`
        select action, reason from private.audit_log where target_id = ${studentId} order by id`;
      assert.deepEqual(audited.map((row) => row.action), ["student.created", "student.erased"]);
      assert.equal(audited[1].reason, "smoke test: removed entirely");
    } finally {
      await crm.close();
      await stack.stop();
      await database.drop();
    }
  },
});

Deno.test({
  name: "npm run smoke without the smoke admin's credentials says what it needs",
  fn: async () => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "scripts/smoke.ts", "http://127.0.0.1:1"],
      cwd: repoRoot,
      env: { SMOKE_ADMIN_EMAIL: "", SMOKE_ADMIN_PASSWORD: "" },
      stderr: "piped",
    }).output();
    assert.equal(output.code, 2);
    assert.match(new TextDecoder().decode(output.stderr), /SMOKE_ADMIN_EMAIL=<an admin>/);
  },
});
