import assert from "node:assert/strict";
import { aida, daniyar, insertManager, insertStudent, saule } from "./support/fixtures.ts";
import { complete, enrol, graduate, heartbeat, type TestStudent, watch } from "./support/learning.ts";
import { meetAtLock } from "./support/barrier.ts";
import { expectError, expectJson } from "./support/responses.ts";
import { appDatabase, callFunction, serviceKey, story, tokenFor } from "./support/server.ts";
import {
  captureConsole,
  newStudentBody,
  postStudent,
  rowCounts,
  tablesContaining,
} from "./support/students.ts";
import { startGoTrueServer } from "./support/gotrue_server.ts";
import { SupabaseAuthAdmin } from "../supabase/functions/_shared/auth_admin.ts";

const sql = appDatabase.sql;

async function asStaff(userId: string, path: string, init: RequestInit = {}): Promise<Response> {
  return await callFunction(path, {
    ...init,
    headers: {
      authorization: `Bearer ${await tokenFor(userId)}`,
      ...(init.body ? { "content-type": "application/json" } : {}),
      ...init.headers,
    },
  });
}

function post(userId: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  return asStaff(userId, path, { method: "POST", body: JSON.stringify(body), headers });
}

/** Aida sells to Bolat and Dana (names carry a marker, so a search finds exactly them); Bolat watches. */
async function aidasTwo(marker: string): Promise<{ bolat: TestStudent; dana: TestStudent }> {
  const bolat = await enrol(`Bolat ${marker}`);
  const dana = await enrol(`Dana ${marker}`);
  await watch(sql, bolat, 67, 0, 120, 10);
  return { bolat, dana };
}

story("Bolat watched for days without completing: Aida sees it in his row and his detail", async () => {
  const bolat = await enrol(`Bolat Watching ${crypto.randomUUID().slice(0, 6)}`);
  const before = await expectJson(await asStaff(aida.id, `students/${bolat.id}`));
  assert.equal(before.last_activity_at, null);
  assert.equal(before.lessons[0].status, "not_started");

  await watch(sql, bolat, 67, 0, 300, 10);
  const detail = await expectJson(await asStaff(aida.id, `students/${bolat.id}`));
  assert.ok(detail.last_activity_at, "his watching is his last activity");
  assert.ok(Date.now() - Date.parse(detail.last_activity_at) < 120_000);
  assert.equal(detail.stage, "in_progress");
  assert.deepEqual(
    { status: detail.lessons[0].status, watch_percentage: detail.lessons[0].watch_percentage },
    { status: "in_progress", watch_percentage: 50 },
  );
  const list = await expectJson(
    await asStaff(aida.id, `students?q=${encodeURIComponent(detail.full_name)}&sort=recently_active`),
  );
  assert.equal(list.students[0].last_activity_at, detail.last_activity_at);
  // What supabase-js reads under row level security says the same: his progress row started.
  const [progress] = await sql`
    select status, started_at from public.student_progress where user_id = ${bolat.id} and lesson_id = 67`;
  assert.equal(progress.status, "in_progress");
  assert.ok(progress.started_at);
});

