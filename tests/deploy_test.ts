/**
 * What deploys is what we test: every function bundled exactly as config.toml configures it (the functions'
 * import map, npm packages from the registry, no node_modules; postgres.js the vendored one), each bundle in its own
 * process with only the environment Supabase gives a function, behind the gateway's path prefix, over a
 * database reached through PgBouncer in transaction mode (Supavisor's stand-in; the migrations went direct, as
 * `supabase db push` does). Then a journey across the bundles. Skipped, saying so, without PgBouncer; with
 * TRIPWIRE_REQUIRE_PGBOUNCER=1 (as .ci/run sets once it has installed it) that is a failure instead.
 */
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import type postgres from "postgres";
import { startDeployedStack } from "../scripts/lib/deployed.ts";
import { openSession } from "../scripts/lib/local_stack.ts";
import { startLocalStorage } from "../scripts/lib/local_storage.ts";
import { findPgBouncer, startPgBouncer } from "../scripts/lib/pgbouncer.ts";
import { standardRequest } from "../scripts/lib/checkout.ts";
import { startResendServer } from "../scripts/lib/resend_server.ts";
import { createMigratedDatabase } from "./support/database.ts";
import { aida, saule } from "./support/fixtures.ts";
import { startCrm } from "./support/crm_server.ts";
import { startAuthFor } from "./support/auth_server.ts";

const pgbouncer = findPgBouncer();
if ("missing" in pgbouncer && Deno.env.get("TRIPWIRE_REQUIRE_PGBOUNCER") === "1") {
  throw new Error(`TRIPWIRE_REQUIRE_PGBOUNCER=1 but ${pgbouncer.missing}`);
}
const skipped = "missing" in pgbouncer ? ` (SKIPPED: ${pgbouncer.missing})` : "";

const jwtSecret = "deploy-test-jwt-secret-with-at-least-32-characters";
const serviceKey = "sb_secret_deploy_test_only";
const publishableKey = "sb_publishable_deploy_test";
const requestDeadlineMs = 3_000;
const checkoutSecret = `whsec_${btoa("deploy-test-checkout-secret-0123")}`;

/** A token as Supabase Auth issues one at sign-in: naming a session it opened in `auth.sessions`. */
async function token(sql: postgres.Sql, userId: string): Promise<string> {
  return await new SignJWT({ role: "authenticated", session_id: await openSession(sql, userId) })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(userId)
    .setAudience("authenticated")
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(jwtSecret));
}

