/**
 * Orders in (docs/architecture.md, "Orders in"): a provider's paid order, checked against what the academy sells,
 * becomes a student through the very path a manager's sale takes (`createTripwireUser`: the login, the rows, the
 * e-mail, the feed, the event), and its refund goes through the manager's refund (`refundStudent`).
 *
 * Money taken is never refused. Before the charge (CloudPayments' Check) an order that would not be granted is
 * declined. Once paid (Pay, `order.paid`) the order is *recorded*, whatever it says: it becomes a student, is
 * attached to the student who already has its e-mail (a repeat purchase), or goes to the review queue
 * (private.payment_reviews) for an admin — a price or currency that is not the offer's, an unknown offer, a staff
 * e-mail, details no student can be made of, a student without access. Only a fault asks the provider to retry.
 *
 * The order id is the idempotency key: the creation claims `order:<provider>:<order id>` as an Idempotency-Key of
 * the credited manager (copies at once wait for the first and replay it) and writes `private.payment_orders` in
 * the student's transaction, whose primary key keeps one student per order for ever.
 */
import { z } from "zod";

import { fieldError, validationError } from "../_shared/app.ts";
import { activity, logActivity } from "../_domain/activity.ts";
import { audit, paymentProvider } from "../_domain/audit.ts";
import { db, type Sql, withTransaction } from "../_shared/db.ts";
import { HttpError, isUniqueViolation } from "../_shared/errors.ts";
import { log } from "../_shared/log.ts";
import { NewStudent, type PaidOrder } from "../_domain/new_student.ts";
import { createTripwireUser } from "../_domain/student_creation.ts";
import { type ProviderRefund, Refund, refundStudent } from "../_domain/refunds.ts";

import { parseAmount } from "./offers.ts";
import {
  assess,
  type Assessment,
  inProviderTerms,
  type ManagerRow,
  type OrderNotice,
  parseStudent,
  problemText,
  problemWith,
  type Provider,
  type RefundNotice,
  type ReviewReason,
  reviewReasons,
  staffMember,
} from "./order_assessment.ts";

/** What a notification did; the same notification again says it was already done and does nothing. */
export const OrderOutcome = z.object({
  outcome: z.enum([
    "created",
    "already_created",
    "attached",
    "queued",
    "refunded",
    "already_refunded",
    "ignored",
  ]).meta({
    description: "`created`: a new student; `attached`: the order was recorded against the student who has " +
      "its e-mail (a repeat purchase); `queued`: recorded in the review queue for an admin (see `review`); " +
      "`already_*`: this order or refund was recorded before, nothing changed; `ignored`: not an event we act on.",
  }),
  student_id: z.uuid().nullable(),
  review: z.object({ id: z.number().int(), reason: z.enum(reviewReasons) }).nullable().meta({
    description: "The review queue's entry when the order or refund waits for an admin; null otherwise.",
  }),
}).meta({ id: "OrderOutcome" });
export type OrderOutcome = z.output<typeof OrderOutcome>;

/** What the books already hold of an order: the student it became, or its entry in the review queue. */
async function recordedOrder(sql: Sql, provider: Provider, orderId: string): Promise<OrderOutcome | null> {
  const [row] = await sql<
    { student_id: string | null; review_id: number | null; reason: ReviewReason | null }[]
  >`
    select o.student_id, null::bigint as review_id, null as reason
    from private.payment_orders o where o.provider = ${provider} and o.order_id = ${orderId}
    union all
    select r.student_id, r.id, r.reason
    from private.payment_reviews r where r.provider = ${provider} and r.order_id = ${orderId} and r.kind = 'order'
    limit 1`;
  if (!row) return null;
  return {
    outcome: "already_created",
    student_id: row.student_id,
    review: row.review_id === null ? null : { id: Number(row.review_id), reason: row.reason! },
  };
}

/**
 * Checks an order before any money moves (CloudPayments' Check): anything Pay would not grant is refused here,
 * with the field at fault — an amount that is not a plain decimal or not the offer's price, another currency,
 * an unknown offer, an e-mail no student can have, a student without access.
 */
