/**
 * A paid order weighed against what the academy sells (docs/architecture.md, "Orders in"): both providers'
 * notifications come down to an OrderNotice; its offer, price, currency, manager and e-mail are assessed, and an
 * order that cannot be granted as sent gets the reason it goes to the review queue with.
 */

import type { AuthUser } from "../_shared/auth.ts";
import { validationError } from "../_shared/app.ts";

import { type Sql } from "../_shared/db.ts";
import { HttpError } from "../_shared/errors.ts";
import { log } from "../_shared/log.ts";
import { NewStudent, type PaidOrder } from "../_domain/new_student.ts";

import { readPaymentLink } from "./payment_links.ts";
import { offerChosen, parseAmount } from "./offers.ts";

export type Provider = PaidOrder["provider"];

/** A paid order as both providers' notifications come down to it. */
export interface OrderNotice {
  provider: Provider;
  orderId: string;
  transactionId: string | null;
  /** The amount exactly as the provider wrote it: parsed here as a decimal, never through Number(). */
  amount: unknown;
  currency: string | null;
  /** The payer's e-mail in the provider's own field (never a free-form field the buyer's page writes). */
  email: string;
  fullName: string;
  phone: string | null;
  /** The payment link's signed reference, if the checkout passed one back. */
  reference: string | null;
  /** The offer the order names (unsigned, so only its price decides); the reference's offer wins. */
  offerId: string | null;
  sendWelcomeEmail: boolean;
  /** The provider's name of each field, for the paths of a validation error. */
  fields: Record<"email" | "full_name" | "phone" | "payment_amount", string>;
}

/** A provider's refund of an order. */
export interface RefundNotice {
  provider: Provider;
  orderId: string;
  refundId: string;
  amount: unknown;
  currency: string | null;
  reason: string;
  /** The provider's name of each field, for the paths of a validation error. */
  fields: Record<"amount" | "reason", string>;
}

export const reviewReasons = [
  "price_mismatch",
  "unknown_offer",
  "staff_email",
  "invalid_details",
  "student_without_access",
  "unknown_order",
  "refund_exceeds_payment",
] as const;
export type ReviewReason = (typeof reviewReasons)[number];

export type ManagerRow = { id: string; email: string; full_name: string; role: "manager" | "admin" };

/** A staff row as the caller the manager's own code expects. */
export const staffMember = (row: ManagerRow): AuthUser => ({
  id: row.id,
  email: row.email,
  fullName: row.full_name,
  role: row.role,
});

/** An order weighed against the academy: its offer and price, its manager, whose e-mail it carries. */
export interface Assessment {
  amount: string | null;
  academyCurrency: string;
  offerId: string | null;
  price: string | null;
  manager: ManagerRow | null;
  /** Who already has the e-mail: a staff member, or a student and whether she has access now. */
  owner: { id: string; role: "student" | "manager" | "admin"; has_access: boolean } | null;
  /** The academy's setting: a repeat purchase gives a refunded or suspended student her access back. */
  restoresAccess: boolean;
}

/**
 * One statement: the offer (the reference's, else the one named, else the default — the oldest active), its
 * price now, the manager (the reference's if genuine and still active, else the academy's default, else its
 * first admin) and the owner of the e-mail.
 */
export async function assess(sql: Sql, notice: OrderNotice): Promise<Assessment> {
  const link = await readPaymentLink(notice.reference);
  const amount = parseAmount(notice.amount);
  const offerId = link?.offerId ?? notice.offerId;
  const email = notice.email.trim().toLowerCase();
  const [row] = await sql<
    {
      academy_currency: string;
      restores_access: boolean;
      offer_id: string | null;
      price: string | null;
      manager: ManagerRow | null;
      owner: Assessment["owner"];
    }[]
  >`
    with offer as (
      select o.id from private.offers o where ${offerChosen(sql, offerId)} limit 1
    )
    select s.currency as academy_currency, s.repeat_purchase_restores_access as restores_access,
           (select id from offer) as offer_id,
           private.offer_price((select id from offer), now())::text as price,
           (select jsonb_build_object('id', u.id, 'email', u.email, 'full_name', u.full_name, 'role', u.role)
            from public.users u
            where u.role in ('manager', 'admin') and u.deactivated_at is null and u.erased_at is null
              and (u.id = ${
    link?.managerId ?? null
  }::uuid or u.id = s.default_order_manager or u.role = 'admin')
            order by (u.id = ${link?.managerId ?? null}::uuid) is true desc,
                     (u.id = s.default_order_manager) is true desc, u.created_at, u.id
            limit 1) as manager,
           (select jsonb_build_object('id', u.id, 'role', u.role,
                                      'has_access', coalesce(t.status in ('active', 'completed'), false))
            from public.users u left join public.tripwire_users t on t.user_id = u.id
            where u.email = ${email}) as owner
    from academy.settings s`;
  if (notice.reference && !link) {
    log("warn", "payment_link_invalid", { provider: notice.provider, order_id: notice.orderId });
  }
  return {
    amount,
    academyCurrency: row.academy_currency,
    offerId: row.offer_id,
    price: row.price,
    manager: row.manager,
    owner: row.owner,
    restoresAccess: row.restores_access,
  };
}

/** Why an assessed order cannot be granted as it is, or null when it can. */
export function problemWith(notice: OrderNotice, assessment: Assessment): ReviewReason | null {
  if (assessment.offerId === null || assessment.price === null) return "unknown_offer";
  if (assessment.amount === null || assessment.amount !== assessment.price) return "price_mismatch";
  if (notice.currency !== assessment.academyCurrency) return "price_mismatch";
  if (assessment.owner && assessment.owner.role !== "student") return "staff_email";
  if (assessment.owner && !assessment.owner.has_access && !assessment.restoresAccess) {
    return "student_without_access";
  }
  return null;
}

/** The order as a manager's sale, validated by the same schema (e-mail, name, phone, amount). */
export function parseStudent(notice: OrderNotice, amount: string | null): NewStudent {
  const parsed = NewStudent.safeParse({
    email: notice.email,
    full_name: notice.fullName,
    phone: notice.phone,
    payment_amount: amount ?? String(notice.amount ?? ""),
    send_welcome_email: notice.sendWelcomeEmail,
  });
  if (!parsed.success) {
    throw inProviderTerms(validationError(parsed.error.issues), notice.fields);
  }
  return parsed.data;
}

/** A validation error whose paths name the provider's fields instead of a manager's form's. */
export function inProviderTerms(error: HttpError, fields: Record<string, string>): HttpError {
  if (error.code !== "validation_failed" || !Array.isArray(error.details)) return error;
  const details = (error.details as { path: string; message: string }[]).map(({ path, message }) => ({
    path: fields[path as keyof typeof fields] ?? path,
    message,
  }));
  return new HttpError(400, "validation_failed", `${details[0].path}: ${details[0].message}`, details);
}

/** What the review queue says of an order held for `reason`. */
export function problemText(reason: ReviewReason, notice: OrderNotice, assessment: Assessment): string {
  switch (reason) {
    case "unknown_offer":
      return `no active offer ${notice.offerId ?? "(default)"}`;
    case "price_mismatch":
      return `paid ${String(notice.amount ?? "")} ${
        notice.currency ?? "(no currency)"
      }; the offer's price is ` +
        `${assessment.price} ${assessment.academyCurrency}`;
    case "staff_email":
      return "the e-mail is a staff member's";
    case "student_without_access":
      return "the e-mail is a student's whose access has ended (refunded or suspended)";
    default:
      return reason;
  }
}
