import assert from "node:assert/strict";
import { aida, daniyar, saule } from "./support/fixtures.ts";
import { appDatabase, callFunction, serviceKey, story, tokenFor } from "./support/server.ts";
import {
  captureConsole,
  newStudentBody,
  postStudent,
  rowCounts,
  staff,
  tablesContaining,
} from "./support/students.ts";
import { expectJson } from "./support/responses.ts";

const sql = appDatabase.sql;

story("manager Aida sells the course to Bolat: one request makes the whole student", async (t) => {
  const response = await postStudent(aida.id, {
    email: "  Bolat.Nurlanov@Example.KZ ",
    full_name: "  Bolat Nurlanov ",
    phone: "+77011234567",
    payment_amount: 490.5,
  });
  const body = await expectJson(response, 201);
  const id = body.id;
  await t.step("the 201 answer: the student, the password shown once, not cached", async () => {
    assert.equal(response.headers.get("cache-control"), "no-store");
    assert.deepEqual(Object.keys(body).sort(), [
      "created_at",
      "currency",
      "email",
      "full_name",
      "id",
      "password",
      "payment_amount",
      "phone",
      "unlocked_module",
      "welcome_email",
    ]);
    assert.equal(body.email, "bolat.nurlanov@example.kz");
    assert.equal(body.full_name, "Bolat Nurlanov");
    assert.equal(body.phone, "+77011234567");
    assert.equal(body.payment_amount, 490.5);
    assert.equal(body.currency, "KZT");
    assert.deepEqual(body.unlocked_module, { id: 16, position: 1, title: await firstModuleTitle() });
    assert.equal(body.welcome_email, "sent");
    assert.ok(!Number.isNaN(Date.parse(body.created_at)));
    assert.match(body.password, /^[A-Za-z0-9]{20}$/);
  });

  await t.step("the login, its password bcrypt-hashed as GoTrue stores it", async () => {
    // Step 2: the login, with the password bcrypt-hashed as GoTrue stores it.
    const [login] = await sql`
      select u.email, u.aud, u.role, u.email_confirmed_at is not null as confirmed, u.raw_app_meta_data,
             u.raw_user_meta_data, u.encrypted_password like '$2a$%' as bcrypt,
             extensions.crypt(${body.password}, u.encrypted_password) = u.encrypted_password as password_matches,
             extensions.crypt('not-the-password', u.encrypted_password) = u.encrypted_password as wrong_matches,
             i.provider, i.provider_id, i.identity_data ->> 'email' as identity_email
      from auth.users u join auth.identities i on i.user_id = u.id
      where u.id = ${id}`;
    assert.equal(login.email, "bolat.nurlanov@example.kz");
    assert.equal(login.aud, "authenticated");
    assert.equal(login.confirmed, true);
    assert.equal(login.bcrypt, true);
    assert.equal(login.password_matches, true, "the password logs in against the stored hash");
    assert.equal(login.wrong_matches, false);
    assert.deepEqual(
      { ...login.raw_app_meta_data },
      { provider: "email", providers: ["email"], role: "student", platform: "tripwire", granted_by: aida.id },
    );
    assert.equal(login.raw_user_meta_data.full_name, "Bolat Nurlanov");
    assert.equal(login.provider, "email");
    assert.equal(login.provider_id, id);
    assert.equal(login.identity_email, "bolat.nurlanov@example.kz");
  });

  await t.step("users and tripwire_users: who the student is and who sold the course", async () => {
    // Step 3, the ten rows.
    const [user] = await sql`select email, full_name, role from public.users where id = ${id}`;
    assert.deepEqual({ ...user }, {
      email: "bolat.nurlanov@example.kz",
      full_name: "Bolat Nurlanov",
      role: "student",
    });

    const [student] = await sql`
      select granted_by, status, payment_amount, phone, welcome_email_sent, welcome_email_sent_at is not null as sent_at
      from public.tripwire_users where user_id = ${id}`;
    assert.deepEqual({ ...student }, {
      granted_by: aida.id,
      status: "active",
      payment_amount: "490.50",
      phone: "+77011234567",
      welcome_email_sent: true,
      sent_at: true,
    });
  });

  await t.step("profile, first module unlocked, progress and tracking for its lesson", async () => {
    const [profile] = await sql`
      select current_module_id, modules_completed, total_modules, completion_percentage, certificate_issued_at
      from public.tripwire_user_profile where user_id = ${id}`;
    assert.deepEqual({ ...profile }, {
      current_module_id: 16,
      modules_completed: 0,
      total_modules: 3,
      completion_percentage: "0.00",
      certificate_issued_at: null,
    });

    const unlocks =
      await sql`select module_id, completed_at from public.tripwire_module_unlocks where user_id = ${id}`;
    assert.deepEqual(unlocks.map((row) => ({ ...row })), [{ module_id: 16, completed_at: null }]);

    const progress =
      await sql`select lesson_id, status, watch_percentage from public.student_progress where user_id = ${id}`;
    assert.deepEqual(progress.map((row) => ({ ...row })), [{
      lesson_id: 67,
      status: "not_started",
      watch_percentage: "0.00",
    }]);

    const tracking = await sql`
      select lesson_id, status, watched_seconds, watched_ranges::text as ranges
      from public.video_tracking where user_id = ${id}`;
    assert.deepEqual(tracking.map((row) => ({ ...row })), [
      { lesson_id: 67, status: "not_started", watched_seconds: "0.00", ranges: "{}" },
    ]);
  });

  await t.step("statistics and the four achievements, all locked", async () => {
    const [statistics] = await sql`
      select lessons_completed, modules_completed, total_watch_seconds, achievements_unlocked
      from public.user_statistics where user_id = ${id}`;
    assert.deepEqual({ ...statistics }, {
      lessons_completed: 0,
      modules_completed: 0,
      total_watch_seconds: "0.00",
      achievements_unlocked: 0,
    });

    const achievements = await sql`
      select achievement_code, unlocked_at from public.user_achievements where user_id = ${id} order by achievement_code`;
    assert.deepEqual(achievements.map((row) => ({ ...row })), [
      { achievement_code: "attentive_viewer", unlocked_at: null },
      { achievement_code: "first_lesson", unlocked_at: null },
      { achievement_code: "graduate", unlocked_at: null },
      { achievement_code: "halfway", unlocked_at: null },
    ]);
  });

  await t.step("the manager hears of the sale, and the welcome e-mail went out", async () => {
    const activity = await sql`
      select manager_id, event_type, details from public.sales_activity_log where student_id = ${id}`;
    assert.equal(activity.length, 1);
    assert.equal(activity[0].manager_id, aida.id);
    assert.equal(activity[0].event_type, "user_created");
    assert.deepEqual(activity[0].details, {
      student_email: "bolat.nurlanov@example.kz",
      student_name: "Bolat Nurlanov",
      manager_name: "Aida Manager",
      payment_amount: 490.5,
    });

    const outbox = await sql`
      select recipient, template, payload, status, attempts, sent_at is not null as sent, sealed_password
      from private.email_outbox where user_id = ${id}`;
    assert.deepEqual(outbox.map((row) => ({ ...row })), [{
      recipient: "bolat.nurlanov@example.kz",
      template: "welcome",
      payload: { full_name: "Bolat Nurlanov", language: "ru" },
      status: "sent",
      attempts: 1,
      sent: true,
      sealed_password: null,
    }]);
  });

  await t.step("the password is stored nowhere in plain text", async () => {
    assert.deepEqual(
      await tablesContaining(sql, body.password),
      [],
      "the password is stored nowhere in plain text",
    );
  });
});