story("who stalled: Aida sorts and filters her students by last activity, a page at a time", async (t) => {
  const marker = `St${crypto.randomUUID().slice(0, 6)}`;
  // Four students: one never started, three whose last watching was 10, 3 and 1 days ago.
  const never = await enrol(`Nurlan ${marker}`);
  const watched = [];
  for (const [name, daysAgo] of [["Asel", 10], ["Berik", 3], ["Cholpon", 1]] as const) {
    const student = await enrol(`${name} ${marker}`);
    await watch(sql, student, 67, 0, 30, 10);
    await sql`update private.student_activity set last_activity_at = now() - make_interval(days => ${daysAgo})
              where user_id = ${student.id}`;
    watched.push(student);
  }
  const [asel, berik, cholpon] = watched;
  const ids = (list: { students: { id: string }[] }) => list.students.map((student) => student.id);
  const daysAgo = (days: number) =>
    encodeURIComponent(new Date(Date.now() - days * 86_400_000).toISOString());

  await t.step("the list shows each one's last activity; never-active is null", async () => {
    const list = await expectJson(await asStaff(aida.id, `students?q=${marker}`));
    const byId = new Map(
      list.students.map((s: { id: string; last_activity_at: string | null }) => [s.id, s]),
    );
    assert.equal((byId.get(never.id) as { last_activity_at: null }).last_activity_at, null);
    const [row] =
      await sql`select last_activity_at from private.student_activity where user_id = ${berik.id}`;
    assert.equal(
      new Date((byId.get(berik.id) as { last_activity_at: string }).last_activity_at).getTime(),
      row.last_activity_at.getTime(),
    );
  });

  await t.step("idle_longest: never-active first, then the longest idle, paged two at a time", async () => {
    const first = await expectJson(await asStaff(aida.id, `students?q=${marker}&sort=idle_longest&limit=2`));
    assert.deepEqual(ids(first), [never.id, asel.id]);
    assert.ok(first.next_cursor);
    const second = await expectJson(
      await asStaff(aida.id, `students?q=${marker}&sort=idle_longest&limit=2&after=${first.next_cursor}`),
    );
    assert.deepEqual(ids(second), [berik.id, cholpon.id]);
  });

  await t.step("recently_active: the newest activity first, never-active last", async () => {
    const list = await expectJson(
      await asStaff(aida.id, `students?q=${marker}&sort=recently_active&limit=3`),
    );
    assert.deepEqual(ids(list), [cholpon.id, berik.id, asel.id]);
    const rest = await expectJson(
      await asStaff(aida.id, `students?q=${marker}&sort=recently_active&limit=3&after=${list.next_cursor}`),
    );
    assert.deepEqual(ids(rest), [never.id]);
  });

  await t.step("inactive_since and active_since split them at a moment", async () => {
    const stalled = await expectJson(
      await asStaff(aida.id, `students?q=${marker}&sort=idle_longest&inactive_since=${daysAgo(2)}`),
    );
    assert.deepEqual(ids(stalled), [never.id, asel.id, berik.id]);
    const recent = await expectJson(
      await asStaff(aida.id, `students?q=${marker}&active_since=${daysAgo(2)}`),
    );
    assert.deepEqual(ids(recent), [cholpon.id]);
  });

  await t.step("a bad moment or sort is a 400 on its field; nothing else answers", async () => {
    const moment = await expectError(
      await asStaff(aida.id, `students?inactive_since=yesterday`),
      400,
      "validation_failed",
    );
    assert.deepEqual(moment.error.details.map((detail: { path: string }) => detail.path), ["inactive_since"]);
    const sort = await expectError(await asStaff(aida.id, `students?sort=oldest`), 400, "validation_failed");
    assert.deepEqual(sort.error.details.map((detail: { path: string }) => detail.path), ["sort"]);
  });
});

