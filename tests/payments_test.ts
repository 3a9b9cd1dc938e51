/**
 * Orders in through Standard Webhooks (payments): a checkout's signed order becomes a student once, credited to the
 * manager whose link sold it; what cannot be granted is kept for review; refunds go through the manager's refund.
 */
import assert from "node:assert/strict";

import { aida, daniyar, saule } from "./support/fixtures.ts";
import { meetAtLock } from "./support/barrier.ts";
import { expectError, expectJson } from "./support/responses.ts";
import { callAs, callFunction, story } from "./support/server.ts";
import { rowCounts } from "./support/students.ts";
import {
  orderPaid,
  paymentLink,
  postStandard,
  reviewOf,
  signedStandard,
  sql,
  studentsWithEmail,
  unique,
} from "./support/orders.ts";

story(
  "a checkout's signed order.paid makes Bolat a student, once, credited to the manager whose link sold it",
  async () => {
    const email = `bolat.order.${unique()}@example.kz`;
    const orderId = `A-${unique()}`;
    const ref = await paymentLink(daniyar.id);
    const paid = orderPaid(orderId, email, { metadata: { ref } });
    const first = await expectJson(await postStandard(signedStandard(paid)));
    assert.deepEqual({ ...first, student_id: undefined }, {
      outcome: "created",
      student_id: undefined,
      review: null,
    });

    const [student] = await studentsWithEmail(email);
    assert.equal(student.user_id, first.student_id);
    assert.equal(student.granted_by, daniyar.id, "the manager of the payment link");
    assert.equal(student.payment_amount, "490.00");
    const [order] = await sql`
    select provider, order_id, amount, currency, attached from private.payment_orders
    where student_id = ${student.user_id}`;
    assert.deepEqual({ ...order }, {
      provider: "standard",
      order_id: orderId,
      amount: "490.00",
      currency: "KZT",
      attached: false,
    });
    // The same transaction as a manager's sale: the login, the feed entry, the audit row, the event.
    const [login] = await sql`select email from auth.users where id = ${student.user_id}`;
    assert.equal(login.email, email);
    const [feed] = await sql`
    select manager_id, event_type from public.sales_activity_log where student_id = ${student.user_id}`;
    assert.deepEqual({ ...feed }, { manager_id: daniyar.id, event_type: "user_created" });
    const [audit] = await sql`
    select actor_id, actor_role, reason from private.audit_log
    where target_id = ${student.user_id} and action = 'student.created'`;
    assert.deepEqual({ ...audit }, {
      actor_id: null,
      actor_role: "service",
      reason: `Paid order standard:${orderId}`,
    });
    const [event] = await sql`
    select data from private.webhook_events where student_id = ${student.user_id} and event_type = 'student.created'`;
    assert.equal(event.data.source, "order");
    assert.deepEqual(event.data.student.order, { provider: "standard", order_id: orderId });

    // The checkout retries (a lost answer), and a captured copy is replayed inside the five minutes: nothing new.
    const before = await rowCounts(sql);
    const again = await expectJson(await postStandard(signedStandard(paid)));
    assert.deepEqual(again, { outcome: "already_created", student_id: first.student_id, review: null });
    await expectJson(await postStandard(signedStandard(paid)));
    assert.deepEqual(await rowCounts(sql), before);
  },
);

story("ten copies of one order at once make exactly one student", async () => {
  const email = `ten.copies.${unique()}@example.kz`;
  const orderId = `B-${unique()}`;
  const copies = Array.from({ length: 10 }, () => signedStandard(orderPaid(orderId, email)));
  // All ten wait at the claim of the order's key; the test's lock lets them go at the same moment.
  const responses = await meetAtLock(
    sql,
    (tx) => tx`lock table private.idempotency_keys in exclusive mode`,
    10,
    () => copies.map((copy) => postStandard(copy)),
  );
  const bodies = await Promise.all(responses.map((response) => expectJson(response)));
  const outcomes = bodies.map((body) => body.outcome).sort();
  assert.deepEqual(outcomes, ["already_created", ...Array(8).fill("already_created"), "created"].sort());
  assert.equal(new Set(bodies.map((body) => body.student_id)).size, 1, "every copy names the same student");
  assert.equal((await studentsWithEmail(email)).length, 1);
  const [{ logins }] = await sql`select count(*)::int as logins from auth.users where email = ${email}`;
  assert.equal(logins, 1);
  const [{ orders }] = await sql`
    select count(*)::int as orders from private.payment_orders where provider = 'standard' and order_id = ${orderId}`;
  assert.equal(orders, 1);
});

