/** Refunds: in parts, with the academy's setting, idempotent, at once at the lock, held by the database, and a revoked certificate. */
import assert from "node:assert/strict";
import { aida, saule } from "./support/fixtures.ts";
import { complete, enrol, graduate, heartbeat } from "./support/learning.ts";
import { meetAtLock } from "./support/barrier.ts";
import { expectError, expectJson } from "./support/responses.ts";
import { callFunction, story } from "./support/server.ts";
import { rowCounts } from "./support/students.ts";

import { aidasTwo, asStaff, post, sql } from "./support/staff_calls.ts";

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
