-- Sales analytics (DESIGN.md, leaderboard): SQL does the aggregation into materialized views in the
-- `analytics` schema, which PostgREST does not expose; `refresh_sales_stats()` refreshes them
-- concurrently; four RPCs read them, callable by the leaderboard function and by `supabase.rpc()`.

create schema if not exists analytics;
revoke all on schema analytics from public;
grant usage on schema analytics to authenticated, service_role;

-- The academy's time zone: what "today", "this week" and a chart's days mean. One row.
create table if not exists analytics.settings (
  id boolean primary key default true,
  time_zone text not null default 'Asia/Almaty',
  updated_at timestamptz not null default now(),
  constraint settings_single_row check (id),
  -- an unknown zone name makes this expression raise, so it can never be stored
  constraint settings_time_zone_known check ((timestamptz '2000-01-01 00:00Z' at time zone time_zone) is not null)
);
insert into analytics.settings (id) values (true) on conflict (id) do nothing;
revoke all on table analytics.settings from public, anon, authenticated, service_role;
grant select on table analytics.settings to authenticated, service_role;

create or replace trigger settings_set_updated_at
  before update on analytics.settings
  for each row execute function private.set_updated_at();

-- Per manager and academy day: sales, revenue, completions, certificates.
create materialized view if not exists analytics.manager_daily_sales as
with zone as (
  select time_zone from analytics.settings
),
sales as (
  select tu.granted_by as manager_id, (tu.created_at at time zone zone.time_zone)::date as day,
         count(*) as students_created, sum(tu.payment_amount) as revenue
  from public.tripwire_users tu cross join zone
  group by 1, 2
),
completions as (
  select tu.granted_by as manager_id, (sp.completed_at at time zone zone.time_zone)::date as day,
         count(*) as lessons_completed
  from public.student_progress sp
  join public.tripwire_users tu on tu.user_id = sp.user_id
  cross join zone
  where sp.status = 'completed'
  group by 1, 2
),
certificates as (
  select tu.granted_by as manager_id, (c.issued_at at time zone zone.time_zone)::date as day,
         count(*) as certificates_issued
  from public.certificates c
  join public.tripwire_users tu on tu.user_id = c.user_id
  cross join zone
  group by 1, 2
)
select manager_id, day,
       coalesce(s.students_created, 0)::integer as students_created,
       coalesce(s.revenue, 0)::numeric(14, 2) as revenue,
       coalesce(l.lessons_completed, 0)::integer as lessons_completed,
       coalesce(c.certificates_issued, 0)::integer as certificates_issued
from sales s
full join completions l using (manager_id, day)
full join certificates c using (manager_id, day);

create unique index if not exists manager_daily_sales_manager_day on analytics.manager_daily_sales (manager_id, day);

