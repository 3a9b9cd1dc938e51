import assert from "node:assert/strict";
import { HttpError } from "../supabase/functions/_shared/errors.ts";
import { authAdmin, SupabaseAuthAdmin } from "../supabase/functions/_shared/auth_admin.ts";
import { NewStudent } from "../supabase/functions/_domain/new_student.ts";
import { createTripwireUser } from "../supabase/functions/_domain/student_creation.ts";
import {
  LogEmailSender,
  maxEmailAttempts,
  ResendEmailSender,
  sendQueuedEmails,
} from "../supabase/functions/_domain/email.ts";
import { aida } from "./support/fixtures.ts";
import { startAuthServer } from "./support/auth_server.ts";
import { startResendServer } from "../scripts/lib/resend_server.ts";
import { appDatabase, callFunction, localAuth, serviceKey, story, tokenFor } from "./support/server.ts";
import { newStudentBody, postStudent, rowCounts, staff, tablesContaining } from "./support/students.ts";

const sql = appDatabase.sql;

/** Makes every insert into `table` fail, runs `work`, and removes the fault again. */
async function withFault<T>(table: string, work: () => Promise<T>): Promise<T> {
  await sql`
    create or replace function public.tripwire_test_fault() returns trigger language plpgsql as $$
    begin raise exception 'injected fault in %', tg_table_name; end $$`;
  await sql.unsafe(`create trigger tripwire_test_fault before insert on ${table}
    for each row execute function public.tripwire_test_fault()`);
  try {
    return await work();
  } finally {
    await sql.unsafe(`drop trigger tripwire_test_fault on ${table}`);
    await sql`drop function public.tripwire_test_fault()`;
  }
}

async function loginExists(email: string): Promise<boolean> {
  const [row] = await sql`select 1 from auth.users where email = ${email}`;
  return Boolean(row);
}

/** The ten writes of a student (docs/architecture.md), in order, and the login before them. */
const steps = [
  "auth.identities",
  "public.users",
  "public.tripwire_users",
  "public.tripwire_user_profile",
  "public.tripwire_module_unlocks",
  "public.student_progress",
  "public.video_tracking",
  "public.user_statistics",
  "public.user_achievements",
  "public.sales_activity_log",
  "private.email_outbox",
];

story("a fault at any step leaves every table as it was and no login behind", async (t) => {
  for (const [index, table] of steps.entries()) {
    await t.step(`step ${index + 1}: ${table} fails`, async () => {
      const body = newStudentBody(`Fault ${index}`);
      const before = await rowCounts(sql);
      const response = await withFault(table, () => postStudent(aida.id, body));
      const answer = await response.json();
      // The login's own write fails inside Supabase Auth: its 500 is Auth's, answered 502 (retry); any later
      // write is ours, a 500.
      const [status, code] = table.startsWith("auth.") ? [502, "auth_unavailable"] : [500, "internal_error"];
      assert.equal(response.status, status, JSON.stringify(answer));
      assert.equal(answer.error.code, code);
      assert.match(answer.error.request_id ?? "", /.{8,}/, "an error carries the request id for the log");
      assert.doesNotMatch(JSON.stringify(answer), /injected|insert|trigger/i, "no database detail leaks");
      assert.deepEqual(await rowCounts(sql), before);
      assert.equal(await loginExists(body.email), false);
    });
  }
});

story("after a fault, the same request succeeds: nothing half-made blocks the e-mail", async () => {
  const body = newStudentBody("Second Chance");
  const failed = await withFault("public.user_achievements", () => postStudent(aida.id, body));
  assert.equal(failed.status, 500);
  await failed.body?.cancel();
  const retried = await postStudent(aida.id, body);
  assert.equal(retried.status, 201);
  await retried.body?.cancel();
});

story("Supabase AuthAdmin: the request GoTrue's admin API expects, and the user it stores", async () => {
  const gotrue = startAuthServer(localAuth);
  try {
    const deps = {
      sql,
      authAdmin: new SupabaseAuthAdmin(gotrue.url, serviceKey),
      emailSender: new LogEmailSender(),
    };
    const input = NewStudent.parse(newStudentBody("Via GoTrue", { phone: "+77019876543" }));
    const created = await createTripwireUser(staff.aida, input, { deps });
    assert.equal(created.status, 201);

    const [create] = gotrue.requests;
    assert.equal(create.method, "POST");
    assert.equal(create.path, "/auth/v1/admin/users");
    assert.equal(create.headers["apikey"], serviceKey);
    assert.equal(create.headers["authorization"], `Bearer ${serviceKey}`);
    assert.deepEqual(create.body, {
      id: created.body.id,
      email: input.email,
      password: created.body.password,
      email_confirm: true,
      app_metadata: { role: "student", platform: "tripwire", granted_by: aida.id },
      user_metadata: { full_name: "Via GoTrue", phone: "+77019876543" },
    });
    const [student] =
      await sql`select granted_by from public.tripwire_users where user_id = ${created.body.id}`;
    assert.equal(student.granted_by, aida.id);
  } finally {
    await gotrue.close();
  }
});