story(
  "Aida's students: search, filters by status and stage, and another manager sees none of them",
  async (t) => {
    const marker = `Qx${crypto.randomUUID().slice(0, 6)}`;
    const { bolat, dana } = await aidasTwo(marker);

    await t.step("a search in any case finds both, newest first, with their progress", async () => {
      const list = await expectJson(await asStaff(aida.id, `students?q=${marker.toUpperCase()}`));
      assert.deepEqual(list.students.map((student: { id: string }) => student.id), [dana.id, bolat.id]);
      const [danaRow, bolatRow] = list.students;
      assert.equal(bolatRow.stage, "in_progress");
      assert.equal(bolatRow.current_lesson.id, 67);
      assert.equal(bolatRow.current_lesson.watch_percentage, 20);
      assert.equal(danaRow.stage, "not_started");
      assert.equal(danaRow.status, "active");
      assert.equal(danaRow.welcome_email, "skipped");
      assert.equal(danaRow.payment_amount, 490);
      assert.equal(danaRow.refunded_amount, 0);
      assert.equal(list.next_cursor, null);
    });

    await t.step("by stage and by status", async () => {
      const watching = await expectJson(await asStaff(aida.id, `students?q=${marker}&stage=in_progress`));
      assert.deepEqual(watching.students.map((student: { id: string }) => student.id), [bolat.id]);
      const fresh = await expectJson(await asStaff(aida.id, `students?q=${marker}&stage=not_started`));
      assert.deepEqual(fresh.students.map((student: { id: string }) => student.id), [dana.id]);
      const suspended = await expectJson(await asStaff(aida.id, `students?q=${marker}&status=suspended`));
      assert.deepEqual(suspended.students, []);
    });

    await t.step("a search by e-mail, and a wildcard is just a character", async () => {
      const [row] = await sql`select email from public.tripwire_users where user_id = ${bolat.id}`;
      const byEmail = await expectJson(await asStaff(aida.id, `students?q=${encodeURIComponent(row.email)}`));
      assert.deepEqual(byEmail.students.map((student: { id: string }) => student.id), [bolat.id]);
      const wildcard = await expectJson(await asStaff(aida.id, `students?q=${encodeURIComponent("%")}`));
      assert.deepEqual(wildcard.students, []);
    });

    await t.step("Daniyar neither lists them nor opens them (404, not 403)", async () => {
      const his = await expectJson(await asStaff(daniyar.id, `students?q=${marker}`));
      assert.deepEqual(his.students, []);
      await expectError(await asStaff(daniyar.id, `students/${bolat.id}`), 404, "student_not_found");
      await expectError(
        await post(daniyar.id, `students/${bolat.id}/refund`, { amount: 1, reason: "not his" }),
        404,
        "student_not_found",
      );
      await expectError(await asStaff(daniyar.id, `students?manager_id=${aida.id}`), 403, "forbidden");
    });

    await t.step("the admin sees them, among everyone's or in Aida's", async () => {
      const all = await expectJson(await asStaff(saule.id, `students?q=${marker}`));
      assert.equal(all.students.length, 2);
      const aidas = await expectJson(await asStaff(saule.id, `students?q=${marker}&manager_id=${aida.id}`));
      assert.equal(aidas.students.length, 2);
      const daniyars = await expectJson(
        await asStaff(saule.id, `students?q=${marker}&manager_id=${daniyar.id}`),
      );
      assert.deepEqual(daniyars.students, []);
    });

    await t.step("one student in detail: lesson by lesson, and their part of the feed", async () => {
      const detail = await expectJson(await asStaff(aida.id, `students/${bolat.id}`));
      assert.equal(detail.id, bolat.id);
      assert.deepEqual(detail.lessons.map((lesson: { id: number }) => lesson.id), [67, 68, 69]);
      assert.equal(detail.lessons[0].unlocked, true);
      assert.equal(detail.lessons[0].status, "in_progress");
      assert.equal(detail.lessons[1].unlocked, false);
      assert.deepEqual(detail.activity.map((event: { event_type: string }) => event.event_type), [
        "user_created",
      ]);
      assert.deepEqual(detail.refunds, []);
    });

    await t.step("students only for staff, and ids must be ids", async () => {
      await expectError(await asStaff(bolat.id, "students"), 403, "forbidden");
      await expectError(await asStaff(aida.id, "students/not-a-uuid"), 400, "validation_failed");
      await expectError(await asStaff(aida.id, `students/${crypto.randomUUID()}`), 404, "student_not_found");
    });
  },
);

story("250 students page by 37 without a duplicate or a gap, newest first", async () => {
  const manager = await insertManager(sql, "Paging Manager");
  for (let i = 0; i < 250; i++) {
    await insertStudent(sql, {
      managerId: manager.id,
      email: `paged.${i}.${manager.id.slice(0, 8)}@example.kz`,
      fullName: `Paged ${i}`,
    });
  }
  // Several share a creation time (one transaction each, but the clock is coarse): the id breaks ties.
  await sql`update public.tripwire_users set created_at = date_trunc('second', created_at) where granted_by = ${manager.id}`;
  const expected = await sql<{ user_id: string }[]>`
    select user_id from public.tripwire_users where granted_by = ${manager.id} order by created_at desc, user_id desc`;
  const seen: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 20; page++) {
    const path: string = `students?limit=37${cursor ? `&after=${cursor}` : ""}`;
    const list = await expectJson(await asStaff(manager.id, path));
    seen.push(...list.students.map((student: { id: string }) => student.id));
    cursor = list.next_cursor;
    if (!cursor) break;
  }
  assert.equal(seen.length, 250);
  assert.deepEqual(seen, expected.map((row) => row.user_id));
});

