/**
 * The books against the providers: per academy day, provider and currency, what the providers notified (paid
 * orders and refunds, whatever became of them) against what the books hold (the sales the orders became, the
 * refunds taken), and every order or refund where the two differ, with why. A difference is explained when the
 * review queue or an attachment accounts for it; anything else is `unexplained` — the normal count is zero.
 */
import { z } from "zod";
import { academyDay, addDays } from "../_domain/academy_day.ts";
import { db, type Sql } from "../_shared/db.ts";
import { isStorableYear } from "../_shared/input.ts";
import { csvCell } from "../_shared/csv.ts";

const day = z.iso.date("a date as YYYY-MM-DD").refine(isStorableYear, "there is no year 0000");

export const ReconciliationQuery = z.strictObject({
  from: day.optional().meta({ description: "The first academy day; 30 days before `to` by default." }),
  to: day.optional().meta({ description: "The last academy day; the academy's today by default." }),
}).refine((query) => !query.from || !query.to || query.from <= query.to, {
  path: ["from"],
  message: "must not be after to",
});
export type ReconciliationQuery = z.output<typeof ReconciliationQuery>;

const money = z.string().meta({ description: 'A decimal string, e.g. "490.00".' });

export const Reconciliation = z.object({
  from: z.iso.date(),
  to: z.iso.date(),
  time_zone: z.string(),
  days: z.array(z.object({
    day: z.iso.date(),
    provider: z.string(),
    currency: z.string().nullable(),
    notified_paid: money,
    notified_refunded: money,
    booked_sales: money,
    booked_refunds: money,
    difference: money.meta({ description: "(paid − refunded) notified, less (sales − refunds) booked." }),
  })).meta({ description: "Days are the academy's days on which the provider notified." }),
  differences: z.array(z.object({
    day: z.iso.date(),
    provider: z.string(),
    kind: z.enum(["order", "refund"]),
    order_id: z.string(),
    refund_id: z.string().nullable(),
    currency: z.string().nullable(),
    notified: money,
    booked: money,
    explanation: z.string().meta({
      description: "`attached: …`, `in review: <reason>`, `resolved: <resolution>`, or `unexplained`.",
    }),
  })),
  unexplained: z.number().int().min(0),
}).meta({ id: "Reconciliation" });
export type Reconciliation = z.output<typeof Reconciliation>;

type Line = Reconciliation["differences"][number] & { notified_kind: "order" | "refund" };