story(
  "Supabase AuthAdmin: 422 email_exists → 409; a 500 → 502 and the maybe-made login is deleted",
  async () => {
    const gotrue = startAuthServer(localAuth);
    const deps = {
      sql,
      authAdmin: new SupabaseAuthAdmin(gotrue.url, serviceKey),
      emailSender: new LogEmailSender(),
    };
    try {
      const taken = NewStudent.parse(newStudentBody("Taken At GoTrue"));
      await sql`
      insert into auth.users (id, aud, role, email, encrypted_password, created_at, updated_at)
      values (${crypto.randomUUID()}, 'authenticated', 'authenticated', ${taken.email}, '', now(), now())`;
      let before = await rowCounts(sql);
      await assert.rejects(
        createTripwireUser(staff.aida, taken, { deps }),
        (error) => error instanceof HttpError && error.status === 409 && error.code === "email_exists",
      );
      assert.deepEqual(await rowCounts(sql), before);

      for (const mode of ["before_storing", "after_storing"] as const) {
        gotrue.requests.length = 0;
        gotrue.failNextCreate(mode);
        const input = NewStudent.parse(newStudentBody(`GoTrue Fails ${mode}`));
        before = await rowCounts(sql);
        await assert.rejects(
          createTripwireUser(staff.aida, input, { deps }),
          (error) => error instanceof HttpError && error.status === 502 && error.code === "auth_unavailable",
        );
        const createdId = gotrue.requests[0].body?.id;
        assert.ok(
          gotrue.requests.some((request) =>
            request.method === "GET" && request.path.endsWith(`/${createdId}`)
          ),
          "the compensating delete names the generated id",
        );
        if (mode === "after_storing") {
          assert.ok(
            gotrue.requests.some((request) => request.method === "DELETE"),
            "DELETE /admin/users/<id>",
          );
        }
        assert.deepEqual(await rowCounts(sql), before, mode);
        assert.equal(await loginExists(input.email), false);
      }
    } finally {
      await gotrue.close();
    }
  },
);

story("Supabase AuthAdmin: a failed transaction deletes the GoTrue user", async () => {
  const gotrue = startAuthServer(localAuth);
  const deps = {
    sql,
    authAdmin: new SupabaseAuthAdmin(gotrue.url, serviceKey),
    emailSender: new LogEmailSender(),
  };
  try {
    const input = NewStudent.parse(newStudentBody("Rolled Back At GoTrue"));
    const before = await rowCounts(sql);
    await assert.rejects(
      withFault("public.sales_activity_log", () => createTripwireUser(staff.aida, input, { deps })),
    );
    const createdId = gotrue.requests[0].body?.id;
    assert.ok(createdId);
    assert.ok(
      gotrue.requests.some((request) =>
        request.method === "DELETE" && request.path === `/auth/v1/admin/users/${createdId}`
      ),
      JSON.stringify(gotrue.requests.map((request) => `${request.method} ${request.path}`)),
    );
    assert.deepEqual(await rowCounts(sql), before);
  } finally {
    await gotrue.close();
  }
});

