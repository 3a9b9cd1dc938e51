/** CloudPayments' notifications (Check, Pay, Refund) as its documentation sends them, and offers' prices. */
import assert from "node:assert/strict";
import { contentHmac } from "../scripts/lib/checkout.ts";
import { aida, saule } from "./support/fixtures.ts";

import { expectError, expectJson } from "./support/responses.ts";
import { callAs, callFunction, cloudPaymentsSecret, story } from "./support/server.ts";
import { rowCounts } from "./support/students.ts";
import {
  cloudPayments,
  cloudPaymentsPay,
  paymentLink,
  reviewOf,
  sql,
  studentsWithEmail,
  unique,
} from "./support/orders.ts";

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