export async function checkOrder(notice: OrderNotice, sql: Sql = db()): Promise<void> {
  if (await recordedOrder(sql, notice.provider, notice.orderId)) return;
  const assessment = await assess(sql, notice);
  const amountPath = notice.fields.payment_amount;
  if (assessment.amount === null) {
    throw fieldError(amountPath, 'not a plain decimal with at most two places, e.g. "490.00"');
  }
  parseStudent(notice, assessment.amount);
  switch (problemWith(notice, assessment)) {
    case "unknown_offer":
      throw new HttpError(409, "offer_not_found", "The order names no offer the academy sells now");
    case "price_mismatch":
      throw fieldError(
        amountPath,
        `the offer's price is ${assessment.price} ${assessment.academyCurrency}, not ${assessment.amount} ` +
          `${notice.currency ?? "(no currency)"}`,
      );
    case "staff_email":
    case "student_without_access":
      throw new HttpError(
        409,
        "email_exists",
        "This e-mail belongs to someone who cannot buy the course now",
      );
  }
}

/** A paid order that cannot be granted as sent: kept for an admin, answered as recorded. */
async function queueOrder(
  sql: Sql,
  notice: OrderNotice,
  assessment: Assessment,
  reason: ReviewReason,
  problem: string,
): Promise<OrderOutcome> {
  const [row] = await sql<{ id: string; reason: ReviewReason }[]>`
    insert into private.payment_reviews as r
      (provider, kind, order_id, reason, amount, currency, offer_id, manager_id, student_id, details)
    values (${notice.provider}, 'order', ${notice.orderId}, ${reason}, ${assessment.amount ?? "0"}::numeric,
            ${notice.currency}, ${assessment.offerId}, ${assessment.manager?.id ?? null},
            ${assessment.owner?.role === "student" ? assessment.owner.id : null},
            ${
    sql.json({
      email: notice.email,
      full_name: notice.fullName,
      phone: notice.phone,
      amount_as_sent: String(notice.amount ?? ""),
      price: assessment.price,
      academy_currency: assessment.academyCurrency,
      transaction_id: notice.transactionId,
      problem,
    })
  })
    on conflict (provider, order_id) where kind = 'order' do update set provider = r.provider
    returning r.id, r.reason`;
  log("warn", "order_queued_for_review", {
    provider: notice.provider,
    order_id: notice.orderId,
    review_id: row.id,
    reason: row.reason,
  });
  return { outcome: "queued", student_id: null, review: { id: Number(row.id), reason: row.reason } };
}

/**
 * A paid order attached to the student who already has its e-mail, recorded once, in one transaction. A student
 * without access (refunded or suspended) gets it back here when the academy's setting says so
 * (`repeat_purchase_restores_access`): active again (completed, with a valid certificate), audited as the
 * provider's reactivation, in her manager's feed.
 */
async function attachOrder(
  sql: Sql,
  notice: OrderNotice,
  studentId: string,
  amount: string,
): Promise<OrderOutcome> {
  const attached = await withTransaction(async (tx) => {
    const [row] = await tx<{ student_id: string; attached: boolean }[]>`
      insert into private.payment_orders as o
        (provider, order_id, student_id, amount, currency, transaction_id, attached)
      values (${notice.provider}, ${notice.orderId}, ${studentId}, ${amount}::numeric, ${notice.currency},
              ${notice.transactionId}, true)
      on conflict (provider, order_id) do update set provider = o.provider
      returning o.student_id, (xmax = 0) as attached`;
    if (!row.attached) return row;
    const [restored] = await tx<{ before: string; after: string; manager_id: string; full_name: string }[]>`
      with student as (
        select t.user_id, t.status as before, t.granted_by, t.full_name from public.tripwire_users t
        where t.user_id = ${studentId} and t.status in ('refunded', 'suspended')
        for update
      )
      update public.tripwire_users t
      set status = case when exists (select 1 from public.certificates c
                                     where c.user_id = t.user_id and c.revoked_at is null)
                        then 'completed'::public.student_status else 'active'::public.student_status end
      from student s, academy.settings a
      where t.user_id = s.user_id and a.repeat_purchase_restores_access
      returning s.before, t.status as after, s.granted_by as manager_id, s.full_name`;
    if (restored) {
      const reason = `Paid again: order ${notice.provider}:${notice.orderId}`;
      await audit(tx, {
        actor: paymentProvider,
        action: "student.reactivated",
        studentId,
        reason,
        changes: { status: { before: restored.before, after: restored.after } },
      });
      await logActivity(
        tx,
        restored.manager_id,
        studentId,
        activity("student_reactivated", { student_name: restored.full_name, reason }),
      );
    }
    return row;
  }, sql);
  log("info", "order_attached", {
    provider: notice.provider,
    order_id: notice.orderId,
    student_id: studentId,
  });
  return {
    outcome: attached.attached ? "attached" : "already_created",
    student_id: attached.student_id,
    review: null,
  };
}

