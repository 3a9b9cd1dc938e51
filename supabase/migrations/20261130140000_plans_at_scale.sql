-- The minute refresh at 1,000,000 students took ~3 s, none of it history: plans that read whole tables
-- (measured with auto_explain on the scale seed, 3 years, docs/benchmarks.md):
--   daily_net_facts was planned once for any range (a SQL function: no values at plan time), so the open
--     days' few completions were joined to all 1,000,000 tripwire_users and all of student_progress by hash
--     (~1.0 s); now PL/pgSQL with the range in variables and a plan for each call's own range (the minute: a
--     thousand rows by index; a rebuild: everything, by scans);
--   the leaderboard's managers were found by testing all 1,000,000 users (~1.5 s); now the managers by a
--     partial index (users_managers) and anyone else with figures by key;
--   a period's active learners looked up each learner's access (~0.2 s for 22,000); now all learners less
--     the few revoked ones;
--   ended periods' learners were found by calling period_start for every row (~0.1 s); now a key range;
--   the days that closed were found by reading all of manager_daily_history (~0.1 s); now an index on day.
-- A manager's stats read their own four rows by key instead of summing everyone's (the admin still sums).
-- The row level security checks private.can_read_student and private.is_admin were SQL functions with their
-- own settings, which Postgres plans again in every statement that calls them (~0.35 ms for a one-row read
-- of public.users under RLS, three times in a manager's stats); as PL/pgSQL their plans are kept per session.

create index if not exists users_managers on public.users (id) include (full_name) where role = 'manager';
create index if not exists manager_daily_history_day on analytics.manager_daily_history (day);

create or replace function private.is_admin() returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return exists (select 1 from public.users u where u.id = (select auth.uid()) and u.role = 'admin');
end
$$;
revoke execute on function private.is_admin() from public;
grant execute on function private.is_admin() to authenticated, service_role;

create or replace function private.can_read_student(student_id uuid) returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return student_id = (select auth.uid())
      or (select private.is_admin())
      or exists (
        select 1 from public.tripwire_users tu
        where tu.user_id = student_id and tu.granted_by = (select auth.uid())
      );
end
$$;
revoke execute on function private.can_read_student(uuid) from public;
grant execute on function private.can_read_student(uuid) to authenticated, service_role;

-- Per manager and academy day from first_day to last_day (null: from the beginning), net of refunds.
create or replace function analytics.daily_net_facts(first_day date, last_day date)
returns table (
  manager_id uuid, day date, students_created integer, revenue numeric(20, 2), lessons_completed integer,
  certificates_issued integer, students_started integer, refunds numeric(20, 2)
)
language plpgsql
stable
set search_path = ''
-- planned for each call's own range: generic plans assume a third of every table
set plan_cache_mode = force_custom_plan
as $$
#variable_conflict use_column
declare
  tz text := (select s.time_zone from analytics.settings s);
  lo timestamptz := coalesce(first_day::timestamp at time zone tz, '-infinity'::timestamptz);
  hi timestamptz := (last_day + 1)::timestamp at time zone tz;
begin
  return query
    with sales as (
      select tu.granted_by as manager_id, (tu.created_at at time zone tz)::date as day,
             count(*) as students_created, sum(tu.payment_amount) as sold
      from public.tripwire_users tu
      where tu.created_at >= lo and tu.created_at < hi
      group by 1, 2
    ),
    refunded as (
      select tu.granted_by as manager_id, (r.created_at at time zone tz)::date as day, sum(r.amount) as refunds
      from public.student_refunds r
      join public.tripwire_users tu on tu.user_id = r.user_id
      where r.created_at >= lo and r.created_at < hi
      group by 1, 2
    ),
    completed as (
      select sp.user_id, sp.completed_at, tu.granted_by
      from public.student_progress sp
      join public.tripwire_users tu on tu.user_id = sp.user_id
      where sp.status = 'completed' and sp.completed_at >= lo and sp.completed_at < hi
    ),
    lessons as (
      select c.granted_by as manager_id, (c.completed_at at time zone tz)::date as day, count(*) as lessons_completed
      from completed c
      group by 1, 2
    ),
    started as (
      select f.granted_by as manager_id, (f.first_at at time zone tz)::date as day, count(*) as students_started
      from (
        select c.user_id, c.granted_by, min(c.completed_at) as first_at from completed c group by 1, 2
      ) f
      where not exists (
        select 1 from public.student_progress e
        where e.user_id = f.user_id and e.status = 'completed' and e.completed_at < lo
      )
      group by 1, 2
    ),
    certificates as (
      select tu.granted_by as manager_id, (c.issued_at at time zone tz)::date as day, count(*) as certificates_issued
      from public.certificates c
      join public.tripwire_users tu on tu.user_id = c.user_id
      where c.issued_at >= lo and c.issued_at < hi
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
    full join started st using (manager_id, day);
end
$$;
revoke execute on function analytics.daily_net_facts(date, date) from public, anon;
grant execute on function analytics.daily_net_facts(date, date) to authenticated, service_role;

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
  day_starts date;
  week_starts date;
  month_starts date;
begin
  if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('tripwire.refresh_sales_stats')) then
    return jsonb_build_object('refreshed', false, 'reason', 'another refresh is running');
  end if;
  select * into settings from analytics.settings for update;
  closable := ((now() - interval '15 minutes') at time zone settings.time_zone)::date - 1;
  today := (now() at time zone settings.time_zone)::date;
  day_starts := analytics.period_start('day', settings.time_zone);
  week_starts := analytics.period_start('week', settings.time_zone);
  month_starts := analytics.period_start('month', settings.time_zone);
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
  -- the days that closed since (a range of manager_daily_history_day)
  insert into analytics.academy_daily_totals (day, students_created, revenue, refunds, lessons_completed, certificates_issued)
  select h.day, sum(h.students_created), sum(h.revenue), sum(h.refunds), sum(h.lessons_completed),
         sum(h.certificates_issued)
  from analytics.manager_daily_history h
  where h.day > coalesce(closed_before, '-infinity'::date)
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
    period_starts := case each_period when 'week' then week_starts when 'month' then month_starts end;
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

  -- The learners of periods that have ended are no one's now (a range of the primary key each, not a call of
  -- period_start per row); on a rebuild the current ones are recounted.
  delete from analytics.period_learners l
  using (values ('day', day_starts), ('week', week_starts), ('month', month_starts)) as p (period, starts_on)
  where l.period = p.period and l.starts_on < p.starts_on;
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
    values ('day', day_starts), ('week', week_starts), ('month', month_starts), ('all', null::date)
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
  -- The students whose access was taken away (refunded, suspended: few, tripwire_users_revoked_by_manager)
  -- who ever completed a lesson.
  revoked as (
    select tu.user_id, tu.granted_by as manager_id
    from public.tripwire_users tu
    where tu.status in ('refunded', 'suspended') and tu.granted_by is not null
      and exists (select 1 from public.student_progress sp where sp.user_id = tu.user_id and sp.status = 'completed')
  ),
  revoked_learners as (
    select r.manager_id, count(*) as students from revoked r group by 1
  ),
  -- A period's learners with access: all its learners, less the revoked ones among them (looked up by key),
  -- rather than each learner's access looked up.
  learners as (
    select x.period, x.manager_id, sum(x.students) as students_active
    from (
      select l.period, l.manager_id, count(*) as students
      from periods p
      join analytics.period_learners l on l.period = p.period and l.starts_on = p.starts_on
      group by 1, 2
      union all
      select p.period, r.manager_id, -count(*)
      from periods p
      join analytics.period_learners l on l.period = p.period and l.starts_on = p.starts_on
      join revoked r on r.user_id = l.user_id
      group by 1, 2
    ) x
    group by 1, 2
  ),
  -- Every manager (users_managers), and anyone else with figures (looked up by key).
  managers as (
    select u.id, u.full_name from public.users u where u.role = 'manager'
    union
    select u.id, u.full_name from public.users u where u.id in (select f.manager_id from facts f)
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

-- GET /leaderboard/stats: a manager's figures and rank for each period (an admin without a manager:
-- everyone's totals, no rank). A manager's come from their own row of each period (by key) and the
-- period's last position (the number ranked); everyone's are summed.
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
    select last.period, last.starts_on, m.rank, last.position as managers_ranked,
           coalesce(m.revenue, 0) as revenue, coalesce(m.refunds, 0) as refunds,
           coalesce(m.students_created, 0) as students_created, coalesce(m.students_active, 0) as students_active,
           coalesce(m.lessons_completed, 0) as lessons_completed,
           coalesce(m.certificates_issued, 0) as certificates_issued
    from (values ('day'), ('week'), ('month'), ('all')) as p (period)
    cross join lateral (
      select l.period, l.starts_on, l.position from analytics.leaderboard_standings l
      where l.period = p.period
      order by l.position desc
      limit 1
    ) last
    left join analytics.leaderboard_standings m on m.period = last.period and m.manager_id = scope
    where scope is not null
    union all
    select l.period, min(l.starts_on), null, count(*), coalesce(sum(l.revenue), 0), coalesce(sum(l.refunds), 0),
           coalesce(sum(l.students_created), 0), coalesce(sum(l.students_active), 0),
           coalesce(sum(l.lessons_completed), 0), coalesce(sum(l.certificates_issued), 0)
    from analytics.leaderboard_standings l
    where scope is null
    group by l.period
  ) t;
  return result;
end
$$;
revoke execute on function public.get_manager_stats(uuid) from public, anon;
grant execute on function public.get_manager_stats(uuid) to authenticated, service_role;

notify pgrst, 'reload schema';