story("Aida refunds Dana in two parts: she keeps learning until the sale is refunded in full", async (t) => {
  const { dana } = await aidasTwo(`Rf${crypto.randomUUID().slice(0, 6)}`);

  await t.step("a partial refund: the sale is 200 less, and Dana keeps her access", async () => {
    const refunded = await expectJson(
      await post(aida.id, `students/${dana.id}/refund`, { amount: 200, reason: "changed her mind" }),
    );
    assert.equal(refunded.status, "active");
    assert.equal(refunded.refunded_amount, 200);
    const [row] =
      await sql`select status, refunded_amount from public.tripwire_users where user_id = ${dana.id}`;
    assert.deepEqual({ ...row }, { status: "active", refunded_amount: "200.00" });
    const beat = await heartbeat(dana, { lesson_id: 67, segments: [] });
    assert.equal(beat.status, 200);
    await beat.body?.cancel();
  });

  await t.step("more than what is left → 422, and nothing changed", async () => {
    const before = await rowCounts(sql);
    const refused = await expectError(
      await post(aida.id, `students/${dana.id}/refund`, { amount: 290.01, reason: "too much" }),
      422,
      "refund_exceeds_payment",
    );
    assert.deepEqual(refused.error.details, { refundable: 290 });
    assert.deepEqual(await rowCounts(sql), before);
  });

  await t.step("the rest: access ends at once, and her dashboard says why", async () => {
    const rest = await expectJson(
      await post(aida.id, `students/${dana.id}/refund`, { amount: 290, reason: "the rest" }),
    );
    assert.equal(rest.status, "refunded");
    assert.equal(rest.refunded_amount, 490);
    const refused = await expectError(
      await heartbeat(dana, { lesson_id: 67, segments: [] }),
      403,
      "access_revoked",
    );
    assert.deepEqual(refused.error.details, { status: "refunded" });
    await expectError(await complete(dana, 67), 403, "access_revoked");
    const dashboard = await expectJson(
      await callFunction("student-dashboard", { headers: { authorization: `Bearer ${dana.token}` } }),
    );
    assert.deepEqual(dashboard.access, { allowed: false, reason: "refunded" });
  });

  await t.step("refunded in full: one more refund → 409 already_refunded, nothing changed", async () => {
    const before = await rowCounts(sql);
    const refused = await expectError(
      await post(aida.id, `students/${dana.id}/refund`, { amount: 1, reason: "again" }),
      409,
      "already_refunded",
    );
    assert.deepEqual(refused.error.details, { refunded_amount: 490 });
    assert.deepEqual(await rowCounts(sql), before);
  });

  await t.step("the feed and the detail show both", async () => {
    const detail = await expectJson(await asStaff(aida.id, `students/${dana.id}`));
    assert.equal(detail.activity[0].event_type, "student_refunded");
    assert.deepEqual(detail.activity[0].details, {
      student_name: detail.full_name,
      amount: 290,
      reason: "the rest",
    });
    assert.deepEqual(detail.refunds.map((refund: { amount: number }) => refund.amount), [200, 290]);
  });

  await t.step("a refunded student is not reactivated or suspended (409), nothing changed", async () => {
    const before = await rowCounts(sql);
    await expectError(
      await post(aida.id, `students/${dana.id}/reactivate`, { reason: "please" }),
      409,
      "illegal_transition",
    );
    await expectError(
      await post(aida.id, `students/${dana.id}/suspend`, { reason: "why" }),
      409,
      "illegal_transition",
    );
    assert.deepEqual(await rowCounts(sql), before);
  });
});