-- All managers together, per academy day (the admin's chart).
create materialized view if not exists analytics.daily_sales as
select day, sum(students_created)::integer as students_created, sum(revenue)::numeric(14, 2) as revenue,
       sum(lessons_completed)::integer as lessons_completed, sum(certificates_issued)::integer as certificates_issued
from analytics.manager_daily_sales
group by day;

create unique index if not exists daily_sales_day on analytics.daily_sales (day);

-- Students by the academy day of their last activity (a heartbeat, a completion): "active since D" is
-- then a sum over the days from D on, for any D, without keeping every day's history.
create materialized view if not exists analytics.manager_last_activity as
with zone as (
  select time_zone from analytics.settings
),
watched as (
  select user_id, max(last_heartbeat_at) as at from public.video_tracking group by user_id
),
last_activity as (
  select tu.granted_by as manager_id,
         greatest(w.at, p.last_activity_at) as at
  from public.tripwire_users tu
  left join watched w on w.user_id = tu.user_id
  left join public.tripwire_user_profile p on p.user_id = tu.user_id
)
select manager_id, (at at time zone zone.time_zone)::date as day, count(*)::integer as students
from last_activity cross join zone
where at is not null
group by 1, 2;

create unique index if not exists manager_last_activity_manager_day on analytics.manager_last_activity (manager_id, day);

-- The leaderboard for each period, as of the refresh: today, this week (from Monday), this month, all
-- time, in the academy's time zone. Every manager appears, with zeros before their first sale.
create materialized view if not exists analytics.sales_leaderboard as
with zone as (
  select time_zone, (now() at time zone time_zone)::date as today from analytics.settings
),
periods (period, starts_on) as (
  select 'day', today from zone
  union all select 'week', date_trunc('week', today)::date from zone
  union all select 'month', date_trunc('month', today)::date from zone
  union all select 'all', null::date
),
managers as (
  select u.id, u.full_name from public.users u
  where u.role = 'manager' or exists (select 1 from analytics.manager_daily_sales d where d.manager_id = u.id)
),
totals as (
  select p.period, p.starts_on, m.id as manager_id, m.full_name,
         coalesce(s.revenue, 0)::numeric(14, 2) as revenue,
         coalesce(s.students_created, 0)::integer as students_created,
         coalesce(a.students, 0)::integer as students_active,
         coalesce(s.lessons_completed, 0)::integer as lessons_completed,
         coalesce(s.certificates_issued, 0)::integer as certificates_issued
  from periods p
  cross join managers m
  left join lateral (
    select sum(d.revenue) as revenue, sum(d.students_created) as students_created,
           sum(d.lessons_completed) as lessons_completed, sum(d.certificates_issued) as certificates_issued
    from analytics.manager_daily_sales d
    where d.manager_id = m.id and (p.starts_on is null or d.day >= p.starts_on)
  ) s on true
  left join lateral (
    select sum(x.students) as students
    from analytics.manager_last_activity x
    where x.manager_id = m.id and (p.starts_on is null or x.day >= p.starts_on)
  ) a on true
)
select period, starts_on, manager_id, full_name, revenue, students_created, students_active, lessons_completed,
       certificates_issued,
       rank() over (
         partition by period order by revenue desc, students_created desc, certificates_issued desc
       )::integer as rank,
       -- a total order for the page: rank, then name, then id
       row_number() over (
         partition by period
         order by revenue desc, students_created desc, certificates_issued desc, full_name, manager_id
       )::integer as position
from totals;

create unique index if not exists sales_leaderboard_period_manager on analytics.sales_leaderboard (period, manager_id);
create unique index if not exists sales_leaderboard_period_position on analytics.sales_leaderboard (period, position);

-- When each view was last refreshed and what it cost.
create table if not exists analytics.refresh_log (
  view_name text primary key,
  refreshed_at timestamptz not null,
  duration_ms numeric(12, 3) not null,
  row_count bigint not null,
  constraint refresh_log_duration_non_negative check (duration_ms >= 0),
  constraint refresh_log_row_count_non_negative check (row_count >= 0)
);
revoke all on table analytics.refresh_log from public, anon, authenticated, service_role;
grant select on table analytics.refresh_log to authenticated, service_role;

insert into analytics.refresh_log (view_name, refreshed_at, duration_ms, row_count)
select v.name, now(), 0, 0
from (values ('manager_daily_sales'), ('daily_sales'), ('manager_last_activity'), ('sales_leaderboard')) as v (name)
on conflict (view_name) do nothing;

revoke all on table analytics.manager_daily_sales, analytics.daily_sales, analytics.manager_last_activity,
  analytics.sales_leaderboard from public, anon, authenticated, service_role;
-- The RPCs run as their caller (security invoker) and check the caller's scope before reading.
grant select on table analytics.manager_daily_sales, analytics.daily_sales, analytics.manager_last_activity,
  analytics.sales_leaderboard to authenticated, service_role;

-- Refreshes every view concurrently (reads never wait), in dependency order, in one transaction, so a
-- reader sees all of them from the same moment. A second run while one is going returns at once with
-- refreshed = false: the transaction-scoped advisory lock is held until the first one commits.
create or replace function analytics.refresh_sales_stats()
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  view_name text;
  started timestamptz;
  row_count bigint;
  report jsonb := '[]';
begin
  if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('tripwire.refresh_sales_stats')) then
    return jsonb_build_object('refreshed', false, 'reason', 'another refresh is running');
  end if;
  foreach view_name in array array['manager_daily_sales', 'daily_sales', 'manager_last_activity', 'sales_leaderboard']
  loop
    started := pg_catalog.clock_timestamp();
    execute pg_catalog.format('refresh materialized view concurrently analytics.%I', view_name);
    execute pg_catalog.format('select count(*) from analytics.%I', view_name) into row_count;
    insert into analytics.refresh_log as l (view_name, refreshed_at, duration_ms, row_count)
    values (
      view_name, pg_catalog.clock_timestamp(),
      extract(epoch from pg_catalog.clock_timestamp() - started) * 1000, row_count
    )
    on conflict on constraint refresh_log_pkey do update
      set refreshed_at = excluded.refreshed_at, duration_ms = excluded.duration_ms, row_count = excluded.row_count;
    report := report || jsonb_build_object(
      'view', view_name,
      'duration_ms', round(extract(epoch from pg_catalog.clock_timestamp() - started) * 1000, 3),
      'rows', row_count
    );
  end loop;
  return jsonb_build_object('refreshed', true, 'views', report);