story("forged, stale and unsigned orders are refused with 401 and change nothing", async () => {
  const email = `forged.${unique()}@example.kz`;
  const message = orderPaid(`C-${unique()}`, email);
  const before = await rowCounts(sql);
  const wrongSecret = signedStandard(message, {
    secret: `whsec_${btoa("another-checkout-secret-of-ours!!")}`,
  });
  await expectError(await postStandard(wrongSecret), 401, "invalid_signature");
  const stale = signedStandard(message, { sentAt: new Date(Date.now() - 6 * 60_000) });
  const staleError = await expectError(await postStandard(stale), 401, "invalid_signature");
  assert.match(staleError.error.message, /too old/);
  const future = signedStandard(message, { sentAt: new Date(Date.now() + 6 * 60_000) });
  await expectError(await postStandard(future), 401, "invalid_signature");
  // A body changed after signing: the amount lowered on the way.
  const tampered = signedStandard(message);
  tampered.body = String(tampered.body).replace("490.00", "4.90");
  await expectError(await postStandard(tampered), 401, "invalid_signature");
  await expectError(
    await postStandard({ method: "POST", headers: { "content-type": "application/json" }, body: "{}" }),
    401,
    "invalid_signature",
  );
  assert.deepEqual(await rowCounts(sql), before);
  assert.equal((await studentsWithEmail(email)).length, 0);
});

story(
  "a paid order that cannot be granted is recorded for review and answered 200: never lost, never free",
  async () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ["a cent", { amount: "0.01" }, "price_mismatch"],
      ["over the ceiling", { amount: 10_000_001 }, "price_mismatch"],
      ["a hexadecimal amount", { amount: "0x1F4" }, "price_mismatch"],
      ["an exponent", { amount: "1e3" }, "price_mismatch"],
      ["another currency", { currency: "RUB" }, "price_mismatch"],
      ["an offer the academy does not sell", { metadata: { offer_id: "masterclass" } }, "unknown_offer"],
      ["not an e-mail", { customer: { email: "not-an-email", full_name: "Bolat" } }, "invalid_details"],
      ["a staff member's e-mail", { customer: { email: aida.email, full_name: "Aida" } }, "staff_email"],
    ];
    for (const [what, change, reason] of cases) {
      const orderId = `D-${unique()}`;
      const students = await sql`select count(*)::int as n from public.tripwire_users`;
      const answer = await expectJson(
        await postStandard(signedStandard(orderPaid(orderId, `queued.${unique()}@example.kz`, change))),
      );
      assert.equal(answer.outcome, "queued", what);
      assert.equal(answer.review.reason, reason, what);
      assert.deepEqual(await sql`select count(*)::int as n from public.tripwire_users`, students, what);
      assert.equal((await reviewOf("standard", orderId)).reason, reason, what);
      // Sent again: the same entry, nothing more.
      const again = await expectJson(
        await postStandard(signedStandard(orderPaid(orderId, `queued.${unique()}@example.kz`, change))),
      );
      assert.deepEqual({ outcome: again.outcome, id: again.review.id }, {
        outcome: "already_created",
        id: answer.review.id,
      });
    }
    const [{ entries }] = await sql`
      select count(*)::int as entries from private.payment_reviews where order_id like 'D-%' and kind = 'order'`;
    assert.ok(entries >= cases.length);

    // Not an order event at all: refused, and nothing recorded.
    const before = await rowCounts(sql);
    const noOrder = { type: "order.paid", timestamp: new Date().toISOString(), data: { amount: 1 } };
    const missing = await expectError(await postStandard(signedStandard(noOrder)), 400, "validation_failed");
    assert.ok(missing.error.details.some((detail: { path: string }) => detail.path === "data.order_id"));
    // Types this route does not act on are acknowledged, so the sender stops retrying them.
    const other = { type: "customer.updated", timestamp: new Date().toISOString(), data: {} };
    assert.deepEqual(await expectJson(await postStandard(signedStandard(other))), {
      outcome: "ignored",
      student_id: null,
      review: null,
    });
    assert.deepEqual(await rowCounts(sql), before);
  },
);

