import assert from "node:assert/strict";
import { aida, daniyar, insertManager, insertStudent, saule } from "./support/fixtures.ts";
import { enrol, heartbeat, type TestStudent, watch } from "./support/learning.ts";
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

story("Aida refunds Dana: access ends at once, the feed hears, and nothing more than she paid", async (t) => {
  const { dana } = await aidasTwo(`Rf${crypto.randomUUID().slice(0, 6)}`);

  await t.step("the refund", async () => {
    const refunded = await expectJson(
      await post(aida.id, `students/${dana.id}/refund`, {
        amount: 200,
        reason: "changed her mind",
      }),
    );
    assert.equal(refunded.status, "refunded");
    assert.equal(refunded.refunded_amount, 200);
    const [row] = await sql`select status from public.tripwire_users where user_id = ${dana.id}`;
    assert.equal(row.status, "refunded");
  });

  await t.step("Dana can no longer watch or complete, and her dashboard says why", async () => {
    const beat = await heartbeat(dana, { lesson_id: 67, segments: [] });
    const refused = await expectError(beat, 403, "access_revoked");
    assert.deepEqual(refused.error.details, { status: "refunded" });
    await expectError(
      await callFunction("complete-lesson", {
        method: "POST",
        headers: { authorization: `Bearer ${dana.token}`, "content-type": "application/json" },
        body: JSON.stringify({ lesson_id: 67 }),
      }),
      403,
      "access_revoked",
    );
    const dashboard = await expectJson(
      await callFunction("student-dashboard", { headers: { authorization: `Bearer ${dana.token}` } }),
    );
    assert.deepEqual(dashboard.access, { allowed: false, reason: "refunded" });
  });

  await t.step("the feed and the detail show it", async () => {
    const detail = await expectJson(await asStaff(aida.id, `students/${dana.id}`));
    assert.equal(detail.activity[0].event_type, "student_refunded");
    assert.deepEqual(detail.activity[0].details, {
      student_name: detail.full_name,
      amount: 200,
      reason: "changed her mind",
    });
    assert.equal(detail.refunds.length, 1);
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
    // The rest is still refundable.
    const rest = await expectJson(
      await post(aida.id, `students/${dana.id}/refund`, { amount: 290, reason: "the rest" }),
    );
    assert.equal(rest.refunded_amount, 490);
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

story("two refunds of the whole payment at once: exactly one is taken", async () => {
  const student = await enrol("Double Refund");
  const responses = await Promise.all(
    [1, 2].map(() => post(aida.id, `students/${student.id}/refund`, { amount: 490, reason: "at once" })),
  );
  const statuses = responses.map((response) => response.status).sort();
  await Promise.all(responses.map((response) => response.body?.cancel()));
  assert.deepEqual(statuses, [200, 422]);
  const [row] = await sql<{ total: string }[]>`
    select sum(amount)::text as total from public.student_refunds where user_id = ${student.id}`;
  assert.equal(Number(row.total), 490);
});

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
      from auth.users where id = ${created.user_id}`;
      return login.matches;
    };
    assert.equal(await matches(created.password), true);

    const { result: reset, lines } = await captureConsole(async () =>
      await expectJson(await post(aida.id, `students/${created.user_id}/reset-password`, {}))
    );

    await t.step("a new password, shown once, e-mailed in the academy's language", () => {
      assert.equal(reset.user_id, created.user_id);
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
      const detail = await expectJson(await asStaff(aida.id, `students/${created.user_id}`));
      assert.equal(detail.activity[0].event_type, "password_reset");
      await expectError(
        await post(daniyar.id, `students/${created.user_id}/reset-password`, {}),
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
