import assert from "node:assert/strict";
import { cloudPaymentsRequest, contentHmac, standardRequest } from "../scripts/lib/checkout.ts";
import { aida, daniyar, saule } from "./support/fixtures.ts";
import { meetAtLock } from "./support/barrier.ts";
import { expectError, expectJson } from "./support/responses.ts";
import {
  appDatabase,
  callAs,
  callFunction,
  cloudPaymentsApi,
  cloudPaymentsSecret,
  standardWebhooksSecret,
  story,
} from "./support/server.ts";
import { rowCounts } from "./support/students.ts";

const sql = appDatabase.sql;
const unique = () => crypto.randomUUID().slice(0, 8);

/** A checkout's Standard Webhooks message, signed (with another secret when given). */
function signedStandard(
  message: unknown,
  options: { sentAt?: Date; secret?: string; id?: string } = {},
): RequestInit {
  return standardRequest(options.secret ?? standardWebhooksSecret, message, options);
}

/** Standard Webhooks' documented shape for a paid order: `{type, timestamp, data}`, at the offer's price. */
function orderPaid(orderId: string, email: string, extra: Record<string, unknown> = {}) {
  return {
    type: "order.paid",
    timestamp: new Date().toISOString(),
    data: {
      order_id: orderId,
      amount: "490.00",
      currency: "KZT",
      customer: { email, full_name: "Bolat Nurlanov", phone: "+77011234567" },
      metadata: {},
      send_welcome_email: false,
      ...extra,
    },
  };
}

/** A manager's payment link: the signed reference the checkout hands back with the order. */
async function paymentLink(managerId: string, body: Record<string, unknown> = {}): Promise<string> {
  const link = await expectJson(await callAs(managerId, "payments/links", body));
  return link.reference;
}

/** The review queue's entry for an order, if any. */
async function reviewOf(provider: string, orderId: string) {
  const [review] = await sql<{ id: string; reason: string; amount: string; currency: string | null }[]>`
    select id, reason, amount::text, currency from private.payment_reviews
    where provider = ${provider} and order_id = ${orderId} and kind = 'order'`;
  return review;
}

const postStandard = (init: RequestInit) => callFunction("payments/webhook/standard", init);

/** A CloudPayments notification as it sends one: a form body, signed in Content-HMAC. */
async function cloudPayments(
  notification: string,
  fields: Record<string, string>,
  options: { secret?: string; tamper?: boolean } = {},
): Promise<Response> {
  const request = await cloudPaymentsRequest(options.secret ?? cloudPaymentsSecret, fields);
  if (options.tamper) request.body = String(request.body).replace("490.00", "4.90");
  return await callFunction(`payments/webhook/cloudpayments/${notification}`, request);
}

/** The sample Pay notification of CloudPayments' documentation, for our order and buyer. */
function cloudPaymentsPay(invoiceId: string, email: string, amount = "490.00"): Record<string, string> {
  return {
    TransactionId: String(1_200_000_000 + Math.floor(Math.random() * 1e8)),
    Amount: amount,
    Currency: "KZT",
    PaymentAmount: amount,
    PaymentCurrency: "KZT",
    OperationType: "Payment",
    InvoiceId: invoiceId,
    AccountId: email,
    SubscriptionId: "",
    Name: "BOLAT NURLANOV",
    Email: email,
    DateTime: "2026-12-06 10:00:00",
    IpAddress: "46.251.83.16",
    IpCountry: "KZ",
    IpCity: "Алматы",
    CardFirstSix: "424242",
    CardLastFour: "4242",
    CardType: "Visa",
    CardExpDate: "12/28",
    TestMode: "1",
    Status: "Completed",
    GatewayName: "Test",
    Data: JSON.stringify({ full_name: "Болат Нурланов", phone: "+77011234567" }),
    TotalFee: "0",
    PaymentMethod: "",
  };
}

async function studentsWithEmail(email: string) {
  return await sql<{ user_id: string; granted_by: string; payment_amount: string; status: string }[]>`
    select user_id, granted_by, payment_amount, status from public.tripwire_users where email = ${email}`;
}

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

