-- The analytics RPCs as they stand (revenue net of refunds, and the refunds), each with its grant beside it,
-- and the limits they enforce stated once here: the functions' zod schemas are held to them by a test
-- (tests/leaderboard_test.ts). Supersedes the definitions in 20261123100000_sales_analytics.sql, which
-- has shipped.

-- Rows a page may ask for: 1 to 100.
create or replace function analytics.max_page_size() returns integer
language sql
immutable
set search_path = ''
as $$ select 100 $$;
revoke execute on function analytics.max_page_size() from public, anon;
grant execute on function analytics.max_page_size() to authenticated, service_role;

-- Days a chart may span, both ends counted: a year, leap day included.
create or replace function analytics.max_chart_days() returns integer
language sql
immutable
set search_path = ''
as $$ select 366 $$;
revoke execute on function analytics.max_chart_days() from public, anon;
grant execute on function analytics.max_chart_days() to authenticated, service_role;

create or replace function analytics.check_page_size("limit" integer) returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if "limit" is null or "limit" not between 1 and analytics.max_page_size() then
    raise exception 'limit must be between 1 and %', analytics.max_page_size() using errcode = '22023';
  end if;
end
$$;
revoke execute on function analytics.check_page_size(integer) from public, anon;
grant execute on function analytics.check_page_size(integer) to authenticated, service_role;

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
  perform analytics.check_page_size("limit");
  select jsonb_build_object(
    'period', get_sales_leaderboard.period,
    'period_start', (select l.starts_on from analytics.sales_leaderboard l where l.period = get_sales_leaderboard.period limit 1),
    'time_zone', (select s.time_zone from analytics.settings s),
    'refreshed_at', analytics.refreshed_at(),
    'managers', coalesce(jsonb_agg(jsonb_build_object(
      'rank', l.rank, 'manager_id', l.manager_id, 'full_name', l.full_name, 'revenue', l.revenue,
      'refunds', l.refunds,
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
revoke execute on function public.get_sales_leaderboard(text, integer) from public, anon;
grant execute on function public.get_sales_leaderboard(text, integer) to authenticated, service_role;

-- GET /leaderboard/chart: one entry per academy day from `from` to `to` (at most analytics.max_chart_days()), zeros where
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
  if last_day - first_day + 1 > analytics.max_chart_days() then
    raise exception 'a chart spans at most % days', analytics.max_chart_days() using errcode = '22023';
  end if;
  with days as (
    select d::date as day from generate_series(first_day, last_day, interval '1 day') as d
  ),
  facts as (
    select m.day, m.students_created, m.revenue, m.refunds, m.lessons_completed, m.certificates_issued
    from analytics.manager_daily_history m
    where scope is not null and m.manager_id = scope and m.day between first_day and last_day
    union all
    select f.day, f.students_created, f.revenue, f.refunds, f.lessons_completed, f.certificates_issued
    from analytics.settings s
    cross join lateral analytics.daily_net_facts(greatest(s.history_closed_through + 1, first_day), last_day) f
    where scope is not null and f.manager_id = scope
      and (s.history_closed_through is null or s.history_closed_through < last_day)
    union all
    select a.day, a.students_created, a.revenue, a.refunds, a.lessons_completed, a.certificates_issued
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
      'refunds', coalesce(f.refunds, 0),
      'students_created', coalesce(f.students_created, 0),
      'lessons_completed', coalesce(f.lessons_completed, 0),
      'certificates_issued', coalesce(f.certificates_issued, 0)
    ) order by days.day)
  ) into result
  from days left join facts f on f.day = days.day;
  return result;
end
$$;
revoke execute on function public.get_sales_chart_data(date, date, uuid) from public, anon;
grant execute on function public.get_sales_chart_data(date, date, uuid) to authenticated, service_role;

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
      'refunds', t.refunds,
      'students_created', t.students_created, 'students_active', t.students_active,
      'lessons_completed', t.lessons_completed, 'certificates_issued', t.certificates_issued
    ))
  ) into result
  from (
    select l.period, min(l.starts_on) as starts_on,
           case when scope is null then null else min(l.rank) filter (where l.manager_id = scope) end as rank,
           count(*) as managers_ranked,
           coalesce(sum(l.revenue) filter (where scope is null or l.manager_id = scope), 0) as revenue,
           coalesce(sum(l.refunds) filter (where scope is null or l.manager_id = scope), 0) as refunds,
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
revoke execute on function public.get_manager_stats(uuid) from public, anon;
grant execute on function public.get_manager_stats(uuid) to authenticated, service_role;

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
  perform analytics.check_page_size("limit");
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
revoke execute on function public.get_manager_activity(uuid, timestamptz, bigint, integer) from public, anon;
grant execute on function public.get_manager_activity(uuid, timestamptz, bigint, integer) to authenticated, service_role;

notify pgrst, 'reload schema';
