-- Money that cannot break the books: the analytics' sums were numeric(20, 2), so about a hundred sales at
-- numeric(12, 2)'s largest amount overflowed them (SQLSTATE 22003) and every refresh failed. A sale now has
-- a ceiling (20261124150000_limits.sql) and the sums are numeric(20, 2): a hundred million sales at the
-- ceiling still fit. The views are rebuilt as 20261124130100_net_revenue.sql made them, only wider.

drop materialized view if exists analytics.sales_leaderboard;
drop materialized view if exists analytics.daily_sales;
drop view if exists analytics.manager_daily_totals;

alter table analytics.manager_daily_history alter column revenue type numeric(20, 2);
alter table analytics.manager_daily_history alter column refunds type numeric(20, 2);

create or replace function analytics.daily_net_facts(first_day date, last_day date)
returns table (
  manager_id uuid, day date, students_created integer, revenue numeric(20, 2), lessons_completed integer,
  certificates_issued integer, students_started integer, refunds numeric(20, 2)
)
language sql
stable
set search_path = ''
as $$
  with zone as (
    select s.time_zone as tz,
           coalesce((first_day::timestamp at time zone s.time_zone), '-infinity'::timestamptz) as lo,
           ((last_day + 1)::timestamp at time zone s.time_zone) as hi
    from analytics.settings s
  ),
  sales as (
    select tu.granted_by as manager_id, (tu.created_at at time zone z.tz)::date as day,
           count(*) as students_created, sum(tu.payment_amount) as sold
    from zone z join public.tripwire_users tu on tu.created_at >= z.lo and tu.created_at < z.hi
    group by 1, 2
  ),
  refunded as (
    select tu.granted_by as manager_id, (r.created_at at time zone z.tz)::date as day, sum(r.amount) as refunds
    from zone z
    join public.student_refunds r on r.created_at >= z.lo and r.created_at < z.hi
    join public.tripwire_users tu on tu.user_id = r.user_id
    group by 1, 2
  ),
  completed as (
    select sp.user_id, sp.completed_at, tu.granted_by
    from zone z
    join public.student_progress sp on sp.status = 'completed' and sp.completed_at >= z.lo and sp.completed_at < z.hi
    join public.tripwire_users tu on tu.user_id = sp.user_id
  ),
  lessons as (
    select c.granted_by as manager_id, (c.completed_at at time zone z.tz)::date as day, count(*) as lessons_completed
    from completed c cross join zone z
    group by 1, 2
  ),
  started as (
    select f.granted_by as manager_id, (f.first_at at time zone z.tz)::date as day, count(*) as students_started
    from (
      select c.user_id, c.granted_by, min(c.completed_at) as first_at from completed c group by 1, 2
    ) f
    cross join zone z
    where not exists (
      select 1 from public.student_progress e
      where e.user_id = f.user_id and e.status = 'completed' and e.completed_at < z.lo
    )
    group by 1, 2
  ),
  certificates as (
    select tu.granted_by as manager_id, (c.issued_at at time zone z.tz)::date as day, count(*) as certificates_issued
    from zone z
    join public.certificates c on c.issued_at >= z.lo and c.issued_at < z.hi
    join public.tripwire_users tu on tu.user_id = c.user_id
    group by 1, 2
  )
  select manager_id, day,
         coalesce(s.students_created, 0)::integer,
         (coalesce(s.sold, 0) - coalesce(r.refunds, 0))::numeric(20, 2),
         coalesce(l.lessons_completed, 0)::integer, coalesce(c.certificates_issued, 0)::integer,
         coalesce(st.students_started, 0)::integer, coalesce(r.refunds, 0)::numeric(20, 2)
  from sales s
  full join refunded r using (manager_id, day)
  full join lessons l using (manager_id, day)
  full join certificates c using (manager_id, day)
  full join started st using (manager_id, day)
$$;
revoke execute on function analytics.daily_net_facts(date, date) from public, anon;
grant execute on function analytics.daily_net_facts(date, date) to authenticated, service_role;

-- Closed days (history) and the days since (live): everything, per manager and day.
create or replace view analytics.manager_daily_totals as
select h.manager_id, h.day, h.students_created, h.revenue, h.refunds, h.lessons_completed, h.certificates_issued,
       h.students_started
from analytics.manager_daily_history h
union all
select f.manager_id, f.day, f.students_created, f.revenue, f.refunds, f.lessons_completed, f.certificates_issued,
       f.students_started
