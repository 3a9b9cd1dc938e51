/**
 * The review queue (private.payment_reviews): every paid order that did not become access, and every provider
 * refund the books could not take, waits here for an admin — never refused after the money moved. An admin
 * resolves each: a student made with a corrected e-mail, the order attached to an existing student, refunded
 * through the provider, or dismissed with a reason. Every resolution is audited as `payment.reviewed`.
 */
import { z } from "zod";
import { audit } from "../_domain/audit.ts";
import type { AuthUser } from "../_shared/auth.ts";
import { fieldError, validationError } from "../_shared/app.ts";
import { db, type Sql, withTransaction } from "../_shared/db.ts";
import { HttpError } from "../_shared/errors.ts";
import { timestamp } from "../_shared/openapi.ts";
import { pageLimit } from "../_shared/paging.ts";
import { NewStudent } from "../_domain/new_student.ts";
import { createTripwireUser } from "../_domain/student_creation.ts";
import { refundThroughCloudPayments } from "./cloudpayments.ts";
import { type ManagerRow, type Provider, reviewReasons, staffMember } from "./order_assessment.ts";

export const ReviewsQuery = z.strictObject({
  state: z.enum(["open", "resolved", "all"], "open, resolved or all").default("open"),
  before: z.coerce.number().int().min(1).optional().meta({
    description: "The last page's `next_cursor`: entries older than it.",
  }),
  limit: pageLimit,
});
export type ReviewsQuery = z.output<typeof ReviewsQuery>;

export const ReviewParams = z.object({ id: z.coerce.number().int().min(1, "a review's id") });

const resolutions = ["student_created", "attached", "refunded", "dismissed"] as const;

export const Review = z.object({
  id: z.number().int(),
  provider: z.enum(["standard", "cloudpayments"]),
  kind: z.enum(["order", "refund"]),
  order_id: z.string(),
  refund_id: z.string().nullable(),
  reason: z.enum(reviewReasons),
  amount: z.string().meta({ description: 'What the provider said was paid (or refunded), e.g. "490.00".' }),
  currency: z.string().nullable(),
  offer_id: z.string().nullable(),
  manager_id: z.uuid().nullable(),
  details: z.record(z.string(), z.unknown()).meta({
    description:
      "The order as sent (payer e-mail, name, phone, the amount as written) and what did not match.",
  }),
  created_at: timestamp,
  resolved_at: timestamp.nullable(),
  resolved_by: z.uuid().nullable(),
  resolution: z.enum(resolutions).nullable(),
  resolution_note: z.string().nullable(),
  student_id: z.uuid().nullable(),
}).meta({ id: "PaymentReview" });
export type Review = z.output<typeof Review>;

export const ReviewList = z.object({
  open: z.number().int().min(0).meta({ description: "Entries waiting for an admin, in all." }),
  reviews: z.array(Review),
  next_cursor: z.string().nullable(),
}).meta({ id: "PaymentReviewList" });
export type ReviewList = z.output<typeof ReviewList>;

const note = z.string().trim().min(1).max(500);

export const Resolution = z.discriminatedUnion("action", [
  z.strictObject({
    action: z.literal("create_student"),
    email: z.string().optional().meta({ description: "A corrected e-mail; the order's own otherwise." }),
    full_name: z.string().optional(),
    note: note.optional(),
  }),
  z.strictObject({ action: z.literal("attach"), student_id: z.uuid(), note: note.optional() }),
  z.strictObject({
    action: z.literal("refund"),
    note: note.optional(),
  }).meta({ description: "Refund the payment through the provider's API (CloudPayments), then resolve." }),
  z.strictObject({
    action: z.literal("refunded"),
    note: note.meta({ description: "How it was refunded elsewhere, e.g. in the provider's dashboard." }),
  }),
  z.strictObject({ action: z.literal("dismiss"), note }),
], "create_student, attach, refund, refunded or dismiss").meta({ id: "PaymentReviewResolution" });
export type Resolution = z.output<typeof Resolution>;

/** Times as JSON writes them (ISO 8601 with the offset, microseconds kept), amounts as decimal text. */
const reviewColumns = `
  r.id, r.provider, r.kind, r.order_id, r.refund_id, r.reason, r.amount::text as amount, r.currency, r.offer_id,
  r.manager_id, r.details, to_jsonb(r.created_at) #>> '{}' as created_at,
  to_jsonb(r.resolved_at) #>> '{}' as resolved_at, r.resolved_by, r.resolution, r.resolution_note, r.student_id`;

/** The queue, newest first: the open entries (by default), the resolved ones or all, with the open count. */
export async function listReviews(query: ReviewsQuery, sql: Sql = db()): Promise<ReviewList> {
  const state = query.state === "open"
    ? sql`r.resolved_at is null`
    : query.state === "resolved"
    ? sql`r.resolved_at is not null`
    : sql`true`;
  const rows = await sql<Review[]>`
    select ${sql.unsafe(reviewColumns)} from private.payment_reviews r
    where ${state} and r.id < ${query.before ?? Number.MAX_SAFE_INTEGER}
    order by r.id desc limit ${query.limit + 1}`;
  const [{ open }] = await sql<{ open: number }[]>`
    select count(*)::int as open from private.payment_reviews where resolved_at is null`;
  const page = rows.slice(0, query.limit).map((row) => Review.parse({ ...row, id: Number(row.id) }));
  return {
    open,
    reviews: page,
    next_cursor: rows.length > query.limit ? String(page.at(-1)!.id) : null,
  };
}