Deno.test({
  name: `the bundles as deployed, through PgBouncer in transaction mode: a sale's whole journey${skipped}`,
  ignore: "missing" in pgbouncer,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const database = await createMigratedDatabase();
    const pooler = await startPgBouncer((pgbouncer as { bin: string }).bin, database.url);
    const auth = await startAuthFor(database.url, { jwtSecret, secretKeys: [serviceKey] });
    // The e-mail provider as Resend answers (a real project has its RESEND_API_KEY).
    const resend = startResendServer();
    // What Supabase sets for a function, and the secrets the README's runbook sets (no e-mail provider yet).
    const supabaseEnv = {
      // Supabase's own variable is the direct connection; the runbook's TRIPWIRE_DB_URL, the transaction
      // pooler (Supavisor's port 6543; here PgBouncer), wins over it.
      SUPABASE_DB_URL: database.url,
      TRIPWIRE_DB_URL: pooler.url,
      APP_LOGIN_URL: "https://academy.example/login",
      SUPABASE_ANON_KEY: publishableKey,
      SUPABASE_SERVICE_ROLE_KEY: serviceKey,
      JWT_SECRET: jwtSecret,
    };
    // Supabase Auth behind the project's gateway: the local stand-in answering as GoTrue, recorded.
    const viaAuth = (request: Request) => {
      const url = new URL(request.url);
      return fetch(`${auth.url}${url.pathname}${url.search}`, {
        method: request.method,
        headers: request.headers,
        body: request.body,
      });
    };
    const stack = await startDeployedStack({
      env: {
        ...supabaseEnv,
        REQUEST_DEADLINE_MS: String(requestDeadlineMs),
        PAYMENTS_STANDARD_SECRET: checkoutSecret,
        RESEND_API_KEY: resend.apiKey,
        RESEND_API_URL: resend.url,
        // The one setting a real project never has: the test CRM can only listen on this machine.
        WEBHOOKS_TO_LOOPBACK: "allowed",
      },
      // Storage as the project's: the bundles sign videos through the gateway with the service key.
      storage: startLocalStorage({
        jwtSecret,
        secretKeys: [serviceKey],
        writtenObjects: await Deno.makeTempDir({ prefix: "tripwire-storage-" }),
      }).fetch,
      auth: viaAuth,
    });
    /** Calls a function of the stack at `base` as `userId` (a token for a fresh session), or with no token. */
    const callAt = (base: string) =>
    async (
      path: string,
      userId: string | null,
      body?: unknown,
      headers: Record<string, string> = {},
    ) => {
      const response = await fetch(`${base}/functions/v1/${path}`, {
        method: body === undefined ? "GET" : "POST",
        headers: {
          ...(userId ? { authorization: `Bearer ${await token(database.sql, userId)}` } : {}),
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, headers: response.headers, body: await response.json() };
    };
    const call = callAt(stack.url);
    try {
      let studentId = "";
      await t.step(
        "Aida sells the course: the login through Supabase Auth's admin API, the rows through the pooler",
        async () => {
          const pooledBefore = (await pooler.served()).transactions;
          const created = await call("create-tripwire-user", aida.id, {
            email: `deployed.${crypto.randomUUID().slice(0, 8)}@example.kz`,
            full_name: "Deployed Student",
            payment_amount: 490,
          }, { "idempotency-key": `deployed-${crypto.randomUUID()}` });
          assert.equal(created.status, 201, JSON.stringify(created.body));
          studentId = created.body.id;
          assert.ok(auth.requests.some((request) => request.path === "/auth/v1/admin/users"));
          assert.equal(created.body.welcome_email, "sent");
          assert.ok(resend.accepted.some((email) => email.body.to[0] === created.body.email));
          // TRIPWIRE_DB_URL won: the creation's transactions went through PgBouncer, not the direct URL.
          assert.ok((await pooler.served()).transactions - pooledBefore >= 3, "through the pooler");
        },
      );

      await t.step(
        "the status: ok for a monitor; the report names the build, the migration, the provider",
        async () => {
          const open = await fetch(`${stack.url}/functions/v1/status`);
          const report = await call("status/report", saule.id);
          assert.equal(report.status, 200, JSON.stringify(report.body));
          assert.deepEqual(report.body.problems, []);
          assert.equal(open.status, 200);
          assert.deepEqual(await open.json(), { status: "ok" });
          assert.equal(report.body.configuration.email_provider, "resend");
          assert.equal(report.body.configuration.login_url, "https://academy.example/login");
          assert.equal(report.body.build.migration_applied, report.body.build.migration_expected);
          assert.equal(report.body.database.reachable, true);
        },
      );

      await t.step(
        "deployed without an e-mail provider: the sale says not_configured, the e-mail waits, status degraded",
        async () => {
          // Two bundles of the same build with Supabase's environment but no RESEND_API_KEY.
          const bare = await startDeployedStack({
            names: ["create-tripwire-user", "status"],
            env: supabaseEnv,
            auth: viaAuth,
          });
          try {
            const bareCall = callAt(bare.url);
            const created = await bareCall("create-tripwire-user", aida.id, {
              email: `unmailed.${crypto.randomUUID().slice(0, 8)}@example.kz`,
              full_name: "Unmailed Student",
            });
            assert.equal(created.status, 201, JSON.stringify(created.body));
            assert.equal(created.body.welcome_email, "not_configured");
            const [outbox] = await database.sql`
              select status, attempts from private.email_outbox where user_id = ${created.body.id}`;
            assert.deepEqual({ ...outbox }, { status: "queued", attempts: 0 }, "it waits for a provider");
            const open = await fetch(`${bare.url}/functions/v1/status`);
            assert.equal(open.status, 503);
            assert.deepEqual(await open.json(), { status: "degraded" });
            const report = await bareCall("status/report", saule.id);
            assert.deepEqual(
              report.body.problems.map((problem: { code: string }) => problem.code),
              ["email_not_configured"],
            );
            // The provider the main deployment has sends it on its next retry run.
            const retried = await fetch(`${stack.url}/functions/v1/create-tripwire-user/retry-emails`, {
              method: "POST",
              headers: { apikey: serviceKey },
            });
            assert.equal(retried.status, 200);
            await retried.body?.cancel();
            assert.ok(resend.accepted.some((email) => email.body.to[0] === created.body.email));
          } finally {
            await bare.stop();
          }
        },
      );

      await t.step(
        "the student's video: signed by Storage for her unlocked lesson only, and it plays",
        async () => {
          const video = await call("video-tracking/video?lesson_id=67", studentId);
          assert.equal(video.status, 200, JSON.stringify(video.body));
          assert.equal(new URL(video.body.url).origin, stack.url, "Storage behind the project's URL");
          const part = await fetch(video.body.url, { headers: { range: "bytes=0-99" } });
          await part.body?.cancel();
          assert.equal(part.status, 206);
          assert.equal(
            (await call("video-tracking/video?lesson_id=68", studentId)).body.error.code,
            "lesson_locked",
          );
        },
      );

      await t.step("the student watches lesson 67 to 80 % and completes it", async () => {
        assert.equal((await call("video-tracking", studentId, { lesson_id: 67, segments: [] })).status, 200);
        let beat: Awaited<ReturnType<typeof call>> | undefined;
        for (let start = 0; start < 480; start += 20) {
          // 20 s of wall-clock time pass between heartbeats, without sleeping (the database clock is the only one).
          await database.sql`
            update public.video_tracking
            set last_heartbeat_at = last_heartbeat_at - interval '20 seconds',
                credit_clock_at = coalesce(credit_clock_at, now()) - interval '20 seconds'
            where user_id = ${studentId} and lesson_id = 67`;
          beat = await call("video-tracking", studentId, {
            lesson_id: 67,
            segments: [[start, start + 20]],
            position: start + 20,
          });
          assert.equal(beat.status, 200, JSON.stringify(beat.body));
        }
        assert.equal(beat!.body.qualified, true);
        const completed = await call("complete-lesson", studentId, { lesson_id: 67 });
        assert.equal(completed.status, 200, JSON.stringify(completed.body));
      });

      await t.step(
        "the dashboard, the students list, the leaderboard after the scheduler's refresh",
        async () => {
          const dashboard = await call("student-dashboard", studentId);
          assert.equal(dashboard.status, 200);
          assert.equal(dashboard.body.progress.lessons_completed, 1);
          const list = await call("students?q=deployed", aida.id);
          assert.ok(list.body.students.some((row: { id: string }) => row.id === studentId));
          const refreshed = await fetch(`${stack.url}/functions/v1/leaderboard/refresh`, {
            method: "POST",
            headers: { apikey: serviceKey },
          });
          assert.equal(refreshed.status, 200);
          await refreshed.body?.cancel();
          const board = await call("leaderboard?period=all", aida.id);
          assert.equal(board.status, 200);
          assert.ok(board.body.managers.some((row: { manager_id: string }) => row.manager_id === aida.id));
        },
      );

      await t.step("a refund, and the audit trail says who took it", async () => {
        const refunded = await call(`students/${studentId}/refund`, aida.id, {
          amount: 100,
          reason: "deployed",
        });
        assert.equal(refunded.status, 200, JSON.stringify(refunded.body));
        const audit = await call(`audit?target_id=${studentId}`, saule.id);
        assert.deepEqual(
          audit.body.entries.map((entry: { action: string }) => entry.action),
          ["student.refunded", "student.created"],
        );
      });

      await t.step(
        "Saule hires a manager and deactivates her: the ban goes through Supabase Auth",
        async () => {
          const hired = await call("staff", saule.id, {
            email: `hired.${crypto.randomUUID().slice(0, 8)}@academy.kz`,
            full_name: "Hired Manager",
          });
          assert.equal(hired.status, 201, JSON.stringify(hired.body));
          const deactivated = await call(`staff/${hired.body.id}/deactivate`, saule.id, {});
          assert.equal(deactivated.status, 200, JSON.stringify(deactivated.body));
          const [login] = await database
            .sql`select banned_until > now() as banned from auth.users where id = ${hired.body.id}`;
          assert.equal(login.banned, true);
        },
      );

      await t.step(
        "a signed order becomes a student, the CRM hears of it, the export and the PDF come out of the bundles",
        async () => {
          const crm = startCrm();
          try {
            const endpoint = await call("webhooks/endpoints", saule.id, {
              url: crm.url,
              event_types: ["student.created"],
            });
            assert.equal(endpoint.status, 201, JSON.stringify(endpoint.body));
            crm.state.secrets.push(endpoint.body.secret);
            const email = `ordered.${crypto.randomUUID().slice(0, 8)}@example.kz`;
            // Aida's payment link: the signed reference that credits her with the order.
            const link = await call("payments/links", aida.id, {});
            assert.equal(link.status, 200, JSON.stringify(link.body));
            const order = await fetch(
              `${stack.url}/functions/v1/payments/webhook/standard`,
              standardRequest(checkoutSecret, {
                type: "order.paid",
                timestamp: new Date().toISOString(),
                data: {
                  order_id: `deploy-${crypto.randomUUID()}`,
                  amount: "490.00",
                  currency: "KZT",
                  customer: { email, full_name: "Ordered Student" },
                  metadata: { ref: link.body.reference },
                  send_welcome_email: false,
                },
              }),
            );
            assert.equal(order.status, 200);
            assert.equal((await order.json()).outcome, "created");
            const run = await fetch(`${stack.url}/functions/v1/webhooks/deliver`, {
              method: "POST",
              headers: { apikey: serviceKey },
            });
            assert.equal(run.status, 200, await run.clone().text());
            await run.body?.cancel();
            assert.ok(
              crm.received.some((event) =>
                event.type === "student.created" && event.data.student.email === email
              ),
            );

            const csv = await fetch(`${stack.url}/functions/v1/students/export.csv?q=ordered`, {
              headers: { authorization: `Bearer ${await token(database.sql, aida.id)}` },
            });
            assert.equal(csv.status, 200);
            assert.ok((await csv.text()).includes(email), "the export streams through the pooler");

            // A name Roboto cannot draw: the bundle fetches its fonts and HarfBuzz from Storage's bucket.
            const [certificate] = await database.sql`
              insert into public.certificates (user_id, certificate_number, full_name, course)
              values (${studentId}, 'TW-2026-900001', 'Deployed 学生 محمد 🎓', private.course_snapshot())
              returning certificate_number, verification_code`;
            const pdf = await fetch(
              `${stack.url}/functions/v1/complete-lesson/certificate/${certificate.certificate_number}/${certificate.verification_code}/certificate.pdf`,
            );
            assert.equal(pdf.status, 200);
            assert.equal(new TextDecoder().decode((await pdf.bytes()).slice(0, 5)), "%PDF-");
          } finally {
            await crm.close();
          }
        },
      );

      await t.step(
        "the runbook's smoke test through the bundles: a smoke student's whole flow, and nothing left",
        async () => {
          const output = await new Deno.Command(Deno.execPath(), {
            args: ["run", "--allow-all", "scripts/smoke.ts", stack.url],
            cwd: new URL("../", import.meta.url).pathname,
            env: {
              SMOKE_ADMIN_EMAIL: saule.email,
              SMOKE_ADMIN_PASSWORD: "tripwire-local",
              SUPABASE_PUBLISHABLE_KEY: publishableKey,
            },
            stdout: "piped",
          }).output();
          const text = new TextDecoder().decode(output.stdout);
          assert.equal(output.success, true, text);
          const functionCount = (await Array.fromAsync(Deno.readDir("supabase/functions"))).filter((entry) =>
            entry.isDirectory && !entry.name.startsWith("_")
          ).length;
          const answered = text.split("\n").filter((line) =>
            /^ok +[a-z-]+ +200 /.test(line)
          ).length;
          assert.equal(answered, functionCount, text);
          assert.match(text, /^ok +the smoke-test student is erased, nothing of them left: removed$/m);
          const [left] = await database.sql`
            select count(*)::int as n from public.users where email like '%@smoke-test.invalid'`;
          assert.equal(left.n, 0, "nothing of the smoke student is left");
        },
      );

      await t.step("a request that would wait for ever answers 503 at its deadline", async () => {
        const started = performance.now();
        let answer: Awaited<ReturnType<typeof call>> | undefined;
        await database.sql.begin(async (tx) => {
          await tx`select 1 from public.tripwire_users where user_id = ${studentId} for update`;
          answer = await call(`students/${studentId}/suspend`, aida.id, { reason: "waits for the lock" });
        });
        const waited = performance.now() - started;
        assert.equal(answer!.status, 503, JSON.stringify(answer!.body));
        assert.equal(answer!.body.error.code, "service_unavailable");
        assert.ok(Number(answer!.headers.get("retry-after")) > 0);
        assert.ok(
          waited >= requestDeadlineMs - 100 && waited < requestDeadlineMs + 5_000,
          `waited ${waited} ms`,
        );
      });
    } finally {
      await stack.stop();
      await resend.close();
      await auth.close();
      await pooler.stop();
      await database.drop();
    }
  },
});