end
$$;
revoke execute on function analytics.refresh_sales_stats() from public, anon, authenticated;
grant execute on function analytics.refresh_sales_stats() to service_role;

-- Whose figures the caller may read. A manager: their own (asking for another's → 42501); an admin:
-- the manager asked for, or everyone's (null); a student or a stranger → 42501.
create or replace function analytics.caller_scope(requested_manager uuid)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  caller_id uuid := (select auth.uid());
  caller_role text;
begin
  select u.role into caller_role from public.users u where u.id = caller_id;
  if caller_role = 'admin' then
    return requested_manager;
  elsif caller_role = 'manager' then
    if requested_manager is not null and requested_manager <> caller_id then
      raise exception 'a manager reads only their own figures' using errcode = '42501';
    end if;
    return caller_id;
  end if;
  raise exception 'only managers and admins read sales analytics' using errcode = '42501';
end
$$;
revoke execute on function analytics.caller_scope(uuid) from public, anon;
grant execute on function analytics.caller_scope(uuid) to authenticated, service_role;

create or replace function analytics.refreshed_at() returns timestamptz
language sql
stable
set search_path = ''
as $$
  select min(refreshed_at) from analytics.refresh_log
$$;
revoke execute on function analytics.refreshed_at() from public, anon;
grant execute on function analytics.refreshed_at() to authenticated, service_role;

-- GET /leaderboard: managers ranked by revenue, then students created, then certificates.
create or replace function public.get_sales_leaderboard(period text default 'month', "limit" integer default 20)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  result jsonb;
begin
  perform analytics.caller_scope(null);
  if period is null or period not in ('day', 'week', 'month', 'all') then
    raise exception 'period must be day, week, month or all' using errcode = '22023';
  end if;
  if "limit" is null or "limit" not between 1 and 100 then
    raise exception 'limit must be between 1 and 100' using errcode = '22023';
  end if;
  select jsonb_build_object(
    'period', get_sales_leaderboard.period,
    'period_start', (select l.starts_on from analytics.sales_leaderboard l where l.period = get_sales_leaderboard.period limit 1),
    'time_zone', (select s.time_zone from analytics.settings s),
    'refreshed_at', analytics.refreshed_at(),
    'managers', coalesce(jsonb_agg(jsonb_build_object(
      'rank', l.rank, 'manager_id', l.manager_id, 'full_name', l.full_name, 'revenue', l.revenue,
      'students_created', l.students_created, 'students_active', l.students_active,
      'lessons_completed', l.lessons_completed, 'certificates_issued', l.certificates_issued
    ) order by l.position), '[]')
  ) into result
  from (
    select * from analytics.sales_leaderboard l
    where l.period = get_sales_leaderboard.period
    order by l.position
    limit get_sales_leaderboard."limit"
  ) l;
  return result;
end
$$;

-- GET /leaderboard/chart: one entry per academy day from `from` to `to` (at most 366), zeros where
-- nothing happened. Defaults: the last 30 days.
create or replace function public.get_sales_chart_data("from" date default null, "to" date default null, manager_id uuid default null)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  scope uuid := analytics.caller_scope(manager_id);
  today date := (select (now() at time zone s.time_zone)::date from analytics.settings s);
  last_day date := coalesce("to", today);
  first_day date := coalesce("from", last_day - 29);
  result jsonb;
begin
  if first_day > last_day then
    raise exception 'from must not be after to' using errcode = '22023';
  end if;
  if last_day - first_day + 1 > 366 then
    raise exception 'a chart spans at most 366 days' using errcode = '22023';
  end if;
  with days as (
    select d::date as day from generate_series(first_day, last_day, interval '1 day') as d
  ),
  facts as (
    select m.day, m.students_created, m.revenue, m.lessons_completed, m.certificates_issued
    from analytics.manager_daily_sales m
    where scope is not null and m.manager_id = scope and m.day between first_day and last_day
    union all
    select a.day, a.students_created, a.revenue, a.lessons_completed, a.certificates_issued
    from analytics.daily_sales a
    where scope is null and a.day between first_day and last_day
  )
  select jsonb_build_object(
    'from', first_day, 'to', last_day, 'manager_id', scope,
    'time_zone', (select s.time_zone from analytics.settings s),
    'refreshed_at', analytics.refreshed_at(),
    'days', jsonb_agg(jsonb_build_object(
      'day', days.day,
      'revenue', coalesce(f.revenue, 0),
      'students_created', coalesce(f.students_created, 0),
      'lessons_completed', coalesce(f.lessons_completed, 0),
      'certificates_issued', coalesce(f.certificates_issued, 0)
    ) order by days.day)
  ) into result
  from days left join facts f on f.day = days.day;
  return result;
end
$$;

-- GET /leaderboard/stats: a manager's figures and rank for each period (an admin without a manager:
-- everyone's totals, no rank).
create or replace function public.get_manager_stats(manager_id uuid default null)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  scope uuid := analytics.caller_scope(manager_id);
  result jsonb;
begin
  if scope is not null and not exists (select 1 from public.users u where u.id = scope) then
    raise exception 'there is no manager %', scope using errcode = 'P0002';
  end if;
  select jsonb_build_object(
    'manager_id', scope,
    'full_name', (select u.full_name from public.users u where u.id = scope),
    'time_zone', (select s.time_zone from analytics.settings s),
    'refreshed_at', analytics.refreshed_at(),
    'periods', jsonb_object_agg(t.period, jsonb_build_object(
      'period_start', t.starts_on, 'rank', t.rank, 'managers_ranked', t.managers_ranked, 'revenue', t.revenue,
      'students_created', t.students_created, 'students_active', t.students_active,
      'lessons_completed', t.lessons_completed, 'certificates_issued', t.certificates_issued
    ))
  ) into result
  from (
    select l.period, min(l.starts_on) as starts_on,
           case when scope is null then null else min(l.rank) filter (where l.manager_id = scope) end as rank,
           count(*) as managers_ranked,
           coalesce(sum(l.revenue) filter (where scope is null or l.manager_id = scope), 0) as revenue,
           coalesce(sum(l.students_created) filter (where scope is null or l.manager_id = scope), 0) as students_created,
           coalesce(sum(l.students_active) filter (where scope is null or l.manager_id = scope), 0) as students_active,
           coalesce(sum(l.lessons_completed) filter (where scope is null or l.manager_id = scope), 0) as lessons_completed,
           coalesce(sum(l.certificates_issued) filter (where scope is null or l.manager_id = scope), 0) as certificates_issued
    from analytics.sales_leaderboard l
    group by l.period
  ) t;
  return result;
end
$$;

-- The feed may be read across all managers by an admin, newest first.
create index if not exists sales_activity_log_created_at on public.sales_activity_log (created_at desc, id desc);

-- GET /leaderboard/activity: the feed, newest first, keyset-paginated by (created_at, id). Live rows,
-- not a view: a feed must show what just happened. Row level security applies (security invoker).
create or replace function public.get_manager_activity(
  manager_id uuid default null,
  before_created_at timestamptz default null,
  before_id bigint default null,
  "limit" integer default 20
)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  scope uuid := analytics.caller_scope(manager_id);
  result jsonb;
begin
  if "limit" is null or "limit" not between 1 and 100 then
    raise exception 'limit must be between 1 and 100' using errcode = '22023';
  end if;
  if (before_created_at is null) <> (before_id is null) then
    raise exception 'before_created_at and before_id go together' using errcode = '22023';
  end if;
  select jsonb_build_object(
    'manager_id', scope,
    'refreshed_at', now(),
    'events', coalesce(jsonb_agg(jsonb_build_object(
      'id', e.id, 'event_type', e.event_type, 'manager_id', e.manager_id, 'student_id', e.student_id,
      'details', e.details, 'created_at', e.created_at
    ) order by e.created_at desc, e.id desc), '[]')
  ) into result
  from (
    select a.id, a.event_type, a.manager_id, a.student_id, a.details, a.created_at
    from public.sales_activity_log a
    where (scope is null or a.manager_id = scope)
      and (before_created_at is null or (a.created_at, a.id) < (before_created_at, before_id))
    order by a.created_at desc, a.id desc
    limit get_manager_activity."limit"
  ) e;
  return result;
end
$$;

revoke execute on function public.get_sales_leaderboard(text, integer) from public, anon;
revoke execute on function public.get_sales_chart_data(date, date, uuid) from public, anon;
revoke execute on function public.get_manager_stats(uuid) from public, anon;
revoke execute on function public.get_manager_activity(uuid, timestamptz, bigint, integer) from public, anon;
grant execute on function public.get_sales_leaderboard(text, integer) to authenticated, service_role;
grant execute on function public.get_sales_chart_data(date, date, uuid) to authenticated, service_role;
grant execute on function public.get_manager_stats(uuid) to authenticated, service_role;
grant execute on function public.get_manager_activity(uuid, timestamptz, bigint, integer) to authenticated, service_role;

notify pgrst, 'reload schema';