story(
  "a paid order with a student's e-mail is attached to her: a repeat purchase, no second account",
  async () => {
    const email = `repeat.${unique()}@example.kz`;
    const first = await expectJson(await postStandard(signedStandard(orderPaid(`R-${unique()}`, email))));
    const secondOrder = `R-${unique()}`;
    const second = await expectJson(await postStandard(signedStandard(orderPaid(secondOrder, email))));
    assert.deepEqual(second, { outcome: "attached", student_id: first.student_id, review: null });
    assert.equal((await studentsWithEmail(email)).length, 1);
    const [order] = await sql`
    select student_id, attached from private.payment_orders where provider = 'standard' and order_id = ${secondOrder}`;
    assert.deepEqual({ ...order }, { student_id: first.student_id, attached: true });

    // Once her access has ended (suspended), a new order waits for an admin instead.
    await sql`update public.tripwire_users set status = 'suspended' where user_id = ${first.student_id}`;
    const third = await expectJson(await postStandard(signedStandard(orderPaid(`R-${unique()}`, email))));
    assert.equal(third.review.reason, "student_without_access");
    // Where the academy says a repeat purchase gives access back, it does: attached, active again, audited.
    await sql`update academy.settings set repeat_purchase_restores_access = true`;
    try {
      const fourthOrder = `R-${unique()}`;
      const fourth = await expectJson(await postStandard(signedStandard(orderPaid(fourthOrder, email))));
      assert.deepEqual(fourth, { outcome: "attached", student_id: first.student_id, review: null });
      const [student] = await studentsWithEmail(email);
      assert.equal(student.status, "active");
      const [reactivated] = await sql`
        select actor_role, reason, changes from private.audit_log
        where target_id = ${first.student_id} and action = 'student.reactivated'`;
      assert.deepEqual({ ...reactivated }, {
        actor_role: "service",
        reason: `Paid again: order standard:${fourthOrder}`,
        changes: { status: { before: "suspended", after: "active" } },
      });
      const [feed] = await sql`
        select event_type from public.sales_activity_log
        where student_id = ${first.student_id} and event_type = 'student_reactivated'`;
      assert.equal(feed.event_type, "student_reactivated");
    } finally {
      await sql`update academy.settings set repeat_purchase_restores_access = false`;
    }
    // Her erasure reaches the queue too: the payer's name and e-mail as the provider sent them are gone.
    const erased = await callAs(saule.id, `students/${first.student_id}/erase`, {
      reason: "Her written request",
    });
    assert.equal(erased.status, 200, await erased.clone().text());
    await erased.body?.cancel();
    const [entry] = await sql`select details from private.payment_reviews where id = ${third.review.id}`;
    assert.equal(entry.details.email, `erased-${first.student_id}@erased.invalid`);
    assert.equal(entry.details.full_name, "Erased person");
    assert.equal(entry.details.phone, undefined);
  },
);

