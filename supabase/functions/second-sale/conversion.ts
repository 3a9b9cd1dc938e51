/**
 * The second sale's figures, by the tripwire sale's cohort: of the students sold in a period, how many started,
 * completed and bought the main course (counts and rates), the main course's revenue from them per currency,
 * and the median days from the tripwire sale and from completion to the purchase. Read from the sums the minute
 * refresh keeps (analytics.refresh_conversion), so a period costs its days, not its students; the medians read
 * the period's buyers alone (an index of buyers by cohort day).
 */
import { z } from "zod";
import type { AuthUser } from "../_shared/auth.ts";
import { db, type Sql } from "../_shared/db.ts";
import { isStorableYear } from "../_shared/input.ts";

const day = z.iso.date("a date as YYYY-MM-DD").refine(isStorableYear, "there is no year 0000");

export const ConversionQuery = z.strictObject({
  from: day.optional().meta({
    description: "The first sale day of the cohort (academy days); all time without.",
  }),
  to: day.optional().meta({ description: "The last sale day of the cohort; today without." }),
  manager_id: z.uuid("a manager's id (uuid)").optional().meta({
    description: "An admin's choice of one manager; a manager always reads their own.",
  }),
}).superRefine((query, context) => {
  if (query.to && !query.from) {
    context.addIssue({ code: "custom", path: ["from"], message: "needed with to" });
  }
  if (query.from && query.to && query.from > query.to) {
    context.addIssue({ code: "custom", path: ["from"], message: "must not be after to" });
  }
});
export type ConversionQuery = z.output<typeof ConversionQuery>;

const count = z.number().int().min(0);
const rate = z.number().min(0).max(1).nullable().meta({
  description: "Of the students sold, 0 to 1 (4 decimals); null when none were sold.",
});
const Revenue = z.object({
  currency: z.string().meta({ description: "ISO 4217, as the Main platform was paid: never converted." }),
  amount: z.string().meta({ description: 'Purchases not refunded, a decimal such as "150000.00".' }),
  buyers: count,
});

export const ConversionFigures = z.object({
  from: z.string().nullable(),
  to: z.string(),
  manager_id: z.uuid().nullable(),
  sold: count,
  started: count,
  completed: count,
  bought: count.meta({ description: "Bought the main course (a purchase not refunded)." }),
  rates: z.object({ started: rate, completed: rate, bought: rate }),
  revenue: z.array(Revenue).meta({
    description: "The main course's revenue from this cohort, per currency.",
  }),
  median_days: z.object({
    from_sale: z.number().int().nullable().meta({
      description: "Tripwire sale → main-course purchase, whole days (the lower middle buyer's).",
    }),
    from_completion: z.number().int().nullable().meta({
      description: "Course completion → main-course purchase, whole days (buyers who completed first).",
    }),
  }),
}).meta({ id: "ConversionFigures" });
export type ConversionFigures = z.output<typeof ConversionFigures>;

/** Whose figures: an admin's choice (null: everyone's), a manager's own. */
export function scopeOf(user: AuthUser, requested: string | undefined): string | null {
  return user.role === "admin" ? requested ?? null : user.id;
}

/** `part` of `whole`, 0 to 1 with 4 decimals; null when `whole` is 0. */
export const share = (part: number, whole: number) =>
  whole > 0 ? Math.round((part / whole) * 10_000) / 10_000 : null;

/** The academy's today (its time zone), the default end of a period. */
async function academyToday(sql: Sql): Promise<string> {
  const [{ today }] = await sql<{ today: string }[]>`
    select (now() at time zone s.time_zone)::date::text as today from academy.settings s`;
  return today;
}

export async function conversionFigures(
  user: AuthUser,
  query: ConversionQuery,
  sql: Sql = db(),
): Promise<ConversionFigures> {
  const scope = scopeOf(user, query.manager_id);
  const to = query.to ?? await academyToday(sql);
  const from = query.from ?? null;
  // An admin's whole academy is a row of its own (analytics.academy_scope()): a read costs its days only.
  const whose = sql`c.manager_id = coalesce(${scope}::uuid, analytics.academy_scope())`;
  const [counts] = await sql<{ sold: number; started: number; completed: number; bought: number }[]>`
    select coalesce(sum(c.sold), 0)::int as sold, coalesce(sum(c.started), 0)::int as started,
           coalesce(sum(c.completed), 0)::int as completed, coalesce(sum(c.bought), 0)::int as bought
    from ${
    from === null
      ? sql`analytics.conversion_totals c where true`
      : sql`analytics.conversion_days c where c.sold_on between ${from}::date and ${to}::date`
  }
      and ${whose}`;
  const revenue = await sql<{ currency: string; amount: string; buyers: number }[]>`
    select c.currency, sum(c.revenue)::numeric(20, 2)::text as amount, sum(c.buyers)::int as buyers
    from ${
    from === null
      ? sql`analytics.conversion_revenue_totals c where true`
      : sql`analytics.conversion_revenue c where c.sold_on between ${from}::date and ${to}::date`
  }
      and ${whose}
    group by c.currency having sum(c.buyers) > 0
    order by c.currency`;
  // The medians in whole days (the lower middle buyer's): all time from the kept histogram of days to the
  // purchase, a period from its own buyers (an index of buyers by sale day).
  const [medians] = from === null
    ? await sql<{ from_sale: number | null; from_completion: number | null }[]>`
      with lags as (
        select c.measure, c.days, c.buyers,
               sum(c.buyers) over (partition by c.measure order by c.days) as running,
               sum(c.buyers) over (partition by c.measure) as total
        from analytics.conversion_lags c where ${whose} and c.buyers > 0
      )
      select (select min(l.days) from lags l where l.measure = 'sale' and l.running * 2 >= l.total) as from_sale,
             (select min(l.days) from lags l where l.measure = 'completion' and l.running * 2 >= l.total)
               as from_completion`
    : await sql<{ from_sale: number | null; from_completion: number | null }[]>`
      select percentile_disc(0.5) within group (order by analytics.whole_days(f.sold_at, f.bought_at)) as from_sale,
             percentile_disc(0.5) within group (order by analytics.whole_days(f.completed_at, f.bought_at))
               filter (where f.completed_at <= f.bought_at) as from_completion
      from analytics.student_funnel f
      where f.bought_at is not null and f.sold_on between ${from}::date and ${to}::date
        and (${scope}::uuid is null or f.manager_id = ${scope}::uuid)`;
  return {
    from,
    to,
    manager_id: scope,
    ...counts,
    rates: {
      started: share(counts.started, counts.sold),
      completed: share(counts.completed, counts.sold),
      bought: share(counts.bought, counts.sold),
    },
    revenue,
    median_days: { from_sale: medians.from_sale, from_completion: medians.from_completion },
  };
}

