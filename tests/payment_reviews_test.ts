/** The review queue, the providers' rate, the reconciliation and refunds through CloudPayments' API. */
import assert from "node:assert/strict";

import { aida, daniyar, saule } from "./support/fixtures.ts";

import { expectError, expectJson } from "./support/responses.ts";
import { callAs, cloudPaymentsApi, story } from "./support/server.ts";

import {
  cloudPayments,
  cloudPaymentsPay,
  orderPaid,
  postStandard,
  reviewOf,
  signedStandard,
  sql,
  studentsWithEmail,
  unique,
} from "./support/orders.ts";

story("the review queue: an admin lists what waits and resolves each, audited", async () => {
  const queue = async (change: Record<string, unknown>, email = `review.${unique()}@example.kz`) =>
    (await expectJson(await postStandard(signedStandard(orderPaid(`Q-${unique()}`, email, change))))).review;
  const typo = await queue({ customer: { email: "bolat@@example.kz", full_name: "Bolat Typo" } });
  const staffEmail = await queue({ customer: { email: daniyar.email, full_name: "Daniyar's sister" } });
  const roubles = await queue({ currency: "RUB" });

  await expectError(await callAs(aida.id, "payments/reviews"), 403, "forbidden");
  const page = await expectJson(await callAs(saule.id, "payments/reviews"));
  assert.ok(page.open >= 3);
  const ids = page.reviews.map((review: { id: number }) => review.id);
  assert.ok([typo.id, staffEmail.id, roubles.id].every((id) => ids.includes(id)));

  const corrected = `bolat.fixed.${unique()}@example.kz`;
  const made = await expectJson(
    await callAs(saule.id, `payments/reviews/${typo.id}/resolve`, {
      action: "create_student",
      email: corrected,
    }),
  );
  assert.equal(made.resolution, "student_created");
  const [student] = await studentsWithEmail(corrected);
  assert.equal(made.student_id, student.user_id);
  assert.equal(student.payment_amount, "490.00");
  const again = await callAs(saule.id, `payments/reviews/${typo.id}/resolve`, {
    action: "dismiss",
    note: "x",
  });
  await expectError(again, 409, "already_resolved");

  const attached = await expectJson(
    await callAs(saule.id, `payments/reviews/${staffEmail.id}/resolve`, {
      action: "attach",
      student_id: student.user_id,
      note: "She paid with her brother's e-mail",
    }),
  );
  assert.equal(attached.resolution, "attached");
  const rejected = await expectError(
    await callAs(saule.id, `payments/reviews/${roubles.id}/resolve`, { action: "create_student" }),
    400,
    "validation_failed",
  );
  assert.match(rejected.error.message, /RUB/);
  const dismissed = await expectJson(
    await callAs(saule.id, `payments/reviews/${roubles.id}/resolve`, {
      action: "refunded",
      note: "Refunded in CloudPayments' dashboard",
    }),
  );
  assert.equal(dismissed.resolution, "refunded");
  const audits = await sql`
    select target_id, reason from private.audit_log where action = 'payment.reviewed'
    and target_id = any(${[String(typo.id), String(staffEmail.id), String(roubles.id)]}) order by id`;
  assert.equal(audits.length, 3);
  const missingNote = await expectError(
    await callAs(saule.id, `payments/reviews/${roubles.id}/resolve`, { action: "dismiss" }),
    400,
    "validation_failed",
  );
  assert.equal(missingNote.error.details[0].path, "note");
});

story(
  "orders are not a person's sales: 200 orders from two providers in one minute are all recorded, none 429",
  async () => {
    const orders = Array.from({ length: 200 }, (_, index) => index);
    const answers: number[] = [];
    // Twenty at a time, alternating providers, as two checkouts' bursts would arrive.
    for (let start = 0; start < orders.length; start += 20) {
      const batch = await Promise.all(
        orders.slice(start, start + 20).map(async (index) => {
          const email = `burst.${index}.${unique()}@example.kz`;
          const response = index % 2 === 0
            ? await postStandard(signedStandard(orderPaid(`S-${unique()}`, email)))
            : await cloudPayments("pay", cloudPaymentsPay(`TW-${unique()}`, email));
          await response.body?.cancel();
          return response.status;
        }),
      );
      answers.push(...batch);
    }
    assert.deepEqual(answers.filter((status) => status !== 200), []);
    const [{ made }] = await sql`
    select count(*)::int as made from public.tripwire_users where email like 'burst.%'`;
    assert.equal(made, 200);
  },
);

