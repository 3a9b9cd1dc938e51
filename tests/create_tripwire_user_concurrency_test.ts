import assert from "node:assert/strict";
import { aida, daniyar, saule } from "./support/fixtures.ts";
import { appDatabase, story } from "./support/server.ts";
import { newStudentBody, postStudent, rowCounts } from "./support/students.ts";

const sql = appDatabase.sql;

story("100 concurrent creations by 3 managers: 100 students, no error, no duplicate", async () => {
  const managers = [aida.id, daniyar.id, saule.id];
  const before = await rowCounts(sql);
  const bodies = Array.from(
    { length: 100 },
    (_, index) => newStudentBody(`Crowd ${index}`, { payment_amount: index }),
  );
  const responses = await Promise.all(bodies.map((body, index) => postStudent(managers[index % 3], body)));
  const answers = await Promise.all(responses.map((response) => response.json()));
  assert.deepEqual(
    responses.map((response) => response.status).filter((status) => status !== 201),
    [],
    JSON.stringify(answers.find((answer) => answer.error)),
  );
  assert.equal(new Set(answers.map((answer) => answer.id)).size, 100);
  assert.equal(new Set(answers.map((answer) => answer.password)).size, 100);

  const after = await rowCounts(sql);
  const perStudent: Record<string, number> = {
    "auth.users": 1,
    "auth.identities": 1,
    "public.users": 1,
    "public.tripwire_users": 1,
    "public.tripwire_user_profile": 1,
    "public.tripwire_module_unlocks": 1,
    "public.student_progress": 1,
    "public.video_tracking": 1,
    "public.user_statistics": 1,
    "public.user_achievements": 4,
    "public.sales_activity_log": 1,
    "private.email_outbox": 1,
  };
  for (const [table, rows] of Object.entries(perStudent)) {
    assert.equal(after[table] - before[table], 100 * rows, table);
  }
  const perManager = await sql`
    select granted_by, count(*)::int as students, sum(payment_amount)::text as revenue
    from public.tripwire_users where email = any(${bodies.map((body) => body.email)})
    group by granted_by order by granted_by`;
  assert.deepEqual(
    perManager.map((row) => ({ ...row })),
    [
      { granted_by: saule.id, students: 33, revenue: sumOf(2, 100) },
      { granted_by: aida.id, students: 34, revenue: sumOf(0, 100) },
      { granted_by: daniyar.id, students: 33, revenue: sumOf(1, 100) },
    ].sort((a, b) => a.granted_by.localeCompare(b.granted_by)),
  );
});

/** Sum of amounts start, start+3, … below end, as Postgres prints numeric(12,2). */
function sumOf(start: number, end: number): string {
  let total = 0;
  for (let amount = start; amount < end; amount += 3) total += amount;
  return total.toFixed(2);
}

story("20 concurrent requests with one Idempotency-Key: exactly one student, one answer", async () => {
  const body = newStudentBody("Clicked Twenty Times");
  const before = await rowCounts(sql);
  const responses = await Promise.all(
    Array.from({ length: 20 }, () => postStudent(aida.id, body, { "idempotency-key": "sale-20-clicks" })),
  );
  const answers = await Promise.all(responses.map((response) => response.json()));
  assert.deepEqual(
    responses.map((response) => response.status),
    Array(20).fill(201),
    JSON.stringify(answers[0]),
  );
  assert.equal(new Set(answers.map((answer) => answer.id)).size, 1);
  assert.equal(
    new Set(answers.map((answer) => answer.password)).size,
    1,
    "every retry shows the same password",
  );
  assert.equal(
    responses.filter((response) => response.headers.get("idempotent-replayed") === "true").length,
    19,
  );

  const after = await rowCounts(sql);
  assert.equal(after["public.tripwire_users"] - before["public.tripwire_users"], 1);
  assert.equal(after["auth.users"] - before["auth.users"], 1);
  assert.equal(after["private.email_outbox"] - before["private.email_outbox"], 1);
});

story(
  "Idempotency-Key: a later retry replays the first answer; another body → 422; another manager is separate",
  async () => {
    const body = newStudentBody("Retried Later");
    const first = await postStudent(daniyar.id, body, { "idempotency-key": "sale-later" });
    const firstAnswer = await first.json();
    assert.equal(first.status, 201);
    assert.equal(firstAnswer.welcome_email, "sent");
    const before = await rowCounts(sql);

    const retry = await postStudent(daniyar.id, body, { "idempotency-key": "sale-later" });
    assert.equal(retry.status, 201);
    assert.equal(retry.headers.get("idempotent-replayed"), "true");
    assert.deepEqual(
      await retry.json(),
      firstAnswer,
      "the stored first response, welcome e-mail outcome included",
    );

    const changed = await postStudent(daniyar.id, { ...body, payment_amount: 990 }, {
      "idempotency-key": "sale-later",
    });
    assert.equal(changed.status, 422);
    assert.equal((await changed.json()).error.code, "idempotency_key_reused");
    assert.deepEqual(await rowCounts(sql), before);

    // The same key from another manager names another sale (here a taken e-mail, so 409).
    const otherManager = await postStudent(aida.id, body, { "idempotency-key": "sale-later" });
    assert.equal(otherManager.status, 409);
    assert.equal((await otherManager.json()).error.code, "email_exists");
    assert.deepEqual(await rowCounts(sql), before);
  },
);

story("a failed request releases its Idempotency-Key, so the retry really runs", async () => {
  const taken = newStudentBody("Already Here");
  assert.equal((await postStudent(aida.id, taken)).status, 201);
  const conflict = await postStudent(aida.id, taken, { "idempotency-key": "sale-conflict" });
  assert.equal(conflict.status, 409);
  await conflict.body?.cancel();
  const [key] = await sql`select 1 from private.idempotency_keys where idempotency_key = 'sale-conflict'`;
  assert.equal(key, undefined);
});