story(
  "CloudPayments: Check admits, Pay makes the student once, Refund refunds, as its documentation says",
  async () => {
    const email = `cp.${unique()}@example.kz`;
    const invoiceId = `TW-${unique()}`;
    const ref = await paymentLink(aida.id);
    const pay: Record<string, string> = {
      ...cloudPaymentsPay(invoiceId, email),
      Data: JSON.stringify({ full_name: "Болат Нурланов", phone: "+77011234567", ref }),
    };

    assert.deepEqual(await expectJson(await cloudPayments("check", pay)), { code: 0 });
    assert.equal((await studentsWithEmail(email)).length, 0, "Check only admits; nothing is made yet");

    assert.deepEqual(await expectJson(await cloudPayments("pay", pay)), { code: 0 });
    const [student] = await studentsWithEmail(email);
    assert.equal(student.granted_by, aida.id, "Data.ref is Aida's payment link");
    assert.equal(student.payment_amount, "490.00");
    const [named] =
      await sql`select full_name, phone from public.tripwire_users where user_id = ${student.user_id}`;
    assert.deepEqual({ ...named }, { full_name: "Болат Нурланов", phone: "+77011234567" });
    const [order] = await sql`
    select order_id, transaction_id, currency from private.payment_orders where student_id = ${student.user_id}`;
    assert.deepEqual({ ...order }, {
      order_id: invoiceId,
      transaction_id: pay.TransactionId,
      currency: "KZT",
    });

    // CloudPayments sends Pay again when our answer was lost: the same student, nothing new.
    const before = await rowCounts(sql);
    assert.deepEqual(await expectJson(await cloudPayments("pay", pay)), { code: 0 });
    // Fail and Confirm change nothing here.
    assert.deepEqual(await expectJson(await cloudPayments("fail", { ...pay, Status: "Declined" })), {
      code: 0,
    });
    assert.deepEqual(await rowCounts(sql), before);

    const refund = {
      TransactionId: String(Number(pay.TransactionId) + 1),
      PaymentTransactionId: pay.TransactionId,
      Amount: "490.00",
      Currency: "KZT",
      DateTime: "2026-12-07 09:00:00",
      OperationType: "Refund",
      InvoiceId: invoiceId,
      AccountId: email,
      Email: email,
      Data: pay.Data,
    };
    assert.deepEqual(await expectJson(await cloudPayments("refund", refund)), { code: 0 });
    assert.deepEqual(
      await expectJson(await cloudPayments("refund", refund)),
      { code: 0 },
      "sent again: once",
    );
    const [sale] =
      await sql`select status, refunded_amount from public.tripwire_users where user_id = ${student.user_id}`;
    assert.deepEqual({ ...sale }, { status: "refunded", refunded_amount: "490.00" });
    const [{ refunds }] = await sql`
    select count(*)::int as refunds from public.student_refunds where user_id = ${student.user_id}`;
    assert.equal(refunds, 1);
  },
);

story(
  "CloudPayments: Check declines any other price, currency or amount text; a tampered Pay is only queued",
  async () => {
    const before = await rowCounts(sql);
    for (
      const amount of ["0.01", "", "0x1F4", "1e3", "490,00", "490.001", "-490.00", " 490.00x", "10000001.00"]
    ) {
      const order = cloudPaymentsPay(`TW-${unique()}`, `cp.price.${unique()}@example.kz`, amount);
      assert.deepEqual(
        await expectJson(await cloudPayments("check", order)),
        { code: 12 },
        JSON.stringify(amount),
      );
    }
    const roubles: Record<string, string> = {
      ...cloudPaymentsPay(`TW-${unique()}`, `cp.rub.${unique()}@example.kz`),
      Currency: "RUB",
    };
    assert.deepEqual(await expectJson(await cloudPayments("check", roubles)), { code: 12 });
    const noInvoice = cloudPaymentsPay("", `cp.none.${unique()}@example.kz`);
    assert.deepEqual(await expectJson(await cloudPayments("check", noInvoice)), { code: 10 });
    const badEmail: Record<string, string> = { ...cloudPaymentsPay(`TW-${unique()}`, "x"), Data: "{}" };
    assert.deepEqual(await expectJson(await cloudPayments("check", badEmail)), { code: 11 });
    const taken = cloudPaymentsPay(`TW-${unique()}`, aida.email);
    assert.deepEqual(
      await expectJson(await cloudPayments("check", taken)),
      { code: 13 },
      "the e-mail is staff's",
    );
    const unsold: Record<string, string> = {
      ...cloudPaymentsPay(`TW-${unique()}`, `cp.offer.${unique()}@example.kz`),
      Data: '{"offer_id":"vip"}',
    };
    assert.deepEqual(await expectJson(await cloudPayments("check", unsold)), { code: 13 });
    // Data.email cannot replace the payer's e-mail: Check weighs Email, which is staff's here.
    const swapped = { ...taken, Data: JSON.stringify({ email: `someone.${unique()}@example.kz` }) };
    assert.deepEqual(await expectJson(await cloudPayments("check", swapped)), { code: 13 });
    assert.deepEqual(await rowCounts(sql), before, "Check writes nothing");

    // Pay of a cent (the widget's amount set in the buyer's browser): the money is recorded, nothing granted.
    const email = `cp.cent.${unique()}@example.kz`;
    const cent = cloudPaymentsPay(`TW-${unique()}`, email, "0.01");
    assert.deepEqual(await expectJson(await cloudPayments("pay", cent)), { code: 0 });
    assert.equal((await studentsWithEmail(email)).length, 0);
    const review = await reviewOf("cloudpayments", cent.InvoiceId);
    assert.deepEqual({ reason: review.reason, amount: review.amount, currency: review.currency }, {
      reason: "price_mismatch",
      amount: "0.01",
      currency: "KZT",
    });
    // A refund of an order we never saw: settled (code 0) and queued.
    const refundOfNothing = { TransactionId: `9${unique()}`, Amount: "1.00", InvoiceId: `never-${unique()}` };
    assert.deepEqual(await expectJson(await cloudPayments("refund", refundOfNothing)), { code: 0 });

    const genuine = cloudPaymentsPay(`TW-${unique()}`, `cp.forged.${unique()}@example.kz`);
    const counted = await rowCounts(sql);
    await expectError(
      await cloudPayments("pay", genuine, { secret: "another-site-secret" }),
      401,
      "invalid_signature",
    );
    await expectError(await cloudPayments("pay", genuine, { tamper: true }), 401, "invalid_signature");
    const unsigned = await callFunction("payments/webhook/cloudpayments/pay", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(genuine).toString(),
    });
    await expectError(unsigned, 401, "invalid_signature");
    const unknownKind = await callFunction("payments/webhook/cloudpayments/recurrent", {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "content-hmac": await contentHmac(cloudPaymentsSecret, ""),
      },
      body: "",
    });
    await expectError(unknownKind, 400, "validation_failed");
    assert.deepEqual(await rowCounts(sql), counted);
  },
);