story(
  "the provider refuses the welcome e-mail: the student exists, the e-mail stays queued, a retry sends it",
  async () => {
    const resend = startResendServer();
    const emailSender = new ResendEmailSender(resend.apiKey, "Tripwire <hello@academy.example>", resend.url);
    const deps = { sql, authAdmin: authAdmin(), emailSender };
    try {
      resend.failNext(1, 500);
      const input = NewStudent.parse(newStudentBody("Queued Mail"));
      const created = await createTripwireUser(staff.aida, input, { deps });
      assert.equal(created.body.welcome_email, "queued");
      const id = created.body.id;
      const password = created.body.password!;

      let [outbox] = await sql`
      select status, attempts, last_error, sealed_password, next_attempt_at > now() as backed_off
      from private.email_outbox where user_id = ${id}`;
      assert.equal(outbox.status, "queued");
      assert.equal(outbox.attempts, 1);
      assert.match(outbox.last_error, /500/);
      assert.equal(outbox.backed_off, true);
      assert.ok(outbox.sealed_password && !outbox.sealed_password.includes(password));
      const [student] = await sql`select welcome_email_sent from public.tripwire_users where user_id = ${id}`;
      assert.equal(student.welcome_email_sent, false);

      // Not due yet: a retry run leaves it alone.
      assert.equal((await sendQueuedEmails(20, emailSender, sql)).attempted, 0);
      await sql`update private.email_outbox set next_attempt_at = now() where user_id = ${id}`;
      const report = await sendQueuedEmails(20, emailSender, sql);
      assert.deepEqual(report, { attempted: 1, sent: 1, queued: 0, failed: 0, not_configured: false });

      const [email] = resend.accepted;
      assert.deepEqual(email.body.to, [input.email]);
      assert.equal(email.body.from, "Tripwire <hello@academy.example>");
      assert.ok(email.body.text.includes(password), "the retried e-mail still carries the password");
      assert.equal(email.headers["idempotency-key"], `welcome-email/${(await outboxId(id))}`);

      [outbox] =
        await sql`select status, attempts, sealed_password from private.email_outbox where user_id = ${id}`;
      assert.deepEqual({ ...outbox }, { status: "sent", attempts: 2, sealed_password: null });
      const [sent] = await sql`select welcome_email_sent from public.tripwire_users where user_id = ${id}`;
      assert.equal(sent.welcome_email_sent, true);
      assert.deepEqual(await tablesContaining(sql, password), []);
    } finally {
      await resend.close();
    }
  },
);

async function outboxId(userId: string): Promise<string> {
  const [row] = await sql`select id::text from private.email_outbox where user_id = ${userId}`;
  return row.id;
}

story(
  `an e-mail the provider refuses ${maxEmailAttempts} times is marked failed and its sealed password erased`,
  async () => {
    const resend = startResendServer();
    const emailSender = new ResendEmailSender(resend.apiKey, "Tripwire <hello@academy.example>", resend.url);
    try {
      resend.failNext(maxEmailAttempts, 429);
      const created = await createTripwireUser(
        staff.aida,
        NewStudent.parse(newStudentBody("Never Delivered")),
        { deps: { sql, authAdmin: authAdmin(), emailSender } },
      );
      for (let attempt = 2; attempt <= maxEmailAttempts; attempt++) {
        await sql`update private.email_outbox set next_attempt_at = now() where user_id = ${created.body.id}`;
        await sendQueuedEmails(20, emailSender, sql);
      }
      const [outbox] = await sql`
      select status, attempts, sealed_password, last_error from private.email_outbox where user_id = ${created.body.id}`;
      assert.equal(outbox.status, "failed");
      assert.equal(outbox.attempts, maxEmailAttempts);
      assert.equal(outbox.sealed_password, null);
      assert.match(outbox.last_error, /429 rate_limit_exceeded/);
      assert.equal(resend.accepted.length, 0);
    } finally {
      await resend.close();
    }
  },
);

story("retry-emails is for the service role only", async () => {
  const anonymous = await callFunction("create-tripwire-user/retry-emails", { method: "POST" });
  assert.equal(anonymous.status, 401);
  await anonymous.body?.cancel();
  const manager = await callFunction("create-tripwire-user/retry-emails", {
    method: "POST",
    headers: { authorization: `Bearer ${await tokenFor(aida.id)}` },
  });
  assert.equal(manager.status, 403);
  await manager.body?.cancel();
  const wrongKey = await callFunction("create-tripwire-user/retry-emails", {
    method: "POST",
    headers: { apikey: `${serviceKey}x` },
  });
  assert.equal(wrongKey.status, 403);
  await wrongKey.body?.cancel();

  await sql`
    insert into private.idempotency_keys (manager_id, idempotency_key, request_hash, expires_at)
    values (${aida.id}, 'long-expired', 'x', now() - interval '1 day')`;
  const scheduler = await callFunction("create-tripwire-user/retry-emails", {
    method: "POST",
    headers: { authorization: `Bearer ${serviceKey}` },
  });
  assert.equal(scheduler.status, 200);
  const report = await scheduler.json();
  assert.equal(typeof report.emails.attempted, "number");
  assert.ok(report.expired_idempotency_keys >= 1);
  const [left] = await sql`select 1 from private.idempotency_keys where idempotency_key = 'long-expired'`;
  assert.equal(left, undefined);
});
