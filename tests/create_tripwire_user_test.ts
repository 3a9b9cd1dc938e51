/** Creating a student: one request makes the whole student; who may; a taken e-mail. */
import assert from "node:assert/strict";
import { aida, daniyar, saule } from "./support/fixtures.ts";
import { appDatabase, callFunction, story } from "./support/server.ts";
import { newStudentBody, postStudent, rowCounts, tablesContaining } from "./support/students.ts";
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