story("with the academy's setting on, a partial refund ends access too", async () => {
  const student = await enrol("Partly Refunded");
  await sql`update academy.settings set partial_refund_ends_access = true`;
  try {
    const refunded = await expectJson(
      await post(aida.id, `students/${student.id}/refund`, { amount: 90, reason: "part" }),
    );
    assert.equal(refunded.status, "refunded");
    assert.equal(refunded.refunded_amount, 90);
    await expectError(await heartbeat(student, { lesson_id: 67, segments: [] }), 403, "access_revoked");
    // The rest of the money can still be returned.
    const rest = await expectJson(
      await post(aida.id, `students/${student.id}/refund`, { amount: 400, reason: "rest" }),
    );
    assert.equal(rest.refunded_amount, 490);
  } finally {
    await sql`update academy.settings set partial_refund_ends_access = false`;
  }
});

story("a refund with an Idempotency-Key is taken once, however often it is sent", async () => {
  const student = await enrol("Idempotent Refund");
  const send = () =>
    post(aida.id, `students/${student.id}/refund`, { amount: 100, reason: "retry" }, {
      "idempotency-key": `refund-${student.id}`,
    });
  const first = await expectJson(await send());
  const again = await send();
  assert.equal(again.headers.get("idempotent-replayed"), "true");
  assert.deepEqual(await expectJson(again), first);
  const [row] = await sql<{ count: number }[]>`
    select count(*)::int as count from public.student_refunds where user_id = ${student.id}`;
  assert.equal(row.count, 1);
});

/** The refunds' total as the sale's row keeps it, and as the refund rows add up. */
async function refundedTotals(studentId: string) {
  const [row] = await sql<{ kept: string; summed: string; refunds: number }[]>`
    select t.refunded_amount::text as kept, coalesce(sum(r.amount), 0)::text as summed, count(r.id)::int as refunds
    from public.tripwire_users t left join public.student_refunds r on r.user_id = t.user_id
    where t.user_id = ${studentId} group by t.user_id`;
  return { kept: Number(row.kept), summed: Number(row.summed), refunds: row.refunds };
}

/** Sends each refund over HTTP while the test holds the sale's row, so that they all meet at its lock. */
function refundsAtOnce(studentId: string, refunds: { by: string; amount: number; key: string }[]) {
  return meetAtLock(
    sql,
    (tx) => tx`select 1 from public.tripwire_users where user_id = ${studentId} for update`,
    refunds.length,
    () =>
      refunds.map(async ({ by, amount, key }) => {
        const response = await post(by, `students/${studentId}/refund`, { amount, reason: "at once" }, {
          "idempotency-key": key,
        });
        return { status: response.status, body: await response.json() };
      }),
  );
}

story(
  "two refunds of the whole payment meet at the lock (owner and admin): exactly one is taken",
  async () => {
    const student = await enrol("Double Refund");
    const answers = await refundsAtOnce(student.id, [
      { by: aida.id, amount: 490, key: `a-${student.id}` },
      { by: saule.id, amount: 490, key: `s-${student.id}` },
    ]);
    assert.deepEqual(answers.map((answer) => answer.status).sort(), [200, 409]);
    assert.equal(answers.find((answer) => answer.status === 409)!.body.error.code, "already_refunded");
    assert.deepEqual(await refundedTotals(student.id), { kept: 490, summed: 490, refunds: 1 });
  },
);

story("ten refunds of 100 against a sale of 490 meet at the lock: four are taken, never more", async () => {
  const student = await enrol("Ten Refunds");
  const answers = await refundsAtOnce(
    student.id,
    Array.from(
      { length: 10 },
      (_, i) => ({ by: i % 2 ? saule.id : aida.id, amount: 100, key: `${i}-${student.id}` }),
    ),
  );
  const statuses = answers.map((answer) => answer.status);
  assert.equal(statuses.filter((status) => status === 200).length, 4, statuses.join());
  assert.ok(
    answers.filter((answer) => answer.status !== 200)
      .every((answer) => answer.status === 422 && answer.body.error.code === "refund_exceeds_payment"),
    JSON.stringify(answers.filter((answer) => answer.status !== 200).map((answer) => answer.body)),
  );
  assert.deepEqual(await refundedTotals(student.id), { kept: 400, summed: 400, refunds: 4 });
  // The 90 left is still refundable, and then nothing is.
  await expectJson(await post(aida.id, `students/${student.id}/refund`, { amount: 90, reason: "the rest" }));
  assert.deepEqual(await refundedTotals(student.id), { kept: 490, summed: 490, refunds: 5 });
});

