/**
 * Refunds (docs/architecture.md, students): a manager's, an admin's, or a payment provider's for a paid order,
 * one path for all, taken on the locked row so that refunds at once never exceed what was paid.
 */
import { z } from "zod";
import { activity, logActivity } from "./activity.ts";
import { audit, paymentProvider } from "./audit.ts";
import { removeStudentCertificateFiles } from "./certificate_files.ts";
import { emitEvent } from "./events.ts";
import { claimKey, completeKey, releaseKey, requestHash } from "./idempotency.ts";
import type { PaidOrder } from "./new_student.ts";
import { changeReason, lockStudent } from "./student_status.ts";
import { type StudentSummary, studentSummary } from "./student_summary.ts";
import type { AuthUser } from "../_shared/auth.ts";
import { db, type Sql, type Transaction, withTransaction } from "../_shared/db.ts";
import { HttpError } from "../_shared/errors.ts";
import { moneyNumber } from "../_shared/input.ts";

export const Refund = z.strictObject({
  amount: moneyNumber.gt(0),
  reason: changeReason,
}).meta({ id: "Refund" });
export type Refund = z.output<typeof Refund>;

/**
 * Refunds `amount` of what the student paid. A full refund ends access and revokes the certificate; a
 * partial one ends access only when the academy's setting says so (`partial_refund_ends_access`).
 * `student_refunds_add_to_sale` keeps the sale's total and its CHECK holds it to the payment on any path;
 * the answers (nothing left, too much, full) are decided in SQL too, in numeric, from the locked row.
 */
async function refundInTransaction(
  tx: Transaction,
  caller: AuthUser,
  studentId: string,
  refund: Refund,
  viaOrder: ProviderRefund | undefined,
): Promise<StudentSummary> {
  const student = await lockStudent(tx, caller, studentId);
  const [money] = await tx<
    { refundable: string; refunded_after: string; nothing_left: boolean; exceeds: boolean; full: boolean }[]
  >`
    select t.payment_amount - t.refunded_amount as refundable,
           t.refunded_amount + ${refund.amount}::numeric as refunded_after,
           t.payment_amount > 0 and t.refunded_amount >= t.payment_amount as nothing_left,
           ${refund.amount}::numeric > t.payment_amount - t.refunded_amount as exceeds,
           ${refund.amount}::numeric = t.payment_amount - t.refunded_amount as full
    from public.tripwire_users t where t.user_id = ${studentId}`;
  if (money.nothing_left) {
    throw new HttpError(409, "already_refunded", "This sale has been refunded in full", {
      refunded_amount: Number(student.refunded_amount),
    });
  }
  if (money.exceeds) {
    throw new HttpError(
      422,
      "refund_exceeds_payment",
      `At most ${money.refundable} can still be refunded`,
      { refundable: Number(money.refundable) },
    );
  }
  const full = money.full;
  const [{ partial_refund_ends_access }] = await tx<{ partial_refund_ends_access: boolean }[]>`
    with refund as (
      insert into public.student_refunds (user_id, refunded_by, amount, reason)
      values (${studentId}, ${caller.id}, ${refund.amount}, ${refund.reason})
      returning id
    ),
    from_order as (
      insert into private.payment_refunds (provider, refund_id, order_id, student_refund_id)
      select ${viaOrder?.provider ?? null}, ${viaOrder?.refundId ?? null}, ${viaOrder?.orderId ?? null}, id
      from refund where ${viaOrder !== undefined}::boolean
    )
    select s.partial_refund_ends_access from academy.settings s`;
  const endsAccess = (full || partial_refund_ends_access) && student.status !== "refunded";
  if (endsAccess) {
    await tx`update public.tripwire_users set status = 'refunded' where user_id = ${studentId}`;
  }
  let revoked: { revoked_at: Date }[] = [];
  if (full) {
    revoked = await tx<{ revoked_at: Date }[]>`
      update public.certificates set revoked_at = now() where user_id = ${studentId} and revoked_at is null
      returning revoked_at`;
  }
  await audit(tx, {
    actor: viaOrder ? paymentProvider : caller,
    action: "student.refunded",
    studentId,
    reason: refund.reason,
    changes: {
      refunded_amount: {
        before: Number(student.refunded_amount),
        after: Number(money.refunded_after),
      },
      ...(endsAccess ? { status: { before: student.status, after: "refunded" } } : {}),
      ...(revoked.length ? { certificate_revoked_at: { before: null, after: revoked[0].revoked_at } } : {}),
    },
  });
  await logActivity(
    tx,
    student.granted_by,
    studentId,
    activity("student_refunded", {
      student_name: student.full_name,
      amount: Number(refund.amount),
      reason: refund.reason,
    }),
  );
  await emitEvent(tx, "student.refunded", studentId, {
    refund: { amount: refund.amount.toFixed(2), reason: refund.reason, full },
  });
  return await studentSummary(tx, studentId);
}

/** A refund a payment provider told of (payments function): recorded with the refund, once per refund id. */
export interface ProviderRefund {
  provider: PaidOrder["provider"];
  orderId: string;
  refundId: string;
}

/** How a refund is taken beyond whose and how much. */
export interface RefundOptions {
  /** A retry with the same key answers the first refund and takes nothing more. */
  idempotencyKey?: string;
  sql?: Sql;
  /** The provider's refund of a paid order, taken in the name of the sale's manager and audited as the provider's. */
  viaOrder?: ProviderRefund;
}

/**
 * A refund of `caller`'s student. Two refunds at once are taken one after the other (the student's row is
 * locked), so together they never exceed what was paid.
 */
export async function refundStudent(
  caller: AuthUser,
  studentId: string,
  refund: Refund,
  { idempotencyKey, sql = db(), viaOrder }: RefundOptions = {},
): Promise<{ body: StudentSummary; replayed: boolean }> {
  // A full refund revokes the certificate: its stored PDFs go once the refund is committed.
  const removeFiles = () =>
    removeStudentCertificateFiles(sql, studentId, { bestEffort: true, revokedOnly: true });
  if (!idempotencyKey) {
    const body = await withTransaction(
      (tx) => refundInTransaction(tx, caller, studentId, refund, viaOrder),
      sql,
    );
    await removeFiles();
    return { body, replayed: false };
  }
  const scope = {
    managerId: caller.id,
    key: idempotencyKey,
    userId: studentId,
    hash: requestHash({ route: "refund", studentId, refund }),
  };
  const claim = await claimKey(sql, scope);
  if (claim.kind === "replay") return { body: claim.response.body as StudentSummary, replayed: true };
  try {
    const body = await withTransaction(async (tx) => {
      const summary = await refundInTransaction(tx, caller, studentId, refund, viaOrder);
      await completeKey(tx, scope, { status: 200, body: summary, sealedPassword: null });
      return summary;
    }, sql);
    await removeFiles();
    return { body, replayed: false };
  } catch (error) {
    await releaseKey(sql, scope).catch(() => {});
    throw error;
  }
}
