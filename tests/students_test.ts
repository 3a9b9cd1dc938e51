/** A manager's students: the list, search, filters and paging, one student in detail, and bad input. */
import assert from "node:assert/strict";
import { aida, daniyar, insertManager, insertStudent, saule } from "./support/fixtures.ts";
import { enrol, watch } from "./support/learning.ts";

import { expectError, expectJson } from "./support/responses.ts";
import { story } from "./support/server.ts";
import { rowCounts } from "./support/students.ts";

import { aidasTwo, asStaff, post, sql } from "./support/staff_calls.ts";

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
