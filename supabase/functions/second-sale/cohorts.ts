/**
 * Cohorts by the week of the tripwire sale: for students sold in week W, the share that had bought the main
 * course by week W+k (k = 0 for the sale's own week). Weeks start on Monday, in the academy's time zone; a
 * purchase counts in the week of its day there. Sold per week from the kept sums; buyers from the buyers'
 * index — so a read costs the weeks and their buyers, not every student.
 */
import { z } from "zod";
import type { AuthUser } from "../_shared/auth.ts";
import { db, type Sql } from "../_shared/db.ts";
import { scopeOf, share } from "./conversion.ts";

export const CohortsQuery = z.strictObject({
  weeks: z.coerce.number().int().min(1).max(52).default(12).meta({
    description: "How many sale weeks, the current one last (1 to 52; 12 unless asked).",
  }),
  manager_id: z.uuid("a manager's id (uuid)").optional().meta({
    description: "An admin's choice of one manager; a manager always reads their own.",
  }),
});
export type CohortsQuery = z.output<typeof CohortsQuery>;

export const Cohort = z.object({
  week_start: z.string().meta({ description: "The Monday the sale week starts on (YYYY-MM-DD)." }),
  sold: z.number().int().min(0),
  bought_by_week: z.array(z.number().int().min(0)).meta({
    description:
      "Element k: how many of the cohort had bought the main course by the end of week W+k, up to " +
      "the current week.",
  }),
  share_by_week: z.array(z.number().min(0).max(1).nullable()).meta({
    description: "The same as a share of `sold` (4 decimals; null when none were sold).",
  }),
}).meta({ id: "Cohort" });

export const Cohorts = z.object({
  manager_id: z.uuid().nullable(),
  cohorts: z.array(Cohort),
}).meta({ id: "Cohorts" });
export type Cohorts = z.output<typeof Cohorts>;

export async function cohorts(user: AuthUser, query: CohortsQuery, sql: Sql = db()): Promise<Cohorts> {
  const scope = scopeOf(user, query.manager_id);
  const rows = await sql<{ week_start: string; sold: number; buyers: number[] }[]>`
    with settings as (
      select s.time_zone, date_trunc('week', now() at time zone s.time_zone)::date as this_week
      from academy.settings s
    ),
    weeks as (
      select (st.this_week - 7 * w)::date as week_start, w as weeks_ago
      from settings st, generate_series(0, ${query.weeks - 1}) as w
    ),
    sold as (
      select date_trunc('week', c.sold_on)::date as week_start, sum(c.sold)::int as sold
      from analytics.conversion_days c, settings st
      where c.sold_on >= st.this_week - 7 * (${query.weeks} - 1)
        and c.manager_id = coalesce(${scope}::uuid, analytics.academy_scope())
      group by 1
    ),
    bought as (
      select date_trunc('week', f.sold_on)::date as week_start,
             ((date_trunc('week', f.bought_at at time zone st.time_zone)::date
               - date_trunc('week', f.sold_on)::date) / 7)::int as k,
             count(*)::int as buyers
      from analytics.student_funnel f, settings st
      where f.bought_at is not null and f.sold_on >= st.this_week - 7 * (${query.weeks} - 1)
        and (${scope}::uuid is null or f.manager_id = ${scope}::uuid)
      group by 1, 2
    )
    select w.week_start::text as week_start, coalesce(s.sold, 0) as sold,
           array(select coalesce(sum(b.buyers) filter (where b.k <= k.k), 0)::int
                 from generate_series(0, w.weeks_ago) as k(k)
                 left join bought b on b.week_start = w.week_start
                 group by k.k order by k.k) as buyers
    from weeks w left join sold s on s.week_start = w.week_start
    order by w.week_start`;
  return {
    manager_id: scope,
    cohorts: rows.map((row) => ({
      week_start: row.week_start,
      sold: row.sold,
      bought_by_week: row.buyers,
      share_by_week: row.buyers.map((buyers) => share(buyers, row.sold)),
    })),
  };
}