async function firstModuleTitle(): Promise<string> {
  // In the academy's language (Russian by default), as the answer and the feed give it.
  const [module] =
    await sql`select title ->> 'ru' as title from public.tripwire_modules order by position limit 1`;
  return module.title;
}

story("admin Saule may create a student; without a welcome e-mail nothing is queued", async () => {
  const response = await postStudent(
    saule.id,
    newStudentBody("Dana Admin-Sold", { send_welcome_email: false }),
  );
  const body = await expectJson(response, 201);
  assert.equal(body.welcome_email, "skipped");
  assert.equal(body.payment_amount, 490);
  const [student] =
    await sql`select granted_by, welcome_email_sent from public.tripwire_users where user_id = ${body.id}`;
  assert.deepEqual({ ...student }, { granted_by: saule.id, welcome_email_sent: false });
  const [{ count }] = await sql`select count(*)::int from private.email_outbox where user_id = ${body.id}`;
  assert.equal(count, 0);
});

story("a student's token → 403 and an anonymous call → 401; nothing is written", async () => {
  const before = await rowCounts(sql);
  const studentId = (await expectJson(await postStudent(daniyar.id, newStudentBody("Erlan")), 201)).id;
  const afterCreation = await rowCounts(sql);

  const asStudent = await postStudent(studentId, newStudentBody("Someone Else"));
  assert.equal((await expectJson(asStudent, 403)).error.code, "forbidden");
  const anonymous = await callFunction("create-tripwire-user", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(newStudentBody("Anonymous")),
  });
  assert.equal((await expectJson(anonymous, 401)).error.code, "missing_token");
  assert.deepEqual(await rowCounts(sql), afterCreation);
  assert.notDeepEqual(before, afterCreation);
});

