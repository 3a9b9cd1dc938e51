import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { aida, daniyar, saule } from "./support/fixtures.ts";
import { meetAtLock } from "./support/barrier.ts";
import { expectError, expectJson } from "./support/responses.ts";
import {
  appDatabase,
  callFunction,
  cloudPaymentsSecret,
  standardWebhooksSecret,
  story,
} from "./support/server.ts";
import { rowCounts } from "./support/students.ts";

const sql = appDatabase.sql;
const unique = () => crypto.randomUUID().slice(0, 8);

/** A checkout's Standard Webhooks message, signed as the `standardwebhooks` library signs it. */
function signedStandard(
  message: unknown,
  options: { sentAt?: Date; secret?: string; id?: string } = {},
): RequestInit {
  const body = JSON.stringify(message);
  const id = options.id ?? `msg_${unique()}`;
  const sentAt = options.sentAt ?? new Date();
  return {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(sentAt.getTime() / 1000)),
      "webhook-signature": new Webhook(options.secret ?? standardWebhooksSecret).sign(id, sentAt, body),
    },
    body,
  };
}

/** Standard Webhooks' documented shape for a paid order: `{type, timestamp, data}`. */
function orderPaid(orderId: string, email: string, extra: Record<string, unknown> = {}) {
  return {
    type: "order.paid",
    timestamp: new Date().toISOString(),
    data: {
      order_id: orderId,
      amount: "490.00",
      currency: "KZT",
      customer: { email, full_name: "Bolat Nurlanov", phone: "+77011234567" },
      metadata: { manager_id: daniyar.id },
      send_welcome_email: false,
      ...extra,
    },
  };
}

const postStandard = (init: RequestInit) => callFunction("payments/webhook/standard", init);

/** CloudPayments' HMAC: base64 HMAC-SHA256 of the raw body with the API secret. */
async function contentHmac(body: string, secret = cloudPaymentsSecret): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signature = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body)));
  return btoa(String.fromCharCode(...signature));
}