story(
  "only a genuine payment link credits a manager: unsigned, forged or expired attribution goes to the default",
  async () => {
    const creditedFor = async (metadata: Record<string, unknown>) => {
      const answer = await expectJson(
        await postStandard(
          signedStandard(orderPaid(`F-${unique()}`, `attr.${unique()}@example.kz`, { metadata })),
        ),
      );
      const [row] =
        await sql`select granted_by from public.tripwire_users where user_id = ${answer.student_id}`;
      return row.granted_by;
    };
    const genuine = await paymentLink(daniyar.id);
    assert.equal(await creditedFor({ ref: genuine }), daniyar.id);
    // The buyer's page writes metadata: a manager's id there, or a reference altered, credits the first admin.
    assert.equal(await creditedFor({ manager_id: daniyar.id, manager_email: daniyar.email }), saule.id);
    const [header, payload, signature] = genuine.split(".");
    const claims = JSON.parse(atob(payload.replaceAll("-", "+").replaceAll("_", "/")));
    const forgedPayload = btoa(JSON.stringify({ ...claims, sub: aida.id })).replaceAll("+", "-").replaceAll(
      "/",
      "_",
    )
      .replace(/=+$/, "");
    assert.equal(await creditedFor({ ref: `${header}.${forgedPayload}.${signature}` }), saule.id);
    assert.equal(await creditedFor({ ref: "not-a-reference" }), saule.id);

    await sql`update academy.settings set default_order_manager = ${aida.id}`;
    try {
      assert.equal(await creditedFor({}), aida.id, "the academy's default, when it names one");
      const expired = await expectJson(await callAs(daniyar.id, "payments/links", { valid_hours: 1 }));
      assert.ok(Date.parse(expired.expires_at) > Date.now());
      assert.equal(expired.offer.price, "490.00");
      assert.equal(expired.offer.currency, "KZT");
    } finally {
      await sql`update academy.settings set default_order_manager = null`;
    }
    await expectError(
      await callAs(daniyar.id, "payments/links", { offer_id: "nothing-like-it" }),
      404,
      "offer_not_found",
    );
    const { status } = await callFunction("payments/links", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(status, 401);
  },
);

story(
  "the checkout's order.refunded refunds through the manager's refund; every settled refund answers 200",
  async () => {
    const email = `refund.order.${unique()}@example.kz`;
    const orderId = `H-${unique()}`;
    const ref = await paymentLink(daniyar.id);
    const created = await expectJson(
      await postStandard(signedStandard(orderPaid(orderId, email, { metadata: { ref } }))),
    );
    const refund = (refundId: string, amount: string, order = orderId) => ({
      type: "order.refunded",
      timestamp: new Date().toISOString(),
      data: {
        order_id: order,
        refund_id: `${refundId}-${orderId}`,
        amount,
        currency: "KZT",
        reason: "Changed her mind",
      },
    });
    const partial = await expectJson(await postStandard(signedStandard(refund("R-1", "90.00"))));
    assert.deepEqual(partial, { outcome: "refunded", student_id: created.student_id, review: null });
    // The same refund again (a retry) takes nothing more.
    const again = await expectJson(await postStandard(signedStandard(refund("R-1", "90.00"))));
    assert.equal(again.outcome, "already_refunded");
    // More than is left: settled (200) and queued for an admin, nothing taken.
    const tooMuch = await expectJson(await postStandard(signedStandard(refund("R-2", "400.01"))));
    assert.equal(tooMuch.outcome, "queued");
    assert.equal(tooMuch.review.reason, "refund_exceeds_payment");
    await expectJson(await postStandard(signedStandard(refund("R-3", "400.00"))));
    // Refunded in full already: another refund id is settled as already refunded.
    const afterFull = await expectJson(await postStandard(signedStandard(refund("R-4", "1.00"))));
    assert.equal(afterFull.outcome, "already_refunded");

    const [sale] = await sql`
    select status, refunded_amount from public.tripwire_users where user_id = ${created.student_id}`;
    assert.deepEqual({ ...sale }, { status: "refunded", refunded_amount: "490.00" });
    const refunds = await sql`
    select r.amount, r.refunded_by, p.refund_id from public.student_refunds r
    join private.payment_refunds p on p.student_refund_id = r.id
    where r.user_id = ${created.student_id} order by r.id`;
    assert.deepEqual(refunds.map((row) => [row.amount, row.refunded_by, row.refund_id]), [
      ["90.00", daniyar.id, `R-1-${orderId}`],
      ["400.00", daniyar.id, `R-3-${orderId}`],
    ]);
    const audits = await sql`
    select actor_role from private.audit_log where target_id = ${created.student_id} and action = 'student.refunded'`;
    assert.deepEqual(audits.map((row) => row.actor_role), ["service", "service"]);
    const events = await sql`
    select data -> 'refund' as refund from private.webhook_events
    where student_id = ${created.student_id} and event_type = 'student.refunded' order by id`;
    assert.deepEqual(events.map((row) => row.refund), [
      { amount: "90.00", reason: "Changed her mind", full: false },
      { amount: "400.00", reason: "Changed her mind", full: true },
    ]);

    // A refund of an order no student came from: settled and queued.
    const unknown = await expectJson(
      await postStandard(signedStandard(refund("R-9", "1.00", `never-${unique()}`))),
    );
    assert.equal(unknown.review.reason, "unknown_order");
    // The provider refunds an order that waits in the queue: that settles the entry.
    const queuedOrder = `H-${unique()}`;
    const queued = await expectJson(
      await postStandard(
        signedStandard(orderPaid(queuedOrder, `cheap.${unique()}@example.kz`, { amount: "1.00" })),
      ),
    );
    const settled = await expectJson(await postStandard(signedStandard(refund("R-5", "1.00", queuedOrder))));
    assert.deepEqual(settled, { outcome: "refunded", student_id: null, review: queued.review });
    const [entry] = await sql`select resolution from private.payment_reviews where id = ${queued.review.id}`;
    assert.equal(entry.resolution, "refunded");
  },
);