story("a taken e-mail → 409 email_exists, in any case and spacing, and nothing is created", async () => {
  const body = newStudentBody("Gulnara");
  await expectJson(await postStudent(aida.id, body), 201);
  const before = await rowCounts(sql);

  const again = await postStudent(daniyar.id, { ...body, email: ` ${body.email.toUpperCase()} ` });
  const error = await expectJson(again, 409);
  assert.equal(error.error.code, "email_exists");
  assert.deepEqual(await rowCounts(sql), before);

  // A login that exists only in auth.users (say, a staff member) is taken too.
  const staffEmail = `staff.${Date.now()}@example.kz`;
  await sql`
    insert into auth.users (id, aud, role, email, encrypted_password, created_at, updated_at)
    values (${crypto.randomUUID()}, 'authenticated', 'authenticated', ${staffEmail}, '', now(), now())`;
  const withStaffEmail = await rowCounts(sql);
  const clash = await postStudent(aida.id, newStudentBody("Staff Clash", { email: staffEmail }));
  assert.equal((await expectJson(clash, 409)).error.code, "email_exists");
  assert.deepEqual(await rowCounts(sql), withStaffEmail);
});

story("five managers racing for one e-mail: exactly one student, four 409s", async () => {
  const body = newStudentBody("Raced Student");
  const before = await rowCounts(sql);
  const managers = [aida.id, daniyar.id, saule.id, aida.id, daniyar.id];
  const responses = await Promise.all(managers.map((manager) => postStudent(manager, body)));
  const statuses = await Promise.all(responses.map(async (response) => {
    const answer = await response.json();
    return response.status === 409 ? answer.error.code : response.status;
  }));
  assert.deepEqual(
    statuses.sort(),
    [201, "email_exists", "email_exists", "email_exists", "email_exists"].sort(),
  );
  const after = await rowCounts(sql);
  assert.equal(after["public.tripwire_users"], before["public.tripwire_users"] + 1);
  assert.equal(after["auth.users"], before["auth.users"] + 1, "the losers' logins were deleted again");
});

/** Malformed requests: each must answer 400 validation_failed with a field path and write nothing. */
const badBodies: [string, string | unknown, string][] = [
  ["not JSON", "{email:", ""],
  ["empty body", "", ""],
  ["JSON array", [], ""],
  ["JSON string", '"hello"', ""],
  ["JSON null", "null", ""],
  ["no email", { full_name: "A", payment_amount: 1 }, "email"],
  ["email is a number", { email: 42, full_name: "A" }, "email"],
  ["email without @", { email: "bolat.example.kz", full_name: "A" }, "email"],
  ["email with two @", { email: "a@b@example.kz", full_name: "A" }, "email"],
  ["email with spaces inside", { email: "bo lat@example.kz", full_name: "A" }, "email"],
  ["email without domain dot", { email: "bolat@localhost", full_name: "A" }, "email"],
  ["email of 400 characters", { email: `${"a".repeat(390)}@example.kz`, full_name: "A" }, "email"],
  ["empty email", { email: "", full_name: "A" }, "email"],
  ["no full_name", { email: "a@example.kz" }, "full_name"],
  ["full_name only spaces", { email: "a@example.kz", full_name: "   " }, "full_name"],
  ["full_name of 201 characters", { email: "a@example.kz", full_name: "x".repeat(201) }, "full_name"],
  ["full_name with a newline", { email: "a@example.kz", full_name: "Bolat\nBcc: x@evil.kz" }, "full_name"],
  ["full_name is an object", { email: "a@example.kz", full_name: { first: "B" } }, "full_name"],
  ["phone without +", { email: "a@example.kz", full_name: "A", phone: "87011234567" }, "phone"],
  ["phone with letters", { email: "a@example.kz", full_name: "A", phone: "+7701CALLME" }, "phone"],
  ["phone too long", { email: "a@example.kz", full_name: "A", phone: "+7701123456789012" }, "phone"],
  ["phone is a number", { email: "a@example.kz", full_name: "A", phone: 77011234567 }, "phone"],
  ["negative amount", { email: "a@example.kz", full_name: "A", payment_amount: -1 }, "payment_amount"],
  ["three decimals", { email: "a@example.kz", full_name: "A", payment_amount: 10.005 }, "payment_amount"],
  ["amount too large", { email: "a@example.kz", full_name: "A", payment_amount: 1e12 }, "payment_amount"],
  ["amount as words", { email: "a@example.kz", full_name: "A", payment_amount: "ten" }, "payment_amount"],
  ["amount as boolean", { email: "a@example.kz", full_name: "A", payment_amount: true }, "payment_amount"],
  [
    "negative amount string",
    { email: "a@example.kz", full_name: "A", payment_amount: "-5.00" },
    "payment_amount",
  ],
  [
    "send_welcome_email as string",
    { email: "a@example.kz", full_name: "A", send_welcome_email: "yes" },
    "send_welcome_email",
  ],
  ["unknown field", { email: "a@example.kz", full_name: "A", role: "admin" }, "role"],
  ["granted_by smuggled in", { email: "a@example.kz", full_name: "A", granted_by: saule.id }, "granted_by"],
  ["password smuggled in", { email: "a@example.kz", full_name: "A", password: "hunter2hunter2" }, "password"],
  ["1 MB body", { email: "a@example.kz", full_name: "A", notes: "x".repeat(1024 * 1024) }, ""],
];

