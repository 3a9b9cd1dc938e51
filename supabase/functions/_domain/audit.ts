/**
 * The audit trail (private.audit_log, docs/architecture.md): one append-only row per staff action on money,
 * access or a person's data, written in the action's own transaction. Where the request came from is
 * carried through the request by the frame, so an action need not pass it along.
 */
import type { AuthUser } from "../_shared/auth.ts";
import type { Transaction } from "../_shared/db.ts";
import { requestOrigin } from "../_shared/request_origin.ts";

/** What staff do that is audited; the database audits settings and staff changes itself. */
export const auditActions = [
  "student.created",
  "student.refunded",
  "student.suspended",
  "student.reactivated",
  "student.password_reset",
  "student.exported",
  "student.erased",
  "settings.changed",
  "staff.changed",
  "offer.changed",
  "payment.reviewed",
  "export.downloaded",
  "webhook.endpoint_created",
  "webhook.endpoint_resumed",
  "webhook.endpoint_disabled",
  "webhook.endpoint_paused",
  "webhook.delivery_resent",
] as const;
export type AuditAction = (typeof auditActions)[number];

/** What an audit row is about. */
export const auditTargetTypes = [
  "student",
  "settings",
  "staff",
  "offer",
  "payment",
  "export",
  "webhook_endpoint",
] as const;
export type AuditTargetType = (typeof auditTargetTypes)[number];

/** A field's value before and after, as the audit shows it. */
export type FieldChange = { before: unknown; after: unknown };

/** Shown instead of a person's name, e-mail or phone, and of a password. */
export const personal = "(personal)";
export const secret = "(secret)";

/** Who acts when no staff member does: a payment provider's signed notification (payments function). */
export const paymentProvider = { id: null, role: "service" } as const;

/** Writes one audit row for `actor`'s action on a student (or on an offer or a paid order), in `tx`. */
export async function audit(
  tx: Transaction,
  entry: {
    actor: AuthUser | typeof paymentProvider;
    action: AuditAction;
    studentId?: string;
    /**
     * What else the action was on: an offer (its id), a paid order under review (the review's id), an export
     * (its file) or a webhook endpoint (its id).
     */
    target?: { type: Exclude<AuditTargetType, "student" | "settings" | "staff">; id: string };
    changes?: Record<string, FieldChange>;
    reason?: string;
  },
): Promise<void> {
  const origin = requestOrigin();
  await tx`
    insert into private.audit_log
      (actor_id, actor_role, action, target_type, target_id, changes, reason, client_ip, user_agent, request_id)
    values (${entry.actor.id}, ${entry.actor.role}, ${entry.action}, ${entry.target?.type ?? "student"},
            ${entry.target?.id ?? entry.studentId ?? null},
            ${tx.json((entry.changes ?? {}) as Record<string, never>)}, ${entry.reason ?? null},
            ${origin.clientIp}, ${origin.userAgent}, ${origin.requestId})`;
}

/**
 * Tells the database's own audit (staff and settings changes, audited by a trigger) who acts in this
 * transaction and from where, so the row it writes names the staff member instead of "database".
 */
export async function actingAs(tx: Transaction, actor: AuthUser): Promise<void> {
  const origin = requestOrigin();
  await tx`
    select set_config('tripwire.actor_id', ${actor.id}, true), set_config('tripwire.actor_role', ${actor.role}, true),
           set_config('tripwire.client_ip', ${origin.clientIp ?? ""}, true),
           set_config('tripwire.user_agent', ${origin.userAgent ?? ""}, true),
           set_config('tripwire.request_id', ${origin.requestId ?? ""}, true)`;
}