story(
  "the books match the providers: every queue outcome shows up in the reconciliation, nothing unexplained",
  async () => {
    const created = `K-${unique()}`;
    const repeat = `K-${unique()}`;
    const cheap = `K-${unique()}`;
    const email = `books.${unique()}@example.kz`;
    await expectJson(await postStandard(signedStandard(orderPaid(created, email))));
    await expectJson(await postStandard(signedStandard(orderPaid(repeat, email))));
    const queued = await expectJson(
      await postStandard(
        signedStandard(orderPaid(cheap, `books.cheap.${unique()}@example.kz`, { amount: "9.99" })),
      ),
    );
    await expectJson(
      await callAs(saule.id, `payments/reviews/${queued.review.id}/resolve`, {
        action: "dismiss",
        note: "A test",
      }),
    );
    const refundId = `KR-${unique()}`;
    await expectJson(
      await postStandard(signedStandard({
        type: "order.refunded",
        timestamp: new Date().toISOString(),
        data: {
          order_id: created,
          refund_id: refundId,
          amount: "500.00",
          currency: "KZT",
          reason: "Too much",
        },
      })),
    );

    await expectError(await callAs(aida.id, "payments/reconciliation"), 403, "forbidden");
    const report = await expectJson(await callAs(saule.id, "payments/reconciliation"));
    assert.equal(
      report.unexplained,
      0,
      JSON.stringify(
        report.differences.filter((d: { explanation: string }) => d.explanation === "unexplained"),
      ),
    );
    const why = (orderId: string, kind = "order") =>
      report.differences.find((line: { order_id: string; kind: string }) =>
        line.order_id === orderId && line.kind === kind
      );
    assert.equal(why(created), undefined, "a sale as notified is no difference");
    assert.match(why(repeat).explanation, /^attached: a repeat purchase/);
    assert.deepEqual([why(repeat).notified, why(repeat).booked], ["490.00", "0.00"]);
    assert.equal(why(cheap).explanation, "resolved: dismissed");
    assert.equal(why(created, "refund").explanation, "in review: refund_exceeds_payment");
    // Each day's difference is what its listed lines add up to.
    for (const day of report.days) {
      const lines = report.differences.filter((line: { day: string; provider: string; currency: string }) =>
        line.day === day.day && line.provider === day.provider && line.currency === day.currency
      );
      const cents = (value: string) => Math.round(Number(value) * 100);
      const listed = lines.reduce(
        (sum: number, line: { kind: string; notified: string; booked: string }) =>
          sum + (line.kind === "order" ? 1 : -1) * (cents(line.notified) - cents(line.booked)),
        0,
      );
      assert.equal(cents(day.difference), listed, `${day.day} ${day.provider} ${day.currency}`);
    }

    const csv = await callAs(saule.id, "payments/reconciliation.csv");
    assert.equal(csv.status, 200);
    assert.equal(csv.headers.get("content-type"), "text/csv; charset=utf-8");
    const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(await csv.arrayBuffer());
    assert.ok(text.startsWith("\uFEFFday,provider,currency,notified_paid"));
    assert.ok(text.includes(`,order,${repeat},,KZT,490.00,0.00,attached: a repeat purchase`));
    await expectError(
      await callAs(saule.id, "payments/reconciliation?from=2026-12-07&to=2026-12-01"),
      400,
      "validation_failed",
    );
  },
);

story("an admin refunds a queued CloudPayments payment through CloudPayments' API, once", async () => {
  const cent = cloudPaymentsPay(`TW-${unique()}`, `cp.refund.${unique()}@example.kz`, "0.01");
  assert.deepEqual(await expectJson(await cloudPayments("pay", cent)), { code: 0 });
  const review = await reviewOf("cloudpayments", cent.InvoiceId);

  // CloudPayments refuses this one first: the entry stays open, the admin is told why.
  cloudPaymentsApi.refusing.add(Number(cent.TransactionId));
  const refused = await callAs(saule.id, `payments/reviews/${review.id}/resolve`, { action: "refund" });
  const error = await expectError(refused, 502, "provider_error");
  assert.match(error.error.message, /not possible/);
  const [open] = await sql`select resolved_at from private.payment_reviews where id = ${review.id}`;
  assert.equal(open.resolved_at, null);

  cloudPaymentsApi.refusing.delete(Number(cent.TransactionId));
  const resolved = await expectJson(
    await callAs(saule.id, `payments/reviews/${review.id}/resolve`, {
      action: "refund",
      note: "Paid a cent",
    }),
  );
  assert.equal(resolved.resolution, "refunded");
  assert.match(resolved.resolution_note, /^Refunded through CloudPayments \(refund \d+\)\. Paid a cent$/);
  const made = cloudPaymentsApi.refunds.filter((refund) =>
    refund.transactionId === Number(cent.TransactionId)
  );
  assert.deepEqual(made, [{
    transactionId: Number(cent.TransactionId),
    amount: 0.01,
    requestId: `tripwire-review-${review.id}-1`,
  }]);
  await expectError(
    await callAs(saule.id, `payments/reviews/${review.id}/resolve`, { action: "refund" }),
    409,
    "already_resolved",
  );

  // A Standard Webhooks checkout has no refund API here: refunded there, then marked.
  const standard = await expectJson(
    await postStandard(
      signedStandard(orderPaid(`Q-${unique()}`, `std.${unique()}@example.kz`, { amount: "1.00" })),
    ),
  );
  await expectError(
    await callAs(saule.id, `payments/reviews/${standard.review.id}/resolve`, { action: "refund" }),
    400,
    "validation_failed",
  );
});
