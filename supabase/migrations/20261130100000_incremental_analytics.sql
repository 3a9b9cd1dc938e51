-- Analytics whose minute refresh costs what happened since the last one, not what happened since launch.
-- Before, the minute refresh regrouped the whole manager_daily_history (the daily_sales view) and summed all
-- of it again for the `all` period (the sales_leaderboard view): at 1,000 managers, 365,000 more rows every
-- year. Now a closed day is added once:
--   analytics.manager_period_totals  per manager, the closed days' totals of this week, this month and all
--                                    time, each knowing the last closed day it holds;
--   analytics.period_learners        a row per period and student, written once on the student's first
--                                    completion in it (a trigger), so "active students" counts the current
--                                    period's rows instead of a count(distinct) over its completions;
--   analytics.manager_open_days      per manager, the days not closed yet (today, and yesterday for 15 minutes
--                                    after midnight), rewritten each minute: the live part every read shares;
--   analytics.academy_daily_totals   (was the daily_sales view) closed days written once, open days rewritten;
--   analytics.leaderboard_standings  (was the sales_leaderboard view) 4 × managers rows, rewritten each minute
--                                    from the closed totals plus the open days.
-- The open days are still aggregated from the base tables by range scans, as before; a manager's chart now
-- reads them as of the refresh too (with its refreshed_at), like the leaderboard and the admin's chart.
-- The nightly rebuild (refresh_sales_stats(rebuild => true)) recomputes all of it from the base tables, so
-- corrections to past data and a changed time zone are absorbed there. The RPCs answer as before.

-- The current start of each period in the academy's time zone (null: all time).
create or replace function analytics.period_start(period text, tz text, moment timestamptz default now())
returns date
language sql
stable
set search_path = ''
as $$
  select case period
    when 'day' then (moment at time zone tz)::date
    when 'week' then pg_catalog.date_trunc('week', (moment at time zone tz))::date
    when 'month' then pg_catalog.date_trunc('month', (moment at time zone tz))::date
  end
$$;
revoke execute on function analytics.period_start(text, text, timestamptz) from public, anon;
grant execute on function analytics.period_start(text, text, timestamptz) to authenticated, service_role;