/**
 * A paid order is recorded, exactly once: a new student, an order attached to the student who has its e-mail,
 * or an entry in the review queue. The same order again (a retry, a replay, ten copies at once) answers
 * `already_created` and records nothing more. Only a fault throws (and the provider retries).
 */
export async function receivePaidOrder(
  notice: OrderNotice,
  sql: Sql = db(),
  firstAttempt = true,
): Promise<OrderOutcome> {
  const recorded = await recordedOrder(sql, notice.provider, notice.orderId);
  if (recorded) return recorded;
  const assessment = await assess(sql, notice);
  const problem = problemWith(notice, assessment);
  if (problem) {
    return await queueOrder(sql, notice, assessment, problem, problemText(problem, notice, assessment));
  }
  if (assessment.owner) return await attachOrder(sql, notice, assessment.owner.id, assessment.amount!);
  let student: NewStudent;
  try {
    student = parseStudent(notice, assessment.amount);
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    return await queueOrder(sql, notice, assessment, "invalid_details", error.message);
  }
  if (!assessment.manager) {
    throw new HttpError(503, "service_unavailable", "No active manager or admin to credit orders to");
  }
  const order: PaidOrder = {
    provider: notice.provider,
    orderId: notice.orderId,
    currency: notice.currency,
    transactionId: notice.transactionId,
  };
  try {
    const result = await createTripwireUser(
      staffMember(assessment.manager),
      student,
      { idempotencyKey: `order:${notice.provider}:${notice.orderId}`.slice(0, 255), order },
    );
    if (result.status !== 201) throw new Error(`Unexpected creation status ${result.status}`);
    return {
      outcome: result.replayed ? "already_created" : "created",
      student_id: result.body.id,
      review: null,
    };
  } catch (error) {
    // Another copy, or someone with the same e-mail, got there first: what the books hold now decides.
    if (isUniqueViolation(error, ["payment_orders_pkey"]) || error instanceof HttpError) {
      const made = await recordedOrder(sql, notice.provider, notice.orderId);
      if (made) return made;
    }
    // Someone got the e-mail in between: weighed again, the order is attached or queued. A second time means a
    // login without its student (a crash mid-creation, which housekeeping clears): a fault, retried later.
    if (error instanceof HttpError && error.code === "email_exists") {
      if (firstAttempt) return await receivePaidOrder(notice, sql, false);
      throw new HttpError(
        503,
        "service_unavailable",
        "The order's e-mail is being set up; send it again shortly",
      );
    }
    if (error instanceof HttpError && error.code === "too_many_creations") {
      throw new HttpError(503, "service_unavailable", "Too many orders this minute; send it again shortly");
    }
    throw error instanceof HttpError ? inProviderTerms(error, notice.fields) : error;
  }
}

/** A provider's refund the books cannot take as sent: kept for an admin, answered as settled. */
async function queueRefund(
  sql: Sql,
  notice: RefundNotice,
  refund: { reason: ReviewReason; amount: string; problem: string; studentId: string | null },
): Promise<OrderOutcome> {
  const [row] = await sql<{ id: string; reason: ReviewReason; student_id: string | null }[]>`
    insert into private.payment_reviews as r
      (provider, kind, order_id, refund_id, reason, amount, currency, student_id, details)
    values (${notice.provider}, 'refund', ${notice.orderId}, ${notice.refundId}, ${refund.reason},
            ${refund.amount}::numeric, ${notice.currency}, ${refund.studentId},
            ${sql.json({ reason: notice.reason, problem: refund.problem })})
    on conflict (provider, refund_id) where kind = 'refund' do update set provider = r.provider
    returning r.id, r.reason, r.student_id`;
  log("warn", "refund_queued_for_review", {
    provider: notice.provider,
    order_id: notice.orderId,
    review_id: row.id,
    reason: row.reason,
  });
  return {
    outcome: "queued",
    student_id: row.student_id,
    review: { id: Number(row.id), reason: row.reason },
  };
}

