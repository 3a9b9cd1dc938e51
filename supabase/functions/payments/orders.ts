/**
 * Orders in (docs/architecture.md, "Orders in"): a provider's paid order becomes a student through the very
 * path a manager's sale takes (`createTripwireUser`: the login, the rows, the e-mail, the feed, the event), and
 * its refund goes through the manager's refund (`refundStudent`). The order id is the idempotency key: the
 * creation claims `order:<provider>:<order id>` as an Idempotency-Key of the order's manager (concurrent copies
 * wait for the first and replay it) and writes `private.payment_orders` in the student's transaction, whose
 * primary key keeps one student per order for ever.
 */
import { z } from "zod";
import type { AuthUser } from "../_shared/auth.ts";
import { validationError } from "../_shared/app.ts";
import { db, type Sql } from "../_shared/db.ts";
import { HttpError, isUniqueViolation } from "../_shared/errors.ts";
import { log } from "../_shared/log.ts";
import {
  createTripwireUser,
  NewStudent,
  type PaidOrder,
} from "../create-tripwire-user/create_tripwire_user.ts";
import { type ProviderRefund, Refund, refundStudent } from "../students/students.ts";

export type Provider = PaidOrder["provider"];

/** A paid order as both providers' notifications come down to it. */
export interface OrderNotice {
  provider: Provider;
  orderId: string;
  transactionId: string | null;
  amount: number;
  currency: string | null;
  email: string;
  fullName: string;
  phone: string | null;
  /** The manager the order's metadata names, by id or e-mail; the academy's default otherwise. */
  manager: { id?: string; email?: string };
  sendWelcomeEmail: boolean;
  /** The provider's name of each field, for the paths of a validation error. */
  fields: Record<"email" | "full_name" | "phone" | "payment_amount", string>;
}

/** A provider's refund of an order. */
export interface RefundNotice {
  provider: Provider;
  orderId: string;
  refundId: string;
  amount: number;
  reason: string;
  /** The provider's name of each field, for the paths of a validation error. */
  fields: Record<"amount" | "reason", string>;
}

/** What a notification did; the same notification again says it was already done and does nothing. */
export const OrderOutcome = z.object({
  outcome: z.enum(["created", "already_created", "refunded", "already_refunded", "ignored"]),
  student_id: z.uuid().nullable(),
}).meta({ id: "OrderOutcome" });
export type OrderOutcome = z.output<typeof OrderOutcome>;

type ManagerRow = { id: string; email: string; full_name: string; role: "manager" | "admin" };

/**
 * The staff member credited with the order: the one its metadata names (an active manager or admin), else the
 * academy's `default_order_manager`, else its first admin. A name that matches nobody falls back, logged: the
 * paid order must still become a student.
 */
async function orderManager(sql: Sql, named: OrderNotice["manager"]): Promise<AuthUser> {
  const id = z.uuid().safeParse(named.id).success ? named.id! : null;
  const email = named.email?.trim().toLowerCase() || null;
  const [manager] = await sql<(ManagerRow & { named: boolean })[]>`
    select u.id, u.email, u.full_name, u.role,
           (u.id = ${id}::uuid or u.email = ${email}::text) is true as named
    from public.users u
    left join analytics.settings s on true
    where u.role in ('manager', 'admin') and u.deactivated_at is null and u.erased_at is null
      and (u.id = ${id}::uuid or u.email = ${email}::text or u.id = s.default_order_manager or u.role = 'admin')
    order by (u.id = ${id}::uuid or u.email = ${email}::text) is true desc,
             (u.id = s.default_order_manager) is true desc, u.created_at, u.id
    limit 1`;
  if (!manager) {
    throw new HttpError(503, "service_unavailable", "No active manager or admin to credit orders to");
  }
  if ((id || email) && !manager.named) {
    log("warn", "order_manager_not_found", { manager_id: id, manager_email: email, credited_to: manager.id });
  }
  return staffMember(manager);
}

/** A staff row as the caller the manager's own code expects. */
const staffMember = (row: ManagerRow): AuthUser => ({
  id: row.id,
  email: row.email,
  fullName: row.full_name,
  role: row.role,
});

/** The student an order already became, if any. */
async function orderStudent(sql: Sql, provider: Provider, orderId: string): Promise<string | null> {
  const [row] = await sql<{ student_id: string }[]>`
    select student_id from private.payment_orders where provider = ${provider} and order_id = ${orderId}`;
  return row?.student_id ?? null;
}

/** Checks an order before any money moves (CloudPayments' Check): what `createFromOrder` would refuse. */
export async function checkOrder(notice: OrderNotice, sql: Sql = db()): Promise<void> {
  const student = parseStudent(notice);
  if (await orderStudent(sql, notice.provider, notice.orderId)) return;
  const [check] = await sql<{ over_ceiling: boolean; max: string; taken: boolean }[]>`
    select ${student.payment_amount}::numeric > s.max_payment_amount as over_ceiling, s.max_payment_amount as max,
           exists (select 1 from public.users u where u.email = ${student.email}) as taken
    from analytics.settings s`;
  if (check.over_ceiling) throw overCeiling(check.max, notice.fields);
  if (check.taken) {
    throw new HttpError(
      409,
      "email_exists",
      "A user with this e-mail exists; the order cannot make a student",
    );
  }
}