create table if not exists analytics.manager_period_totals (
  period text not null,
  -- the period's first day; null for all time
  starts_on date,
  manager_id uuid not null,
  students_created integer not null default 0,
  revenue numeric(20, 2) not null default 0,
  refunds numeric(20, 2) not null default 0,
  lessons_completed integer not null default 0,
  certificates_issued integer not null default 0,
  students_started integer not null default 0,
  -- the last closed day in these totals (all of a period's rows agree)
  closed_through date not null,
  primary key (period, manager_id),
  constraint manager_period_totals_period check (period in ('week', 'month', 'all'))
);
revoke all on table analytics.manager_period_totals from public, anon, authenticated, service_role;
grant select on table analytics.manager_period_totals to service_role;

create table if not exists analytics.period_learners (
  period text not null,
  starts_on date not null,
  user_id uuid not null,
  manager_id uuid not null,
  primary key (period, starts_on, user_id),
  constraint period_learners_period check (period in ('day', 'week', 'month'))
);
revoke all on table analytics.period_learners from public, anon, authenticated, service_role;
grant select on table analytics.period_learners to service_role;

-- A completion in the current day, week or month makes its student a learner of that period, once. The
-- trigger's condition skips completions dated in past periods (imports, the scale seed) without a call.
create or replace function analytics.record_period_learners()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into analytics.period_learners (period, starts_on, user_id, manager_id)
  select p.period, analytics.period_start(p.period, s.time_zone, new.completed_at), new.user_id, tu.granted_by
  from public.tripwire_users tu
  cross join analytics.settings s
  cross join (values ('day'), ('week'), ('month')) as p (period)
  where tu.user_id = new.user_id and tu.granted_by is not null
    and analytics.period_start(p.period, s.time_zone, new.completed_at)
        >= analytics.period_start(p.period, s.time_zone)
  on conflict do nothing;
  return null;
end
$$;
revoke execute on function analytics.record_period_learners() from public, anon, authenticated;

drop trigger if exists student_progress_period_learners on public.student_progress;
create trigger student_progress_period_learners
  after insert or update of status, completed_at on public.student_progress
  for each row
  when (new.status = 'completed' and new.completed_at > now() - interval '32 days')
  execute function analytics.record_period_learners();

create table if not exists analytics.manager_open_days (
  manager_id uuid not null,
  day date not null,
  students_created integer not null default 0,
  revenue numeric(20, 2) not null default 0,
  refunds numeric(20, 2) not null default 0,
  lessons_completed integer not null default 0,
  certificates_issued integer not null default 0,
  students_started integer not null default 0,
  primary key (manager_id, day)
);
revoke all on table analytics.manager_open_days from public, anon, authenticated, service_role;
grant select on table analytics.manager_open_days to authenticated, service_role;

-- The two materialized views become tables the refresh maintains, with the same columns under new names (a
-- migration of before may create the old views again when the migrations are applied again, and this one then
-- drops them again); the RPCs that read them follow.
drop materialized view if exists analytics.sales_leaderboard;
drop materialized view if exists analytics.daily_sales;

create table if not exists analytics.academy_daily_totals (
  day date primary key,
  students_created integer not null,
  revenue numeric(20, 2) not null,
  refunds numeric(20, 2) not null,
  lessons_completed integer not null,
  certificates_issued integer not null
);
revoke all on table analytics.academy_daily_totals from public, anon, authenticated, service_role;
grant select on table analytics.academy_daily_totals to authenticated, service_role;

create table if not exists analytics.leaderboard_standings (
  period text not null,
  starts_on date,
  manager_id uuid not null,
  full_name text not null,
  revenue numeric(20, 2) not null,
  refunds numeric(20, 2) not null,
  students_created integer not null,
  students_active integer not null,
  lessons_completed integer not null,
  certificates_issued integer not null,
  rank integer not null,
  position integer not null,
  primary key (period, manager_id),
  constraint leaderboard_standings_period_position unique (period, position)
);
revoke all on table analytics.leaderboard_standings from public, anon, authenticated, service_role;
-- The RPCs run as their caller (security invoker) and check the caller's scope before reading.
grant select on table analytics.leaderboard_standings to authenticated, service_role;

-- Sets the closed totals of one period to the history from `starts_on` (null: all of it). Used by the
-- rebuild, and when a new week or month begins (then at most 31 days of history are read).
create or replace function analytics.reset_period_totals(period text, starts_on date)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  affected bigint;
begin
  delete from analytics.manager_period_totals t where t.period = reset_period_totals.period;
  insert into analytics.manager_period_totals (period, starts_on, manager_id, students_created, revenue, refunds,
                                               lessons_completed, certificates_issued, students_started,
                                               closed_through)
  select reset_period_totals.period, reset_period_totals.starts_on, h.manager_id, sum(h.students_created),
         sum(h.revenue), sum(h.refunds), sum(h.lessons_completed), sum(h.certificates_issued),
         sum(h.students_started), (select st.history_closed_through from analytics.settings st)
  from analytics.manager_daily_history h
  where reset_period_totals.starts_on is null or h.day >= reset_period_totals.starts_on
  group by h.manager_id;
  get diagnostics affected = row_count;
  return affected;
end
$$;
revoke execute on function analytics.reset_period_totals(text, date) from public, anon, authenticated;

-- The refresh. Step by step, each recorded in analytics.refresh_log:
-- 1. manager_daily_history: extended by the academy days that ended (at least 15 minutes ago, so a
--    transaction that began before midnight has committed), or rebuilt whole (`rebuild`);
-- 2. manager_open_days: rewritten from the base tables (range scans over the days since the last closed one);
--    academy_daily_totals: the days that closed written from the history once, the open days rewritten;
-- 3. leaderboard_standings: the closed totals of each period extended by the days that closed (or reset when a
--    new week or month began, or on a rebuild), then every manager's row of every period written from them
--    plus the open days, the period's learners and the ranks.
-- All in one transaction, so a reader sees every table from the same moment; a second run while one is
-- going returns at once with refreshed = false (the transaction-scoped advisory lock).
create or replace function analytics.refresh_sales_stats(rebuild boolean default false)
returns jsonb
language plpgsql
security definer
set search_path = ''
-- The planner cannot see through daily_net_facts() and overestimates its rows a thousandfold; with JIT on,
-- that bought ~0.6 s of LLVM compilation on every refresh of an empty database.
set jit = off
as $$
declare
  settings analytics.settings;
  closable date;
  closed_before date;
  today date;
  started timestamptz;
  affected bigint := 0;
  report jsonb := '[]';
  each_period text;
  period_starts date;
begin
  if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('tripwire.refresh_sales_stats')) then
    return jsonb_build_object('refreshed', false, 'reason', 'another refresh is running');
  end if;
  select * into settings from analytics.settings for update;
  closable := ((now() - interval '15 minutes') at time zone settings.time_zone)::date - 1;
  today := (now() at time zone settings.time_zone)::date;
  rebuild := rebuild or settings.history_closed_through is null;

  -- 1. The history of closed days.
  started := pg_catalog.clock_timestamp();
  if rebuild then
    delete from analytics.manager_daily_history;
    settings.history_closed_through := null;
  end if;
  closed_before := settings.history_closed_through;
  if settings.history_closed_through is null or settings.history_closed_through < closable then
    insert into analytics.manager_daily_history (manager_id, day, students_created, revenue, refunds,
                                                 lessons_completed, certificates_issued, students_started)
    select f.manager_id, f.day, f.students_created, f.revenue, f.refunds, f.lessons_completed,
           f.certificates_issued, f.students_started
    from analytics.daily_net_facts(settings.history_closed_through + 1, closable) f
    where f.manager_id is not null;
    get diagnostics affected = row_count;
    update analytics.settings set history_closed_through = closable;
    settings.history_closed_through := closable;
  end if;
  report := report || analytics.record_refresh_step('manager_daily_history', started, affected);

  -- 2. All managers together, per academy day: closed days once, live days every time.
  started := pg_catalog.clock_timestamp();
  if rebuild then
    delete from analytics.academy_daily_totals;
  else
    delete from analytics.academy_daily_totals d where d.day > closed_before;
  end if;
  insert into analytics.academy_daily_totals (day, students_created, revenue, refunds, lessons_completed, certificates_issued)
  select h.day, sum(h.students_created), sum(h.revenue), sum(h.refunds), sum(h.lessons_completed),
         sum(h.certificates_issued)
  from analytics.manager_daily_history h
  where closed_before is null or h.day > closed_before
  group by h.day;
  delete from analytics.manager_open_days;
  insert into analytics.manager_open_days (manager_id, day, students_created, revenue, refunds, lessons_completed,
                                           certificates_issued, students_started)
  select f.manager_id, f.day, f.students_created, f.revenue, f.refunds, f.lessons_completed,
         f.certificates_issued, f.students_started
  from analytics.daily_net_facts(settings.history_closed_through + 1, today) f
  where f.manager_id is not null;
  insert into analytics.academy_daily_totals (day, students_created, revenue, refunds, lessons_completed, certificates_issued)
  select o.day, sum(o.students_created), sum(o.revenue), sum(o.refunds), sum(o.lessons_completed),
         sum(o.certificates_issued)
  from analytics.manager_open_days o
  group by o.day;
  report := report || analytics.record_refresh_step('academy_daily_totals', started,
                                                     (select count(*) from analytics.academy_daily_totals));

  -- 3. The closed totals of each period, then the leaderboard of every period.
  started := pg_catalog.clock_timestamp();
  foreach each_period in array array['week', 'month', 'all'] loop
    period_starts := analytics.period_start(each_period, settings.time_zone);
    if rebuild or exists (
      select 1 from analytics.manager_period_totals t
      where t.period = each_period
        and (t.starts_on is distinct from period_starts or t.closed_through is distinct from closed_before)
    ) then
      -- a new week or month, or totals that are not what the history was closed through before
      perform analytics.reset_period_totals(each_period, period_starts);
    elsif closed_before < settings.history_closed_through then
      insert into analytics.manager_period_totals as t (period, starts_on, manager_id, students_created, revenue,
                                                        refunds, lessons_completed, certificates_issued,
                                                        students_started, closed_through)
      select each_period, period_starts, h.manager_id, sum(h.students_created), sum(h.revenue), sum(h.refunds),
             sum(h.lessons_completed), sum(h.certificates_issued), sum(h.students_started),
             settings.history_closed_through
      from analytics.manager_daily_history h
      where h.day > closed_before and (period_starts is null or h.day >= period_starts)
      group by h.manager_id
      on conflict on constraint manager_period_totals_pkey do update
        set students_created = t.students_created + excluded.students_created,
            revenue = t.revenue + excluded.revenue,
            refunds = t.refunds + excluded.refunds,
            lessons_completed = t.lessons_completed + excluded.lessons_completed,
            certificates_issued = t.certificates_issued + excluded.certificates_issued,
            students_started = t.students_started + excluded.students_started;
      update analytics.manager_period_totals t set closed_through = settings.history_closed_through
      where t.period = each_period;
    end if;
  end loop;

  -- The learners of periods that have ended are no one's now; on a rebuild the current ones are recounted.
  delete from analytics.period_learners l
  where l.starts_on < analytics.period_start(l.period, settings.time_zone);
  if rebuild then
    delete from analytics.period_learners;
    insert into analytics.period_learners (period, starts_on, user_id, manager_id)
    select distinct p.period, analytics.period_start(p.period, settings.time_zone), sp.user_id, tu.granted_by
    from (values ('day'), ('week'), ('month')) as p (period)
    join public.student_progress sp
      on sp.status = 'completed'
     and sp.completed_at >= (analytics.period_start(p.period, settings.time_zone)::timestamp
                             at time zone settings.time_zone)
    join public.tripwire_users tu on tu.user_id = sp.user_id and tu.granted_by is not null;
  end if;

  delete from analytics.leaderboard_standings;
  insert into analytics.leaderboard_standings (period, starts_on, manager_id, full_name, revenue, refunds,
                                           students_created, students_active, lessons_completed,
                                           certificates_issued, rank, position)
  with periods (period, starts_on) as (
    select p, analytics.period_start(p, settings.time_zone)
    from unnest(array['day', 'week', 'month', 'all']) as p
  ),
  facts as (
    select x.period, x.manager_id, sum(x.revenue) as revenue, sum(x.refunds) as refunds,
           sum(x.students_created) as students_created, sum(x.lessons_completed) as lessons_completed,
           sum(x.certificates_issued) as certificates_issued, sum(x.students_started) as students_started
    from (
      select t.period, t.manager_id, t.revenue, t.refunds, t.students_created, t.lessons_completed,
             t.certificates_issued, t.students_started
      from analytics.manager_period_totals t
      union all
      select p.period, l.manager_id, l.revenue, l.refunds, l.students_created, l.lessons_completed,
             l.certificates_issued, l.students_started
      from periods p
      join analytics.manager_open_days l on p.starts_on is null or l.day >= p.starts_on
    ) x
    group by 1, 2
  ),
  learners as (
    select l.period, l.manager_id, count(*) as students_active
    from periods p
    join analytics.period_learners l on l.period = p.period and l.starts_on = p.starts_on
    join public.tripwire_users tu on tu.user_id = l.user_id and tu.status in ('active', 'completed')
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
  select t.period, t.starts_on, t.manager_id, t.full_name, t.revenue, t.refunds, t.students_created,
         t.students_active, t.lessons_completed, t.certificates_issued,
         rank() over (
           partition by t.period order by t.revenue desc, t.students_created desc, t.certificates_issued desc
         )::integer,
         -- a total order for the page: rank, then name, then id
         row_number() over (
           partition by t.period
           order by t.revenue desc, t.students_created desc, t.certificates_issued desc, t.full_name, t.manager_id
         )::integer
  from totals t;
  get diagnostics affected = row_count;
  report := report || analytics.record_refresh_step('leaderboard_standings', started, affected);

  return jsonb_build_object('refreshed', true, 'rebuilt', rebuild, 'views', report);
end
$$;
revoke execute on function analytics.refresh_sales_stats(boolean) from public, anon, authenticated;
grant execute on function analytics.refresh_sales_stats(boolean) to service_role;

-- The RPCs, as in 20261124130200_analytics_rpcs.sql, reading the tables; a manager's chart reads the open days.
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
    'period_start', (select l.starts_on from analytics.leaderboard_standings l where l.period = get_sales_leaderboard.period limit 1),
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
    select * from analytics.leaderboard_standings l
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
    select o.day, o.students_created, o.revenue, o.refunds, o.lessons_completed, o.certificates_issued
    from analytics.manager_open_days o
    where scope is not null and o.manager_id = scope and o.day between first_day and last_day
    union all
    select a.day, a.students_created, a.revenue, a.refunds, a.lessons_completed, a.certificates_issued
    from analytics.academy_daily_totals a
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
    from analytics.leaderboard_standings l
    group by l.period
  ) t;
  return result;
end
$$;
revoke execute on function public.get_manager_stats(uuid) from public, anon;
grant execute on function public.get_manager_stats(uuid) to authenticated, service_role;

-- The refresh's steps have new names; the old ones' times would hold refreshed_at back.
delete from analytics.refresh_log
where view_name not in ('manager_daily_history', 'academy_daily_totals', 'leaderboard_standings');

-- Fill the new tables from what is there.
select analytics.refresh_sales_stats(rebuild => true);

notify pgrst, 'reload schema';