story(
  `${badBodies.length} malformed bodies → 400 validation_failed with a field path, nothing written`,
  async (t) => {
    const before = await rowCounts(sql);
    for (const [name, body, path] of badBodies) {
      await t.step(name, async () => {
        const response = await postStudent(aida.id, body);
        const answer = await expectJson(response, 400);
        assert.equal(answer.error.code, "validation_failed");
        assert.ok(
          Array.isArray(answer.error.details) && answer.error.details.length > 0,
          JSON.stringify(answer),
        );
        assert.ok(
          answer.error.details.some((detail: { path: string }) => detail.path === path),
          `expected a detail at "${path}": ${JSON.stringify(answer.error.details)}`,
        );
      });
    }
    await t.step("wrong content type", async () => {
      const response = await callFunction("create-tripwire-user", {
        method: "POST",
        headers: { authorization: `Bearer ${await tokenFor(aida.id)}`, "content-type": "text/plain" },
        body: JSON.stringify(newStudentBody("Plain Text")),
      });
      assert.equal((await expectJson(response, 400)).error.code, "validation_failed");
    });
    await t.step("malformed Idempotency-Key", async () => {
      const response = await postStudent(aida.id, newStudentBody("Bad Key"), {
        "idempotency-key": "x".repeat(300),
      });
      const answer = await expectJson(response, 400);
      assert.equal(answer.error.details[0].path, "Idempotency-Key");
    });
    assert.deepEqual(await rowCounts(sql), before);
  },
);

story("a decimal string amount is accepted exactly; the amount defaults to 0", async () => {
  const exact = await expectJson(
    await postStudent(aida.id, newStudentBody("Exact", { payment_amount: "1999.99" })),
    201,
  );
  assert.equal(exact.payment_amount, 1999.99);
  const free = newStudentBody("Free Trial");
  delete (free as { payment_amount?: number }).payment_amount;
  const zero = await expectJson(await postStudent(aida.id, free), 201);
  assert.equal(zero.payment_amount, 0);
  const amounts = await sql`
    select payment_amount from public.tripwire_users where user_id in (${exact.id}, ${zero.id})
    order by payment_amount`;
  assert.deepEqual(amounts.map((row) => row.payment_amount), ["0.00", "1999.99"]);
});