export const ManagersQuery = z.strictObject({
  from: ConversionQuery.shape.from,
  to: ConversionQuery.shape.to,
  order_by: z.enum(["bought", "conversion", "revenue", "sold"], "bought, conversion, revenue or sold")
    .default("bought").meta({
      description:
        "`revenue` ranks by the main course's revenue in the academy's currency (others are listed).",
    }),
});
export type ManagersQuery = z.output<typeof ManagersQuery>;

export const ManagerConversion = z.object({
  manager_id: z.uuid(),
  full_name: z.string(),
  rank: z.number().int().min(1),
  sold: count,
  started: count,
  completed: count,
  bought: count,
  conversion: rate,
  revenue: z.array(Revenue),
}).meta({ id: "ManagerConversion" });

export const ManagersConversion = z.object({
  from: z.string().nullable(),
  to: z.string(),
  order_by: ManagersQuery.shape.order_by,
  currency: z.string().meta({ description: "The academy's currency: what `revenue` ranks by." }),
  managers: z.array(ManagerConversion),
}).meta({ id: "ManagersConversion" });
export type ManagersConversion = z.output<typeof ManagersConversion>;

/** Every manager's funnel for an admin, ranked as asked (ties share a rank). */
export async function managersConversion(query: ManagersQuery, sql: Sql = db()): Promise<ManagersConversion> {
  const to = query.to ?? await academyToday(sql);
  const from = query.from ?? null;
  const [{ currency }] = await sql<{ currency: string }[]>`select currency from academy.settings`;
  const rows = await sql<(Omit<z.output<typeof ManagerConversion>, "conversion" | "rank">)[]>`
    with counts as (
      select c.manager_id, sum(c.sold)::int as sold, sum(c.started)::int as started,
             sum(c.completed)::int as completed, sum(c.bought)::int as bought
      from ${
    from === null
      ? sql`analytics.conversion_totals c where true`
      : sql`analytics.conversion_days c where c.sold_on between ${from}::date and ${to}::date`
  }
        and c.manager_id <> analytics.academy_scope()
      group by c.manager_id
    ),
    money as (
      select c.manager_id, c.currency, sum(c.revenue)::numeric(20, 2) as amount, sum(c.buyers)::int as buyers
      from ${
    from === null
      ? sql`analytics.conversion_revenue_totals c where true`
      : sql`analytics.conversion_revenue c where c.sold_on between ${from}::date and ${to}::date`
  }
        and c.manager_id <> analytics.academy_scope()
      group by c.manager_id, c.currency having sum(c.buyers) > 0
    )
    select n.manager_id, u.full_name, n.sold, n.started, n.completed, n.bought,
           coalesce(r.revenue, '[]') as revenue
    from counts n
    join public.users u on u.id = n.manager_id
    left join (
      select m.manager_id,
             jsonb_agg(jsonb_build_object('currency', m.currency, 'amount', m.amount::text, 'buyers', m.buyers)
                       order by m.currency) as revenue
      from money m group by m.manager_id
    ) r on r.manager_id = n.manager_id
    where n.sold > 0 or n.bought > 0`;
  const key = (row: (typeof rows)[number]): number => {
    switch (query.order_by) {
      case "sold":
        return row.sold;
      case "conversion":
        return share(row.bought, row.sold) ?? 0;
      case "revenue":
        return Number(row.revenue.find((money) => money.currency === currency)?.amount ?? 0);
      default:
        return row.bought;
    }
  };
  // One collator for the sort: localeCompare would build one per comparison (35 ms for 100 managers).
  const byName = new Intl.Collator("ru").compare;
  const sorted = [...rows].sort((a, b) => key(b) - key(a) || byName(a.full_name, b.full_name));
  let rank = 0;
  const managers = sorted.map((row, index) => {
    if (index === 0 || key(row) !== key(sorted[index - 1])) rank = index + 1;
    return { ...row, rank, conversion: share(row.bought, row.sold) };
  });
  return { from, to, order_by: query.order_by, currency, managers };
}
