/**
 * A student's access after the sale (docs/architecture.md, students): suspending and reactivating, each allowed
 * only from the states the rules name, audited, in the feed and (a suspension) an event, in one transaction on
 * the locked row. A refund (refunds.ts) locks the row the same way.
 */
import { z } from "zod";
import { activity, logActivity } from "./activity.ts";
import { audit } from "./audit.ts";
import { emitEvent } from "./events.ts";
import { scopeOf, studentNotFound, type StudentSummary, studentSummary } from "./student_summary.ts";
import type { AuthUser, StudentStatus } from "../_shared/auth.ts";
import { db, type Sql, type Transaction, withTransaction } from "../_shared/db.ts";
import { HttpError } from "../_shared/errors.ts";
import { typedText } from "../_shared/input.ts";

/** Why a refund or a status change was made: typed by staff, kept in the audit and the feed. */
export const changeReason = typedText(1, 500);

export const StatusChange = z.strictObject({ reason: changeReason }).meta({ id: "StatusChange" });
export type StatusChange = z.output<typeof StatusChange>;

/** The student's row, locked for a change: what decides it. */
export interface LockedStudent {
  user_id: string;
  full_name: string;
  status: StudentStatus;
  granted_by: string;
  payment_amount: string;
  refunded_amount: string;
  certified: boolean;
}

/**
 * Locks one of the caller's students for a change; anyone else's → 404. Everything that decides the change
 * is a column of the locked row: a statement that waited for the lock sees that row as last committed, but
 * a subquery beside it would keep the statement's older snapshot (two refunds at once both passed that way).
 */
export async function lockStudent(
  tx: Transaction,
  caller: AuthUser,
  studentId: string,
): Promise<LockedStudent> {
  const scope = scopeOf(caller, undefined);
  const [student] = await tx<LockedStudent[]>`
    select t.user_id, t.full_name, t.status, t.granted_by, t.payment_amount, t.refunded_amount,
           exists (select 1 from public.certificates c where c.user_id = t.user_id) as certified
    from public.tripwire_users t
    where t.user_id = ${studentId} and (${scope}::uuid is null or t.granted_by = ${scope}::uuid)
    for update of t`;
  if (!student) throw studentNotFound();
  return student;
}

/** Suspends access (revenue stays); only an active or completed student can be suspended. */
export function suspendStudent(caller: AuthUser, studentId: string, change: StatusChange, sql: Sql = db()) {
  return changeStatus(caller, studentId, change, {
    from: ["active", "completed"],
    becoming: "suspended",
    to: () => "suspended",
    event: "student_suspended",
  }, sql);
}

/** Gives a suspended student access again, as active (or completed, with a certificate). */
export function reactivateStudent(
  caller: AuthUser,
  studentId: string,
  change: StatusChange,
  sql: Sql = db(),
) {
  return changeStatus(caller, studentId, change, {
    from: ["suspended"],
    becoming: "reactivated",
    to: (student) => student.certified ? "completed" : "active",
    event: "student_reactivated",
  }, sql);
}

/** One status change: allowed only from `from`, with its feed entry, in one transaction. */
function changeStatus(
  caller: AuthUser,
  studentId: string,
  change: StatusChange,
  rule: {
    from: LockedStudent["status"][];
    becoming: string;
    to: (student: LockedStudent) => LockedStudent["status"];
    event: "student_suspended" | "student_reactivated";
  },
  sql: Sql,
): Promise<StudentSummary> {
  return withTransaction(async (tx) => {
    const student = await lockStudent(tx, caller, studentId);
    if (!rule.from.includes(student.status)) throw illegal(student, rule.becoming);
    await tx`update public.tripwire_users set status = ${rule.to(student)} where user_id = ${studentId}`;
    await audit(tx, {
      actor: caller,
      action: rule.event === "student_suspended" ? "student.suspended" : "student.reactivated",
      studentId,
      reason: change.reason,
      changes: { status: { before: student.status, after: rule.to(student) } },
    });
    await logActivity(
      tx,
      student.granted_by,
      studentId,
      activity(rule.event, { student_name: student.full_name, reason: change.reason }),
    );
    if (rule.event === "student_suspended") {
      await emitEvent(tx, "student.suspended", studentId, { reason: change.reason });
    }
    return await studentSummary(tx, studentId);
  }, sql);
}

function illegal(student: LockedStudent, becoming: string): HttpError {
  return new HttpError(409, "illegal_transition", `A ${student.status} student cannot be ${becoming}`, {
    status: student.status,
  });
}