/** The reconciliation of `from`…`to` (academy days; the last 30 by default). */
export async function reconcile(query: ReconciliationQuery, sql: Sql = db()): Promise<Reconciliation> {
  const [{ time_zone: timeZone }] = await sql<
    { time_zone: string }[]
  >`select time_zone from academy.settings`;
  const to = query.to ?? academyDay(timeZone);
  const from = query.from ?? addDays(to, -29);
  const lines = await sql<(Line & { booked_day: string | null })[]>`
    with z as (select time_zone as tz from academy.settings),
    orders as (
      select coalesce(r.provider, o.provider) as provider, coalesce(r.order_id, o.order_id) as order_id,
             coalesce(r.amount, o.amount) as notified, coalesce(r.currency, o.currency) as currency,
             least(r.created_at, o.created_at) as notified_at,
             case when o.attached is false then t.payment_amount else 0.00 end as booked,
             case when o.attached is false then t.created_at end as booked_at,
             case
               when o.attached then 'attached: a repeat purchase of student ' || o.student_id
               when r.id is not null and r.resolved_at is null then 'in review: ' || r.reason
               when r.id is not null then 'resolved: ' || r.resolution
             end as explanation
      from private.payment_orders o
      full join (select * from private.payment_reviews where kind = 'order') r
        on r.provider = o.provider and r.order_id = o.order_id
      left join public.tripwire_users t on t.user_id = o.student_id
    ),
    refunds as (
      select p.provider, p.order_id, p.refund_id, s.amount as notified, o.currency, p.created_at as notified_at,
             s.amount as booked, s.created_at as booked_at, null::text as explanation
      from private.payment_refunds p
      join public.student_refunds s on s.id = p.student_refund_id
      join private.payment_orders o on o.provider = p.provider and o.order_id = p.order_id
      union all
      select r.provider, r.order_id, r.refund_id, r.amount, r.currency, r.created_at, 0.00, null,
             case when r.resolved_at is null then 'in review: ' || r.reason else 'resolved: ' || r.resolution end
      from private.payment_reviews r where r.kind = 'refund'
    ),
    lines as (
      select 'order' as kind, provider, order_id, null::text as refund_id, currency, notified, booked, notified_at,
             booked_at, explanation
      from orders
      union all
      select 'refund', provider, order_id, refund_id, currency, notified, booked, notified_at, booked_at, explanation
      from refunds
    )
    select l.kind, l.provider, l.order_id, l.refund_id, l.currency, l.notified::text, l.booked::text,
           to_char(l.notified_at at time zone z.tz, 'YYYY-MM-DD') as day,
           to_char(l.booked_at at time zone z.tz, 'YYYY-MM-DD') as booked_day,
           coalesce(l.explanation, case when l.notified <> l.booked then 'unexplained' end) as explanation
    from lines l cross join z
    where (l.notified_at at time zone z.tz)::date between ${from}::date and ${to}::date
    order by l.notified_at, l.provider, l.order_id, l.refund_id`;

  const days = new Map<string, Reconciliation["days"][number]>();
  const cents = (value: string) => BigInt(value.replace(".", ""));
  const decimal = (value: bigint) => {
    const sign = value < 0n ? "-" : "";
    const text = (value < 0n ? -value : value).toString().padStart(3, "0");
    return `${sign}${text.slice(0, -2)}.${text.slice(-2)}`;
  };
  const totals = new Map<string, { paid: bigint; refunded: bigint; sales: bigint; refunds: bigint }>();
  for (const line of lines) {
    const key = `${line.day}|${line.provider}|${line.currency ?? ""}`;
    const total = totals.get(key) ?? { paid: 0n, refunded: 0n, sales: 0n, refunds: 0n };
    if (line.kind === "order") {
      total.paid += cents(line.notified);
      total.sales += cents(line.booked);
    } else {
      total.refunded += cents(line.notified);
      total.refunds += cents(line.booked);
    }
    totals.set(key, total);
  }
  for (const [key, total] of totals) {
    const [lineDay, provider, currency] = key.split("|");
    days.set(key, {
      day: lineDay,
      provider,
      currency: currency || null,
      notified_paid: decimal(total.paid),
      notified_refunded: decimal(total.refunded),
      booked_sales: decimal(total.sales),
      booked_refunds: decimal(total.refunds),
      difference: decimal(total.paid - total.refunded - (total.sales - total.refunds)),
    });
  }
  const differences = lines
    .filter((line) => line.explanation !== null || line.notified !== line.booked)
    .map((line) => ({
      day: line.day,
      provider: line.provider,
      kind: line.kind,
      order_id: line.order_id,
      refund_id: line.refund_id,
      currency: line.currency,
      notified: line.notified,
      booked: line.booked,
      explanation: line.explanation ?? "unexplained",
    }));
  return Reconciliation.parse({
    from,
    to,
    time_zone: timeZone,
    days: [...days.values()],
    differences,
    unexplained: differences.filter((line) => line.explanation === "unexplained").length,
  });
}

/** The days as CSV (UTF-8 with a BOM, as the other exports), then the differences under their own header. */
export function reconciliationCsv(report: Reconciliation): string {
  // Order and refund ids are the provider's, set by the buyer's page (CloudPayments' InvoiceId): every cell is
  // treated as typed text; our numbers stay numbers.
  const line = (cells: unknown[]) => cells.map((cell) => csvCell(cell, true)).join(",") + "\r\n";
  const dayColumns = [
    "day",
    "provider",
    "currency",
    "notified_paid",
    "notified_refunded",
    "booked_sales",
    "booked_refunds",
    "difference",
  ] as const;
  const differenceColumns = [
    "day",
    "provider",
    "kind",
    "order_id",
    "refund_id",
    "currency",
    "notified",
    "booked",
    "explanation",
  ] as const;
  return "\uFEFF" + line([...dayColumns]) +
    report.days.map((row) => line(dayColumns.map((column) => row[column]))).join("") +
    "\r\n" + line([...differenceColumns]) +
    report.differences.map((row) => line(differenceColumns.map((column) => row[column]))).join("");
}
