-- Sales analytics (docs/architecture.md, Analytics): SQL does the aggregation. Closed academy days are kept,
-- per manager, in a history table that each refresh extends by the days that ended since the last one
-- (range scans on indexed times, never a pass over every student); the current days are aggregated
-- live. Materialized views in the `analytics` schema, which PostgREST does not expose, hold what is
-- read: the leaderboard of every period and the daily series. `refresh_sales_stats()` refreshes them
-- concurrently; four RPCs read them, callable by the leaderboard function and by `supabase.rpc()`.

create schema if not exists analytics;
revoke all on schema analytics from public;
grant usage on schema analytics to authenticated, service_role;

-- The academy's time zone ("today", "this week", a chart's days) and how far the history reaches.
create table if not exists analytics.settings (
  id boolean primary key default true,
  time_zone text not null default 'Asia/Almaty',
  -- the last academy day whose facts are in manager_daily_history; null: none yet
  history_closed_through date,
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

-- What happened per manager and academy day. `students_started`: students whose first completed lesson
-- was that day (summed over any span: students who started learning in it).
create or replace function analytics.daily_facts(first_day date, last_day date)
returns table (
  manager_id uuid, day date, students_created integer, revenue numeric(14, 2), lessons_completed integer,
  certificates_issued integer, students_started integer
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
           count(*) as students_created, sum(tu.payment_amount) as revenue
    from zone z join public.tripwire_users tu on tu.created_at >= z.lo and tu.created_at < z.hi
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
         coalesce(s.students_created, 0)::integer, coalesce(s.revenue, 0)::numeric(14, 2),
         coalesce(l.lessons_completed, 0)::integer, coalesce(c.certificates_issued, 0)::integer,
         coalesce(st.students_started, 0)::integer
  from sales s
  full join lessons l using (manager_id, day)
  full join certificates c using (manager_id, day)
  full join started st using (manager_id, day)
$$;
revoke execute on function analytics.daily_facts(date, date) from public, anon;
grant execute on function analytics.daily_facts(date, date) to authenticated, service_role;

create table if not exists analytics.manager_daily_history (
  manager_id uuid not null,
  day date not null,
  students_created integer not null default 0,
  revenue numeric(14, 2) not null default 0,
  lessons_completed integer not null default 0,
  certificates_issued integer not null default 0,
  students_started integer not null default 0,
  primary key (manager_id, day)
);
revoke all on table analytics.manager_daily_history from public, anon, authenticated, service_role;
grant select on table analytics.manager_daily_history to authenticated, service_role;

-- Closed days (history) and the days since (live): everything, per manager and day.
create or replace view analytics.manager_daily_facts as
select h.manager_id, h.day, h.students_created, h.revenue, h.lessons_completed, h.certificates_issued,
       h.students_started
from analytics.manager_daily_history h
union all
select f.manager_id, f.day, f.students_created, f.revenue, f.lessons_completed, f.certificates_issued,
       f.students_started
from analytics.settings s
cross join lateral analytics.daily_facts(s.history_closed_through + 1, (now() at time zone s.time_zone)::date) f;
revoke all on table analytics.manager_daily_facts from public, anon, authenticated, service_role;
grant select on table analytics.manager_daily_facts to authenticated, service_role;

-- All managers together, per academy day (the admin's chart).
create materialized view if not exists analytics.daily_sales as
select day, sum(students_created)::integer as students_created, sum(revenue)::numeric(14, 2) as revenue,
       sum(lessons_completed)::integer as lessons_completed, sum(certificates_issued)::integer as certificates_issued
from analytics.manager_daily_facts
group by day;

create unique index if not exists daily_sales_day on analytics.daily_sales (day);

-- The leaderboard for each period, as of the refresh: today, this week (from Monday), this month, all
-- time, in the academy's time zone. Every manager appears, with zeros before their first sale.
-- students_active: students who completed a lesson in the period.
create materialized view if not exists analytics.sales_leaderboard as
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
  select p.period, f.manager_id, sum(f.revenue) as revenue, sum(f.students_created) as students_created,
         sum(f.lessons_completed) as lessons_completed, sum(f.certificates_issued) as certificates_issued,
         sum(f.students_started) as students_started
  from periods p
  join analytics.manager_daily_facts f on p.starts_on is null or f.day >= p.starts_on
  group by 1, 2
),
-- distinct learners in the current periods, from the completions since the month (or week) began
learners as (
  select p.period, tu.granted_by as manager_id, count(distinct sp.user_id) as students_active
  from periods p
  cross join zone z
  join public.student_progress sp
    on sp.status = 'completed' and sp.completed_at >= (p.starts_on::timestamp at time zone z.tz)
  join public.tripwire_users tu on tu.user_id = sp.user_id
  where p.starts_on is not null
  group by 1, 2
),
managers as (
  select u.id, u.full_name from public.users u
  where u.role = 'manager' or exists (select 1 from facts f where f.manager_id = u.id)
),
totals as (
  select p.period, p.starts_on, m.id as manager_id, m.full_name,
         coalesce(f.revenue, 0)::numeric(14, 2) as revenue,
         coalesce(f.students_created, 0)::integer as students_created,
         coalesce(case when p.period = 'all' then f.students_started else l.students_active end, 0)::integer
           as students_active,
         coalesce(f.lessons_completed, 0)::integer as lessons_completed,
         coalesce(f.certificates_issued, 0)::integer as certificates_issued
  from periods p
  cross join managers m
  left join facts f on f.period = p.period and f.manager_id = m.id
  left join learners l on l.period = p.period and l.manager_id = m.id
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

-- When each step of the refresh last ran and what it cost.
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

revoke all on table analytics.daily_sales, analytics.sales_leaderboard from public, anon, authenticated, service_role;
-- The RPCs run as their caller (security invoker) and check the caller's scope before reading.
grant select on table analytics.daily_sales, analytics.sales_leaderboard to authenticated, service_role;

-- Extends the history by the academy days that ended (at least 15 minutes ago, so a transaction that
-- began before midnight has committed), or rebuilds it whole (`rebuild`: after the time zone changed or
-- past rows were corrected), then refreshes both views concurrently (reads never wait), in one
-- transaction, so a reader sees them from the same moment. A second run while one is going returns at
-- once with refreshed = false: the transaction-scoped advisory lock is held until the first commits.
create or replace function analytics.refresh_sales_stats(rebuild boolean default false)
returns jsonb
language plpgsql
security definer
set search_path = ''
-- The planner cannot see through daily_facts() and overestimates its rows a thousandfold; with JIT on,
-- that bought ~0.6 s of LLVM compilation on every refresh of an empty database. These queries are
-- short: plain execution is faster.
set jit = off
as $$
declare
  settings analytics.settings;
  closable date;
  step text;
  started timestamptz;
  affected bigint;
  report jsonb := '[]';
begin
  if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('tripwire.refresh_sales_stats')) then
    return jsonb_build_object('refreshed', false, 'reason', 'another refresh is running');
  end if;
  select * into settings from analytics.settings for update;
  closable := ((now() - interval '15 minutes') at time zone settings.time_zone)::date - 1;
  foreach step in array array['manager_daily_history', 'daily_sales', 'sales_leaderboard']
  loop
    started := pg_catalog.clock_timestamp();
    if step = 'manager_daily_history' then
      affected := 0;
      if rebuild or settings.history_closed_through is null then
        delete from analytics.manager_daily_history;
        settings.history_closed_through := null;
      end if;
      if settings.history_closed_through is null or settings.history_closed_through < closable then
        insert into analytics.manager_daily_history
        select * from analytics.daily_facts(settings.history_closed_through + 1, closable) f
        where f.manager_id is not null;
        get diagnostics affected = row_count;
        update analytics.settings set history_closed_through = closable;
      end if;
    else
      execute pg_catalog.format('refresh materialized view concurrently analytics.%I', step);
      execute pg_catalog.format('select count(*) from analytics.%I', step) into affected;
    end if;
    insert into analytics.refresh_log as l (view_name, refreshed_at, duration_ms, row_count)
    values (step, pg_catalog.clock_timestamp(), extract(epoch from pg_catalog.clock_timestamp() - started) * 1000,
            affected)
    on conflict on constraint refresh_log_pkey do update
      set refreshed_at = excluded.refreshed_at, duration_ms = excluded.duration_ms, row_count = excluded.row_count;
    report := report || jsonb_build_object(
      'view', step,
      'duration_ms', round(extract(epoch from pg_catalog.clock_timestamp() - started) * 1000, 3),
      'rows', affected
    );
  end loop;
  return jsonb_build_object('refreshed', true, 'rebuilt', rebuild, 'views', report);
end
$$;
revoke execute on function analytics.refresh_sales_stats(boolean) from public, anon, authenticated;
grant execute on function analytics.refresh_sales_stats(boolean) to service_role;

-- Changing the academy's time zone moves every day boundary: the history is rebuilt with it.
create or replace function analytics.set_time_zone(time_zone text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  update analytics.settings s set time_zone = set_time_zone.time_zone, history_closed_through = null;
  return analytics.refresh_sales_stats(rebuild => true);
end
$$;
revoke execute on function analytics.set_time_zone(text) from public, anon, authenticated;
grant execute on function analytics.set_time_zone(text) to service_role;

-- The history as of now, and refreshed_at for every step.
select analytics.refresh_sales_stats();

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
set jit = off
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
    from analytics.manager_daily_history m
    where scope is not null and m.manager_id = scope and m.day between first_day and last_day
    union all
    select f.day, f.students_created, f.revenue, f.lessons_completed, f.certificates_issued
    from analytics.settings s
    cross join lateral analytics.daily_facts(greatest(s.history_closed_through + 1, first_day), last_day) f
    where scope is not null and f.manager_id = scope
      and (s.history_closed_through is null or s.history_closed_through < last_day)
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

-- The leaderboard function's way in: one statement that becomes the signed-in user exactly as
-- PostgREST does (role authenticated, the JWT's claims), then calls the RPC, so the same grants, row
-- level security and scope checks apply, in one round trip instead of BEGIN, set, call, COMMIT. Only the
-- service role may speak for a user.
create or replace function private.call_as_user(caller uuid, rpc text, args jsonb)
returns jsonb
language plpgsql
set search_path = ''
as $$
begin
  perform pg_catalog.set_config('request.jwt.claims',
                                jsonb_build_object('sub', caller, 'role', 'authenticated')::text, true);
  perform pg_catalog.set_config('role', 'authenticated', true);
  case rpc
    when 'get_sales_leaderboard' then
      return public.get_sales_leaderboard(args ->> 'period', (args ->> 'limit')::integer);
    when 'get_sales_chart_data' then
      return public.get_sales_chart_data((args ->> 'from')::date, (args ->> 'to')::date, (args ->> 'manager_id')::uuid);
    when 'get_manager_stats' then
      return public.get_manager_stats((args ->> 'manager_id')::uuid);
    when 'get_manager_activity' then
      return public.get_manager_activity(
        (args ->> 'manager_id')::uuid, (args ->> 'before_created_at')::timestamptz, (args ->> 'before_id')::bigint,
        (args ->> 'limit')::integer
      );
    else
      raise exception 'no such analytics RPC: %', rpc using errcode = '22023';
  end case;
end
$$;
revoke execute on function private.call_as_user(uuid, text, jsonb) from public, anon, authenticated;
grant execute on function private.call_as_user(uuid, text, jsonb) to service_role;

revoke execute on function public.get_sales_leaderboard(text, integer) from public, anon;
revoke execute on function public.get_sales_chart_data(date, date, uuid) from public, anon;
revoke execute on function public.get_manager_stats(uuid) from public, anon;
revoke execute on function public.get_manager_activity(uuid, timestamptz, bigint, integer) from public, anon;
grant execute on function public.get_sales_leaderboard(text, integer) to authenticated, service_role;
grant execute on function public.get_sales_chart_data(date, date, uuid) to authenticated, service_role;
grant execute on function public.get_manager_stats(uuid) to authenticated, service_role;
grant execute on function public.get_manager_activity(uuid, timestamptz, bigint, integer) to authenticated, service_role;

notify pgrst, 'reload schema';