story("the database itself holds refunds to the payment, and keeps them as they were taken", async () => {
  const student = await enrol("Direct Refund");
  const insert = (amount: number) =>
    sql`insert into public.student_refunds (user_id, refunded_by, amount, reason)
        values (${student.id}, ${aida.id}, ${amount}, 'by hand')`;
  await insert(400);
  await assert.rejects(insert(90.01), {
    code: "23514",
    constraint_name: "tripwire_users_refunds_within_payment",
  });
  await assert.rejects(sql`update public.student_refunds set amount = 1 where user_id = ${student.id}`, {
    code: "42501",
  });
  await assert.rejects(sql`delete from public.student_refunds where user_id = ${student.id}`, {
    code: "42501",
  });
  await assert.rejects(
    sql`update public.tripwire_users set refunded_amount = 0 where user_id = ${student.id}`,
    {
      code: "42501",
    },
  );
  assert.deepEqual(await refundedTotals(student.id), { kept: 400, summed: 400, refunds: 1 });
});

story(
  "a refunded graduate's certificate is revoked: the public check says so, and when, never the name",
  async () => {
    const student = await enrol("Refunded Graduate");
    const certificate = (await graduate(sql, student)).certificate!;
    const check = () =>
      callFunction(
        `complete-lesson/certificate/${certificate.certificate_number}/${certificate.verification_code}`,
      );
    assert.equal((await expectJson(await check())).valid, true);

    await expectJson(await post(aida.id, `students/${student.id}/refund`, { amount: 100, reason: "part" }));
    assert.equal((await expectJson(await check())).valid, true, "a partial refund keeps the certificate");

    await expectJson(
      await post(aida.id, `students/${student.id}/refund`, { amount: 390, reason: "the rest" }),
    );
    const revoked = await expectJson(await check());
    assert.deepEqual(Object.keys(revoked).sort(), [
      "certificate_number",
      "issued_at",
      "revoked_at",
      "status",
      "valid",
    ]);
    assert.equal(revoked.valid, false);
    assert.equal(revoked.status, "revoked");
    assert.ok(!JSON.stringify(revoked).includes("Refunded Graduate"));
    const dashboard = await expectJson(
      await callFunction("student-dashboard", { headers: { authorization: `Bearer ${student.token}` } }),
    );
    assert.deepEqual(dashboard.access, { allowed: false, reason: "refunded" });
    assert.equal(dashboard.certificate.revoked_at, revoked.revoked_at);
  },
);

story("a suspension blocks access and keeps the sale; reactivation restores it", async () => {
  const student = await enrol("Suspended Student");
  const suspended = await expectJson(
    await post(aida.id, `students/${student.id}/suspend`, { reason: "unpaid" }),
  );
  assert.equal(suspended.status, "suspended");
  assert.equal(suspended.refunded_amount, 0);
  await expectError(await heartbeat(student, { lesson_id: 67, segments: [] }), 403, "access_revoked");
  await expectError(
    await post(aida.id, `students/${student.id}/suspend`, { reason: "again" }),
    409,
    "illegal_transition",
  );

  const reactivated = await expectJson(
    await post(aida.id, `students/${student.id}/reactivate`, { reason: "paid" }),
  );
  assert.equal(reactivated.status, "active");
  await expectJson(await heartbeat(student, { lesson_id: 67, segments: [] }));
  const detail = await expectJson(await asStaff(aida.id, `students/${student.id}`));
  assert.deepEqual(
    detail.activity.map((event: { event_type: string }) => event.event_type),
    ["student_reactivated", "student_suspended", "user_created"],
  );
});