/** A CloudPayments notification as it sends one: a form body, signed in Content-HMAC. */
async function cloudPayments(
  notification: string,
  fields: Record<string, string>,
  options: { secret?: string; tamper?: boolean } = {},
): Promise<Response> {
  const body = new URLSearchParams(fields).toString();
  const signature = await contentHmac(body, options.secret);
  return await callFunction(`payments/webhook/cloudpayments/${notification}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", "content-hmac": signature },
    body: options.tamper ? body.replace("490.00", "4.90") : body,
  });
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
    Data: JSON.stringify({ full_name: "Болат Нурланов", phone: "+77011234567", manager_email: aida.email }),
    TotalFee: "0",
    PaymentMethod: "",
  };
}

async function studentsWithEmail(email: string) {
  return await sql<{ user_id: string; granted_by: string; payment_amount: string; status: string }[]>`
    select user_id, granted_by, payment_amount, status from public.tripwire_users where email = ${email}`;
}

story(
  "a checkout's signed order.paid makes Bolat a student, once, credited to the manager it names",
  async () => {
    const email = `bolat.order.${unique()}@example.kz`;
    const orderId = `A-${unique()}`;
    const first = await expectJson(await postStandard(signedStandard(orderPaid(orderId, email))));
    assert.equal(first.outcome, "created");

    const [student] = await studentsWithEmail(email);
    assert.equal(student.user_id, first.student_id);
    assert.equal(student.granted_by, daniyar.id, "the manager in the order's metadata");
    assert.equal(student.payment_amount, "490.00");
    const [order] = await sql`
    select provider, order_id, amount, currency from private.payment_orders where student_id = ${student.user_id}`;
    assert.deepEqual({ ...order }, {
      provider: "standard",
      order_id: orderId,
      amount: "490.00",
      currency: "KZT",
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
    const again = await expectJson(await postStandard(signedStandard(orderPaid(orderId, email))));
    assert.deepEqual(again, { outcome: "already_created", student_id: first.student_id });
    const replayed = signedStandard(orderPaid(orderId, email));
    await expectJson(await postStandard(replayed));
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
  "an order over the ceiling or without a usable e-mail is refused by field, and nothing is made",
  async () => {
    const before = await rowCounts(sql);
    const tooMuch = orderPaid(`D-${unique()}`, `rich.${unique()}@example.kz`, { amount: 10_000_001 });
    const ceiling = await expectError(await postStandard(signedStandard(tooMuch)), 400, "validation_failed");
    assert.equal(ceiling.error.details[0].path, "data.amount");
    const badEmail = orderPaid(`E-${unique()}`, "not-an-email");
    const email = await expectError(await postStandard(signedStandard(badEmail)), 400, "validation_failed");
    assert.equal(email.error.details[0].path, "data.customer.email");
    const noOrder = { type: "order.paid", timestamp: new Date().toISOString(), data: { amount: 1 } };
    const missing = await expectError(await postStandard(signedStandard(noOrder)), 400, "validation_failed");
    assert.ok(missing.error.details.some((detail: { path: string }) => detail.path === "data.order_id"));
    // Types this route does not act on are acknowledged, so the sender stops retrying them.
    const other = { type: "customer.updated", timestamp: new Date().toISOString(), data: {} };
    assert.deepEqual(await expectJson(await postStandard(signedStandard(other))), {
      outcome: "ignored",
      student_id: null,
    });
    assert.deepEqual(await rowCounts(sql), before);
  },
);

story("an order naming no manager goes to the academy's default, else to the first admin", async () => {
  const toAdmin = orderPaid(`F-${unique()}`, `no.manager.${unique()}@example.kz`, { metadata: null });
  const first = await expectJson(await postStandard(signedStandard(toAdmin)));
  const [admin] = await sql`select granted_by from public.tripwire_users where user_id = ${first.student_id}`;
  assert.equal(admin.granted_by, saule.id);

  await sql`update analytics.settings set default_order_manager = ${aida.id}`;
  try {
    const unknown = orderPaid(`G-${unique()}`, `unknown.manager.${unique()}@example.kz`, {
      metadata: { manager_email: "nobody@tripwire.local" },
    });
    const second = await expectJson(await postStandard(signedStandard(unknown)));
    const [row] =
      await sql`select granted_by from public.tripwire_users where user_id = ${second.student_id}`;
    assert.equal(row.granted_by, aida.id, "an unknown name falls back to the default");
  } finally {
    await sql`update analytics.settings set default_order_manager = null`;
  }
});

story("the checkout's order.refunded refunds through the manager's refund, once per refund id", async () => {
  const email = `refund.order.${unique()}@example.kz`;
  const orderId = `H-${unique()}`;
  const created = await expectJson(await postStandard(signedStandard(orderPaid(orderId, email))));
  const refund = (refundId: string, amount: string) => ({
    type: "order.refunded",
    timestamp: new Date().toISOString(),
    data: { order_id: orderId, refund_id: refundId, amount, reason: "Changed her mind" },
  });
  const partial = await expectJson(await postStandard(signedStandard(refund("R-1", "90.00"))));
  assert.deepEqual(partial, { outcome: "refunded", student_id: created.student_id });
  // The same refund again (a retry) takes nothing more.
  const again = await expectJson(await postStandard(signedStandard(refund("R-1", "90.00"))));
  assert.equal(again.outcome, "already_refunded");
  const tooMuch = await expectError(
    await postStandard(signedStandard(refund("R-2", "400.01"))),
    422,
    "refund_exceeds_payment",
  );
  assert.equal(tooMuch.error.details.refundable, 400);
  await expectJson(await postStandard(signedStandard(refund("R-3", "400.00"))));

  const [sale] = await sql`
    select status, refunded_amount from public.tripwire_users where user_id = ${created.student_id}`;
  assert.deepEqual({ ...sale }, { status: "refunded", refunded_amount: "490.00" });
  const refunds = await sql`
    select r.amount, r.refunded_by, p.refund_id from public.student_refunds r
    join private.payment_refunds p on p.student_refund_id = r.id
    where r.user_id = ${created.student_id} order by r.id`;
  assert.deepEqual(refunds.map((row) => [row.amount, row.refunded_by, row.refund_id]), [
    ["90.00", daniyar.id, "R-1"],
    ["400.00", daniyar.id, "R-3"],
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

  const unknown = refund("R-9", "1.00");
  unknown.data.order_id = `never-${unique()}`;
  await expectError(await postStandard(signedStandard(unknown)), 404, "order_not_found");
});

story(
  "CloudPayments: Check admits, Pay makes the student once, Refund refunds, as its documentation says",
  async () => {
    const email = `cp.${unique()}@example.kz`;
    const invoiceId = `TW-${unique()}`;
    const pay = cloudPaymentsPay(invoiceId, email);

    assert.deepEqual(await expectJson(await cloudPayments("check", pay)), { code: 0 });
    assert.equal((await studentsWithEmail(email)).length, 0, "Check only admits; nothing is made yet");

    assert.deepEqual(await expectJson(await cloudPayments("pay", pay)), { code: 0 });
    const [student] = await studentsWithEmail(email);
    assert.equal(student.granted_by, aida.id, "Data.manager_email names Aida");
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

story("CloudPayments: refusals carry its documented codes, and a forged notification gets 401", async () => {
  const before = await rowCounts(sql);
  const over = cloudPaymentsPay(`TW-${unique()}`, `cp.rich.${unique()}@example.kz`, "10000001.00");
  assert.deepEqual(
    await expectJson(await cloudPayments("check", over)),
    { code: 12 },
    "amount over the ceiling",
  );
  assert.deepEqual(await expectJson(await cloudPayments("pay", over)), { code: 12 });
  const noInvoice = cloudPaymentsPay("", `cp.none.${unique()}@example.kz`);
  assert.deepEqual(await expectJson(await cloudPayments("check", noInvoice)), { code: 10 });
  const badEmail = { ...cloudPaymentsPay(`TW-${unique()}`, "x"), Data: "{}" };
  assert.deepEqual(await expectJson(await cloudPayments("check", badEmail)), { code: 11 });
  const taken = cloudPaymentsPay(`TW-${unique()}`, aida.email);
  assert.deepEqual(
    await expectJson(await cloudPayments("check", taken)),
    { code: 13 },
    "the e-mail is staff's",
  );
  const refundOfNothing = {
    TransactionId: "1",
    Amount: "1.00",
    InvoiceId: `never-${unique()}`,
    OperationType: "Refund",
  };
  assert.deepEqual(await expectJson(await cloudPayments("refund", refundOfNothing)), { code: 10 });

  const genuine = cloudPaymentsPay(`TW-${unique()}`, `cp.forged.${unique()}@example.kz`);
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
    headers: { "content-type": "application/x-www-form-urlencoded", "content-hmac": await contentHmac("") },
    body: "",
  });
  await expectError(unknownKind, 400, "validation_failed");
  assert.deepEqual(await rowCounts(sql), before);
});