/**
 * A provider's refund of an order, through the manager's refund (the same lock, sums, access and certificate
 * rules, feed entry and event), in the name of the sale's manager and audited as the provider's. Every refund
 * that is not a fault is settled with a 2xx: the same refund id again or a sale already refunded in full answers
 * `already_refunded`; a refund of an order no student came from, or of more than is left, is queued for review.
 */
export async function refundFromOrder(notice: RefundNotice, sql: Sql = db()): Promise<OrderOutcome> {
  const amount = parseAmount(notice.amount);
  if (amount === null) {
    throw fieldError(notice.fields.amount, 'not a plain decimal with at most two places, e.g. "90.00"');
  }
  const refund = Refund.safeParse({ amount: Number(amount), reason: notice.reason });
  if (!refund.success) throw inProviderTerms(validationError(refund.error.issues), notice.fields);
  const [order] = await sql<
    { student_id: string; manager: ManagerRow | null; refunded: boolean; attached: boolean }[]
  >`
    select o.student_id, o.attached,
           (select jsonb_build_object('id', u.id, 'email', u.email, 'full_name', u.full_name, 'role', u.role)
            from public.tripwire_users t join public.users u on u.id = t.granted_by
            where t.user_id = o.student_id) as manager,
           exists (select 1 from private.payment_refunds r
                   where r.provider = o.provider and r.refund_id = ${notice.refundId}) as refunded
    from private.payment_orders o
    where o.provider = ${notice.provider} and o.order_id = ${notice.orderId}`;
  if (!order) {
    // The provider refunded an order that waits in the review queue: that settles it.
    const [settled] = await sql<{ id: string; reason: ReviewReason }[]>`
      update private.payment_reviews r
      set resolved_at = coalesce(r.resolved_at, now()), resolution = coalesce(r.resolution, 'refunded'),
          resolution_note = coalesce(r.resolution_note, ${`Refunded by the provider (${notice.refundId})`})
      where r.provider = ${notice.provider} and r.order_id = ${notice.orderId} and r.kind = 'order'
      returning r.id, r.reason`;
    if (settled) {
      return {
        outcome: "refunded",
        student_id: null,
        review: { id: Number(settled.id), reason: settled.reason },
      };
    }
  }
  if (!order || order.attached) {
    return await queueRefund(sql, notice, {
      reason: "unknown_order",
      amount,
      problem: "no student's sale came from this order",
      studentId: order?.student_id ?? null,
    });
  }
  if (order.refunded) return { outcome: "already_refunded", student_id: order.student_id, review: null };
  const viaOrder: ProviderRefund = {
    provider: notice.provider,
    orderId: notice.orderId,
    refundId: notice.refundId,
  };
  try {
    const result = await refundStudent(
      staffMember(order.manager!),
      order.student_id,
      refund.data,
      { idempotencyKey: `refund:${notice.provider}:${notice.refundId}`.slice(0, 255), sql, viaOrder },
    );
    return {
      outcome: result.replayed ? "already_refunded" : "refunded",
      student_id: order.student_id,
      review: null,
    };
  } catch (error) {
    if (isUniqueViolation(error, ["payment_refunds_pkey"])) {
      return { outcome: "already_refunded", student_id: order.student_id, review: null };
    }
    // Refunded in full already (a manager's button came first): the books already say what the notice says.
    if (error instanceof HttpError && error.code === "already_refunded") {
      return { outcome: "already_refunded", student_id: order.student_id, review: null };
    }
    if (error instanceof HttpError && error.code === "refund_exceeds_payment") {
      return await queueRefund(sql, notice, {
        reason: "refund_exceeds_payment",
        amount,
        problem: error.message,
        studentId: order.student_id,
      });
    }
    throw error;
  }
}