story(
  "offers: an admin sets the price and a promotion; Check and Pay follow the price of the moment",
  async () => {
    const offerId = `course-${unique()}`;
    const now = Date.now();
    const promotion = {
      price: "3990",
      starts_at: new Date(now - 3_600_000).toISOString(),
      ends_at: new Date(now + 3_600_000).toISOString(),
    };
    await expectError(
      await callAs(aida.id, `payments/offers/${offerId}`, { title: "Course", list_price: "4990" }, {}, "PUT"),
      403,
      "forbidden",
    );
    const bad = await expectError(
      await callAs(
        saule.id,
        `payments/offers/${offerId}`,
        { title: "Course", list_price: "49.999" },
        {},
        "PUT",
      ),
      400,
      "validation_failed",
    );
    assert.equal(bad.error.details[0].path, "list_price");
    const offer = await expectJson(
      await callAs(
        saule.id,
        `payments/offers/${offerId}`,
        { title: "Course", list_price: "4990", promotions: [promotion] },
        {},
        "PUT",
      ),
    );
    assert.deepEqual({ list: offer.list_price, now: offer.price, currency: offer.currency }, {
      list: "4990.00",
      now: "3990.00",
      currency: "KZT",
    });
    const [audited] = await sql`
    select actor_id, target_type, changes -> 'list_price' as list_price from private.audit_log
    where action = 'offer.changed' and target_id = ${offerId}`;
    assert.deepEqual({ ...audited }, {
      actor_id: saule.id,
      target_type: "offer",
      list_price: { before: null, after: "4990.00" },
    });
    const listed = await expectJson(await callAs(aida.id, "payments/offers"));
    assert.equal(listed.default_offer_id, "tripwire");
    assert.ok(listed.offers.some((each: { id: string }) => each.id === offerId));

    const ref = await paymentLink(aida.id, { offer_id: offerId });
    const order = (amount: string): Record<string, string> => ({
      ...cloudPaymentsPay(`TW-${unique()}`, `cp.promo.${unique()}@example.kz`, amount),
      Data: JSON.stringify({ full_name: "Дана Серикова", ref }),
    });
    assert.deepEqual(
      await expectJson(await cloudPayments("check", order("4990.00"))),
      { code: 12 },
      "not the price now",
    );
    assert.deepEqual(await expectJson(await cloudPayments("check", order("3990.00"))), { code: 0 });
    const paid = order("3990.00");
    assert.deepEqual(await expectJson(await cloudPayments("pay", paid)), { code: 0 });
    const [student] = await studentsWithEmail(paid.Email);
    assert.deepEqual([student.payment_amount, student.granted_by], ["3990.00", aida.id]);
  },
);

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