async function openReview(sql: Sql, id: number): Promise<Review> {
  const [row] = await sql<Review[]>`
    select ${sql.unsafe(reviewColumns)} from private.payment_reviews r where r.id = ${id}`;
  if (!row) throw new HttpError(404, "review_not_found", "No such entry in the review queue");
  if (row.resolved_at) {
    throw new HttpError(409, "already_resolved", "This entry was resolved before", {
      resolution: row.resolution,
    });
  }
  return Review.parse({ ...row, id: Number(row.id) });
}

/** The manager an order under review is credited to: the one it was received with, else the first admin. */
async function creditedManager(sql: Sql, managerId: string | null, admin: AuthUser): Promise<AuthUser> {
  const [row] = await sql<ManagerRow[]>`
    select id, email, full_name, role from public.users
    where id = ${managerId}::uuid and role in ('manager', 'admin') and deactivated_at is null`;
  return row ? staffMember(row) : admin;
}

/**
 * Resolves one entry, audited: `create_student` (an order, in the academy's currency: the student is made with
 * the amount paid, crediting the order's manager, and the order is recorded with her), `attach` (an order,
 * recorded against an existing student), `refund` (a CloudPayments payment, refunded through its API now),
 * `refunded` (refunded elsewhere) or `dismiss`.
 */
export async function resolveReview(
  admin: AuthUser,
  id: number,
  resolution: Resolution,
  sql: Sql = db(),
): Promise<Review> {
  const review = await openReview(sql, id);
  let studentId: string | null = null;
  if (resolution.action === "create_student" || resolution.action === "attach") {
    if (review.kind !== "order") throw fieldError("action", "a refund is resolved as refunded or dismissed");
    const [{ currency }] = await sql<{ currency: string }[]>`select currency from academy.settings`;
    if (review.currency !== currency) {
      throw fieldError(
        "action",
        `paid in ${review.currency ?? "no currency"}, not the academy's ${currency}: refund it`,
      );
    }
  }
  if (resolution.action === "create_student") {
    const details = review.details as { email?: string; full_name?: string; phone?: string | null };
    const student = NewStudent.safeParse({
      email: resolution.email ?? details.email,
      full_name: resolution.full_name ?? details.full_name,
      phone: details.phone ?? null,
      payment_amount: review.amount,
    });
    if (!student.success) throw validationError(student.error.issues);
    const created = await createTripwireUser(
      await creditedManager(sql, review.manager_id, admin),
      student.data,
      {
        idempotencyKey: `review:${review.id}`,
        order: {
          provider: review.provider as Provider,
          orderId: review.order_id,
          currency: review.currency,
          transactionId: (review.details.transaction_id as string | undefined) ?? null,
        },
      },
    );
    studentId = created.body.id;
  }
  let note = resolution.note ?? null;
  if (resolution.action === "refund") {
    const transactionId = review.details.transaction_id as string | undefined;
    if (review.kind !== "order" || review.provider !== "cloudpayments" || !transactionId) {
      throw fieldError(
        "action",
        "only a CloudPayments payment is refunded from here: refund it in the provider, then mark it refunded",
      );
    }
    // One request id per attempt CloudPayments answered "no" to: an unanswered attempt is retried with its id
    // (CloudPayments answers a repeated id as the first time, so nothing is refunded twice).
    const refusals = Number(review.details.refund_refusals ?? 0);
    let refundId: string;
    try {
      refundId = await refundThroughCloudPayments(
        { transactionId, amount: review.amount },
        `tripwire-review-${review.id}-${refusals}`,
      );
    } catch (error) {
      if (error instanceof HttpError && (error.details as { refused?: boolean } | undefined)?.refused) {
        await sql`
          update private.payment_reviews
          set details = details || jsonb_build_object('refund_refusals', ${refusals + 1}::int)
          where id = ${review.id}`;
      }
      throw error;
    }
    note = `Refunded through CloudPayments (refund ${refundId})${note ? `. ${note}` : ""}`;
  }
  if (resolution.action === "attach") {
    const [student] = await sql`select 1 from public.tripwire_users where user_id = ${resolution.student_id}`;
    if (!student) throw new HttpError(404, "student_not_found", "No such student");
    studentId = resolution.student_id;
  }
  return await withTransaction(async (tx) => {
    if (resolution.action === "attach") {
      await tx`
        insert into private.payment_orders (provider, order_id, student_id, amount, currency, transaction_id, attached)
        values (${review.provider}, ${review.order_id}, ${studentId}, ${review.amount}::numeric, ${review.currency},
                ${(review.details.transaction_id as string | undefined) ?? null}, true)`;
    }
    const outcome = {
      create_student: "student_created",
      attach: "attached",
      refund: "refunded",
      refunded: "refunded",
      dismiss: "dismissed",
    }[resolution.action];
    const [row] = await tx<Review[]>`
      update private.payment_reviews r
      set resolved_at = now(), resolved_by = ${admin.id}, resolution = ${outcome},
          resolution_note = ${
      note?.slice(0, 500) ?? null
    }, student_id = coalesce(${studentId}::uuid, r.student_id)
      where r.id = ${id} and r.resolved_at is null
      returning ${tx.unsafe(reviewColumns)}`;
    if (!row) throw new HttpError(409, "already_resolved", "This entry was resolved meanwhile");
    await audit(tx, {
      actor: admin,
      action: "payment.reviewed",
      target: { type: "payment", id: String(id) },
      changes: { resolution: { before: null, after: outcome } },
      ...(note ? { reason: note.slice(0, 500) } : {}),
    });
    return Review.parse({ ...row, id: Number(row.id) });
  }, sql);
}