function overCeiling(max: string, fields: OrderNotice["fields"]): HttpError {
  const path = fields.payment_amount;
  return new HttpError(400, "validation_failed", `${path}: at most ${Number(max)}`, [
    { path, message: `at most ${Number(max)} (the academy's ceiling)` },
  ]);
}

/** The order as a manager's sale, validated by the same schema (e-mail, name, phone, amount). */
function parseStudent(notice: OrderNotice): NewStudent {
  const parsed = NewStudent.safeParse({
    email: notice.email,
    full_name: notice.fullName,
    phone: notice.phone,
    payment_amount: notice.amount,
    send_welcome_email: notice.sendWelcomeEmail,
  });
  if (!parsed.success) {
    throw inProviderTerms(validationError(parsed.error.issues), notice.fields);
  }
  return parsed.data;
}

/** A validation error whose paths name the provider's fields instead of a manager's form's. */
function inProviderTerms(error: HttpError, fields: Record<string, string>): HttpError {
  if (error.code !== "validation_failed" || !Array.isArray(error.details)) return error;
  const details = (error.details as { path: string; message: string }[]).map(({ path, message }) => ({
    path: fields[path as keyof typeof fields] ?? path,
    message,
  }));
  return new HttpError(400, "validation_failed", `${details[0].path}: ${details[0].message}`, details);
}

/**
 * A paid order becomes a student, exactly once: the same order again (a retry, a replay, ten copies at once)
 * answers `already_created` with the same student and creates nothing.
 */
export async function createFromOrder(notice: OrderNotice, sql: Sql = db()): Promise<OrderOutcome> {
  const student = parseStudent(notice);
  const existing = await orderStudent(sql, notice.provider, notice.orderId);
  if (existing) return { outcome: "already_created", student_id: existing };
  const manager = await orderManager(sql, notice.manager);
  const order: PaidOrder = {
    provider: notice.provider,
    orderId: notice.orderId,
    currency: notice.currency,
    transactionId: notice.transactionId,
  };
  try {
    const result = await createTripwireUser(
      manager,
      student,
      `order:${notice.provider}:${notice.orderId}`.slice(0, 255),
      undefined,
      order,
    );
    if (result.status !== 201) throw new Error(`Unexpected creation status ${result.status}`);
    return { outcome: result.replayed ? "already_created" : "created", student_id: result.body.id };
  } catch (error) {
    // A copy that outlived the key's 24 hours, or came under another manager: the order's row decides.
    if (isUniqueViolation(error, ["payment_orders_pkey"]) || error instanceof HttpError) {
      const made = await orderStudent(sql, notice.provider, notice.orderId);
      if (made) return { outcome: "already_created", student_id: made };
    }
    throw error instanceof HttpError ? inProviderTerms(error, notice.fields) : error;
  }
}

/**
 * A provider's refund of an order, through the manager's refund (the same lock, sums, access and certificate
 * rules, feed entry and event), in the name of the sale's manager and audited as the provider's. The same
 * refund id again answers `already_refunded`.
 */
export async function refundFromOrder(notice: RefundNotice, sql: Sql = db()): Promise<OrderOutcome> {
  const refund = Refund.safeParse({ amount: notice.amount, reason: notice.reason });
  if (!refund.success) throw inProviderTerms(validationError(refund.error.issues), notice.fields);
  const [order] = await sql<
    { student_id: string; manager: ManagerRow | null; refunded: boolean }[]
  >`
    select o.student_id,
           (select jsonb_build_object('id', u.id, 'email', u.email, 'full_name', u.full_name, 'role', u.role)
            from public.tripwire_users t join public.users u on u.id = t.granted_by
            where t.user_id = o.student_id) as manager,
           exists (select 1 from private.payment_refunds r
                   where r.provider = o.provider and r.refund_id = ${notice.refundId}) as refunded
    from private.payment_orders o
    where o.provider = ${notice.provider} and o.order_id = ${notice.orderId}`;
  if (!order) {
    throw new HttpError(404, "order_not_found", "No student came from this order", {
      order_id: notice.orderId,
    });
  }
  if (order.refunded) return { outcome: "already_refunded", student_id: order.student_id };
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
      `refund:${notice.provider}:${notice.refundId}`.slice(0, 255),
      sql,
      viaOrder,
    );
    return { outcome: result.replayed ? "already_refunded" : "refunded", student_id: order.student_id };
  } catch (error) {
    if (isUniqueViolation(error, ["payment_refunds_pkey"])) {
      return { outcome: "already_refunded", student_id: order.student_id };
    }
    throw error;
  }
}