story("bad input to the students routes → 400 with the field, and nothing changed", async () => {
  const student = await enrol("Bad Input Student");
  const before = await rowCounts(sql);
  const cases: [string, unknown, string][] = [
    ["refund", { amount: 0, reason: "x" }, "amount"],
    ["refund", { amount: -5, reason: "x" }, "amount"],
    ["refund", { amount: 1.005, reason: "x" }, "amount"],
    ["refund", { amount: "10", reason: "x" }, "amount"],
    ["refund", { amount: 10 }, "reason"],
    ["refund", { amount: 10, reason: "   " }, "reason"],
    ["refund", { amount: 10, reason: "x", extra: true }, "extra"],
    ["suspend", { reason: "a\u0000b" }, "reason"],
    ["reactivate", {}, "reason"],
  ];
  for (const [action, body, path] of cases) {
    const refused = await expectError(
      await post(aida.id, `students/${student.id}/${action}`, body),
      400,
      "validation_failed",
    );
    assert.ok(
      refused.error.details.some((detail: { path: string }) => detail.path === path),
      JSON.stringify(refused),
    );
  }
  await expectError(await asStaff(aida.id, "students?limit=101"), 400, "validation_failed");
  await expectError(await asStaff(aida.id, "students?after=garbage"), 400, "validation_failed");
  await expectError(await asStaff(aida.id, "students?stage=finished"), 400, "validation_failed");
  assert.deepEqual(await rowCounts(sql), before);
});

story(
  "Bolat loses his password: Aida resets it, the new one works, the old one not, and nothing holds it",
  async (t) => {
    const created = await expectJson(
      await postStudent(aida.id, newStudentBody("Bolat Forgetful", { send_welcome_email: false })),
      201,
    );
    const matches = async (password: string) => {
      const [login] = await sql<{ matches: boolean }[]>`
      select extensions.crypt(${password}, encrypted_password) = encrypted_password as matches
      from auth.users where id = ${created.id}`;
      return login.matches;
    };
    assert.equal(await matches(created.password), true);

    const { result: reset, lines } = await captureConsole(async () =>
      await expectJson(await post(aida.id, `students/${created.id}/reset-password`, {}))
    );

    await t.step("a new password, shown once, e-mailed in the academy's language", () => {
      assert.equal(reset.id, created.id);
      assert.match(reset.password, /^[A-Za-z0-9]{20}$/);
      assert.notEqual(reset.password, created.password);
      assert.equal(reset.email, "sent");
      assert.ok(lines.some((line) => line.includes("Новый пароль для курса Tripwire")), lines.join("\n"));
    });

    await t.step("the new password logs in against the bcrypt hash; the old one does not", async () => {
      assert.equal(await matches(reset.password), true);
      assert.equal(await matches(created.password), false);
    });

    await t.step("no table and no log line holds it", async () => {
      assert.deepEqual(await tablesContaining(sql, reset.password), []);
      assert.ok(lines.every((line) => !line.includes(reset.password)));
    });

    await t.step("the feed hears of it; another manager gets 404 and changes nothing", async () => {
      const detail = await expectJson(await asStaff(aida.id, `students/${created.id}`));
      assert.equal(detail.activity[0].event_type, "password_reset");
      await expectError(
        await post(daniyar.id, `students/${created.id}/reset-password`, {}),
        404,
        "student_not_found",
      );
      assert.equal(await matches(reset.password), true);
    });
  },
);

story("Supabase AuthAdmin sets a password with GoTrue's PUT /admin/users/{id}", async () => {
  const gotrue = startGoTrueServer(sql, serviceKey);
  try {
    const student = await enrol("Via GoTrue Reset");
    await new SupabaseAuthAdmin(gotrue.url, serviceKey).setPassword(student.id, "a-new-password-for-gotrue");
    const [request] = gotrue.requests;
    assert.equal(request.method, "PUT");
    assert.equal(request.path, `/auth/v1/admin/users/${student.id}`);
    assert.deepEqual(request.body, { password: "a-new-password-for-gotrue" });
    const [login] = await sql<{ matches: boolean }[]>`
      select extensions.crypt('a-new-password-for-gotrue', encrypted_password) = encrypted_password as matches
      from auth.users where id = ${student.id}`;
    assert.equal(login.matches, true);
  } finally {
    await gotrue.close();
  }
});