story("no plain-text password in any table or log line, whatever happened to the request", async () => {
  const passwords: string[] = [];
  const { lines } = await captureConsole(async () => {
    const created = await expectJson(await postStudent(aida.id, newStudentBody("Logged Student")), 201);
    passwords.push(created.password);
    const body = newStudentBody("Retried Student");
    const first = await expectJson(
      await postStudent(daniyar.id, body, { "idempotency-key": "log-scan-1" }),
      201,
    );
    const replay = await expectJson(
      await postStudent(daniyar.id, body, { "idempotency-key": "log-scan-1" }),
      201,
    );
    assert.equal(replay.password, first.password);
    passwords.push(first.password);
    // A failure that reaches the error log.
    await sql`
      create or replace function public.tripwire_test_fault() returns trigger language plpgsql as $$
      begin raise exception 'injected fault'; end $$`;
    await sql`create trigger tripwire_test_fault before insert on public.user_statistics
      for each row execute function public.tripwire_test_fault()`;
    try {
      const failed = await postStudent(aida.id, newStudentBody("Failed Student"));
      assert.equal(failed.status, 500);
      await failed.body?.cancel();
    } finally {
      await sql`drop trigger tripwire_test_fault on public.user_statistics`;
      await sql`drop function public.tripwire_test_fault()`;
    }
    const retry = await callFunction("create-tripwire-user/retry-emails", {
      method: "POST",
      headers: { apikey: serviceKey },
    });
    await expectJson(retry, 200);
  });
  assert.ok(lines.some((line) => line.includes("email_sent")), "the local sender logged the e-mails");
  assert.ok(lines.some((line) => line.includes("injected fault")), "the fault was logged");
  for (const password of passwords) {
    assert.deepEqual(lines.filter((line) => line.includes(password)), []);
    assert.deepEqual(await tablesContaining(sql, password), []);
  }
});

story("the manager's name in the feed comes from the database, not from the token", async () => {
  const body = await expectJson(await postStudent(daniyar.id, newStudentBody("Feed Student")), 201);
  const [entry] =
    await sql`select details ->> 'manager_name' as name from public.sales_activity_log where student_id = ${body.id}`;
  assert.equal(entry.name, staff.daniyar.fullName);
});

story(
  "Aida sells an offer: at its price, or at another amount with a reason — each audited with the sale",
  async () => {
    const auditReason = async (id: string) => {
      const [row] = await sql`
      select reason from private.audit_log where target_id = ${id} and action = 'student.created'`;
      return row.reason;
    };
    const atPrice = await expectJson(
      await postStudent(
        aida.id,
        newStudentBody("Offer Price", { offer_id: "tripwire", payment_amount: "490" }),
      ),
      201,
    );
    assert.equal(await auditReason(atPrice.id), "Offer tripwire at its price 490.00");

    const before = await sql`select count(*)::int as n from public.tripwire_users`;
    const noReason = await postStudent(
      aida.id,
      newStudentBody("Offer Discount", { offer_id: "tripwire", payment_amount: 390 }),
    );
    assert.equal(noReason.status, 400);
    const refused = await noReason.json();
    assert.equal(refused.error.details[0].path, "price_reason");
    assert.match(refused.error.details[0].message, /490\.00/);
    assert.deepEqual(await sql`select count(*)::int as n from public.tripwire_users`, before);

    const discounted = await expectJson(
      await postStudent(
        aida.id,
        newStudentBody("Offer Discount", {
          offer_id: "tripwire",
          payment_amount: 390,
          price_reason: "A friend's discount",
        }),
      ),
      201,
    );
    assert.equal(
      await auditReason(discounted.id),
      "Offer tripwire: 390.00 instead of 490.00. A friend's discount",
    );

    const unknown = await postStudent(
      aida.id,
      newStudentBody("Offer Unknown", { offer_id: "no-such-offer" }),
    );
    assert.equal(unknown.status, 400);
    assert.equal((await unknown.json()).error.details[0].path, "offer_id");
  },
);

story("a smoke-test student: only an admin makes one, no e-mail, and erasing it leaves no row", async () => {
  const before = await rowCounts(appDatabase.sql);
  const refused = await postStudent(aida.id, newStudentBody("Smoke By Manager", { smoke_test: true }));
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).error.code, "forbidden");
  assert.deepEqual(await rowCounts(appDatabase.sql), before, "a refusal changes nothing");

  const smoke = await expectJson(
    await postStudent(saule.id, newStudentBody("Smoke By Admin", { smoke_test: true })),
    201,
  );
  assert.equal(smoke.welcome_email, "skipped", "a smoke test sends no e-mail");
  const [events] = await appDatabase.sql`
    select count(*)::int as all, count(*) filter (where not fanned_out)::int as to_deliver
    from private.webhook_events where student_id = ${smoke.id}`;
  assert.deepEqual({ ...events }, { all: 1, to_deliver: 0 }, "its events never go out");

  const erased = await callFunction(`students/${smoke.id}/erase`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${await tokenFor(saule.id)}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ reason: "smoke test" }),
  });
  assert.equal(erased.status, 200);
  assert.deepEqual((await erased.json()).kept, []);
  assert.deepEqual(await tablesContaining(appDatabase.sql, smoke.id), ["private.audit_log"]);
});