from analytics.settings s
cross join lateral analytics.daily_net_facts(s.history_closed_through + 1, (now() at time zone s.time_zone)::date) f;
revoke all on table analytics.manager_daily_totals from public, anon, authenticated, service_role;
grant select on table analytics.manager_daily_totals to authenticated, service_role;

-- All managers together, per academy day (the admin's chart).
create materialized view analytics.daily_sales as
select day, sum(students_created)::integer as students_created, sum(revenue)::numeric(20, 2) as revenue,
       sum(refunds)::numeric(20, 2) as refunds, sum(lessons_completed)::integer as lessons_completed,
       sum(certificates_issued)::integer as certificates_issued
from analytics.manager_daily_totals
group by day;
create unique index daily_sales_day on analytics.daily_sales (day);
revoke all on table analytics.daily_sales from public, anon, authenticated, service_role;
grant select on table analytics.daily_sales to authenticated, service_role;

-- The leaderboard for each period, as of the refresh: today, this week (from Monday), this month, all
-- time, in the academy's time zone. Every manager appears, with zeros before their first sale.
-- revenue: net of refunds; students_active: students with access who completed a lesson in the period
-- (for all time: who ever started, less those whose access was taken away).
create materialized view analytics.sales_leaderboard as
with zone as (
  select time_zone as tz, (now() at time zone time_zone)::date as today from analytics.settings
),
periods (period, starts_on) as (
  select 'day', today from zone
  union all select 'week', date_trunc('week', today)::date from zone
  union all select 'month', date_trunc('month', today)::date from zone
  union all select 'all', null::date
),
facts as (
  select p.period, f.manager_id, sum(f.revenue) as revenue, sum(f.refunds) as refunds,
         sum(f.students_created) as students_created, sum(f.lessons_completed) as lessons_completed,
         sum(f.certificates_issued) as certificates_issued, sum(f.students_started) as students_started
  from periods p
  join analytics.manager_daily_totals f on p.starts_on is null or f.day >= p.starts_on
  group by 1, 2
),
learners as (
  select p.period, tu.granted_by as manager_id, count(distinct sp.user_id) as students_active
  from periods p
  cross join zone z
  join public.student_progress sp
    on sp.status = 'completed' and sp.completed_at >= (p.starts_on::timestamp at time zone z.tz)
  join public.tripwire_users tu on tu.user_id = sp.user_id and tu.status in ('active', 'completed')
  where p.starts_on is not null
  group by 1, 2
),
revoked_learners as (
  select tu.granted_by as manager_id, count(*) as students
  from public.tripwire_users tu
  where tu.status in ('refunded', 'suspended')
    and exists (select 1 from public.student_progress sp where sp.user_id = tu.user_id and sp.status = 'completed')
  group by 1
),
managers as (
  select u.id, u.full_name from public.users u
  where u.role = 'manager' or exists (select 1 from facts f where f.manager_id = u.id)
),
totals as (
  select p.period, p.starts_on, m.id as manager_id, m.full_name,
         coalesce(f.revenue, 0)::numeric(20, 2) as revenue,
         coalesce(f.refunds, 0)::numeric(20, 2) as refunds,
         coalesce(f.students_created, 0)::integer as students_created,
         greatest(coalesce(case when p.period = 'all' then f.students_started - coalesce(r.students, 0)
                                else l.students_active end, 0), 0)::integer as students_active,
         coalesce(f.lessons_completed, 0)::integer as lessons_completed,
         coalesce(f.certificates_issued, 0)::integer as certificates_issued
  from periods p
  cross join managers m
  left join facts f on f.period = p.period and f.manager_id = m.id
  left join learners l on l.period = p.period and l.manager_id = m.id
  left join revoked_learners r on r.manager_id = m.id
)
select period, starts_on, manager_id, full_name, revenue, refunds, students_created, students_active,
       lessons_completed, certificates_issued,
       rank() over (
         partition by period order by revenue desc, students_created desc, certificates_issued desc
       )::integer as rank,
       -- a total order for the page: rank, then name, then id
       row_number() over (
         partition by period
         order by revenue desc, students_created desc, certificates_issued desc, full_name, manager_id
       )::integer as position
from totals;
create unique index sales_leaderboard_period_manager on analytics.sales_leaderboard (period, manager_id);
create unique index sales_leaderboard_period_position on analytics.sales_leaderboard (period, position);
revoke all on table analytics.sales_leaderboard from public, anon, authenticated, service_role;
-- The RPCs run as their caller (security invoker) and check the caller's scope before reading.
grant select on table analytics.sales_leaderboard to authenticated, service_role;

notify pgrst, 'reload schema';
