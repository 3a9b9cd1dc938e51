-- The academy's settings, where a newcomer looks for them (issue: labelled rooms). They lived in
-- analytics.settings, but most of them are not the analytics': the payment ceiling, the currency, the creation
-- and order rates, refund and stall rules, the default manager for orders. The table moves to a schema of its
-- own, `academy` (not exposed through the API, as `analytics` is not), keeping its row, constraints, triggers
-- and grants; the functions that read it are given again with the new name (their bodies are text, not
-- bound to the table). Views follow the table by themselves.

create schema academy;
comment on schema academy is 'The academy itself: its settings (one row). Not exposed through the API.';
revoke all on schema academy from public, anon, authenticated, service_role;
grant usage on schema academy to authenticated, service_role;

alter table analytics.settings set schema academy;


CREATE OR REPLACE FUNCTION private.content_language(requested text)
 RETURNS text
 LANGUAGE sql
 STABLE
 SET search_path TO ''
AS $function$
  select case when requested in ('ru', 'en') then requested else (select s.language from academy.settings s) end
$function$;

CREATE OR REPLACE FUNCTION analytics.academy_currency()
 RETURNS text
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO ''
AS $function$
  select s.currency from academy.settings s
$function$;

CREATE OR REPLACE FUNCTION analytics.daily_net_facts(first_day date, last_day date)
 RETURNS TABLE(manager_id uuid, day date, students_created integer, revenue numeric, lessons_completed integer, certificates_issued integer, students_started integer, refunds numeric)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO ''
 SET plan_cache_mode TO 'force_custom_plan'
AS $function$
#variable_conflict use_column
declare
  tz text := (select s.time_zone from academy.settings s);
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
      -- A student starts on the day of their first lesson started (its first credited second, or its completion).
      select tu.granted_by as manager_id, (f.first_at at time zone tz)::date as day, count(*) as students_started
      from (
        select sp.user_id, min(sp.started_at) as first_at
        from public.student_progress sp
        where sp.started_at >= lo and sp.started_at < hi
        group by 1
      ) f
      join public.tripwire_users tu on tu.user_id = f.user_id
      where not exists (
        select 1 from public.student_progress e where e.user_id = f.user_id and e.started_at < lo
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
$function$;

CREATE OR REPLACE FUNCTION analytics.refresh_sales_stats(rebuild boolean DEFAULT false)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
 SET jit TO 'off'
AS $function$
declare
  settings academy.settings;
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
  select * into settings from academy.settings for update;
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
    update academy.settings set history_closed_through = closable;
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

  delete from analytics.leaderboard_standings;
  insert into analytics.leaderboard_standings (period, starts_on, manager_id, full_name, revenue, refunds,
                                           students_created, students_active, students_learning, lessons_completed,
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
  -- Who watched or completed in the day, week and month: a last activity since the period began, one range
  -- of student_activity_day from the earliest start's UTC day (this month's learners, not everyone). For
  -- `all`, the history's students_started: each student counted on the day of their first lesson started.
  activity as (
    select t.granted_by as manager_id,
           count(*) filter (where a.last_activity_at >= day_starts::timestamp at time zone settings.time_zone) as day,
           count(*) filter (where a.last_activity_at >= week_starts::timestamp at time zone settings.time_zone) as week,
           count(*) filter (where a.last_activity_at >= month_starts::timestamp at time zone settings.time_zone)
             as month
    from private.student_activity a
    join public.tripwire_users t on t.user_id = a.user_id
    where a.activity_day >= (least(week_starts, month_starts)::timestamp at time zone settings.time_zone
                             at time zone 'UTC')::date - '1970-01-01'::date
      and a.last_activity_at >= least(week_starts, month_starts)::timestamp at time zone settings.time_zone
      and t.granted_by is not null
    group by 1
  ),
  learning as (
    select x.period, a.manager_id, x.students
    from activity a
    cross join lateral (values ('day', a.day), ('week', a.week), ('month', a.month)) as x (period, students)
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
           coalesce(s.students, 0)::integer as students_active,
           coalesce(case when p.period = 'all' then f.students_started else l.students end, 0)::integer
             as students_learning,
           coalesce(f.lessons_completed, 0)::integer as lessons_completed,
           coalesce(f.certificates_issued, 0)::integer as certificates_issued
    from periods p
    cross join managers m
    left join facts f on f.period = p.period and f.manager_id = m.id
    left join learning l on l.period = p.period and l.manager_id = m.id
    left join analytics.manager_student_statuses s on s.manager_id = m.id and s.status = 'active'
  )
  select t.period, t.starts_on, t.manager_id, t.full_name, t.revenue, t.refunds, t.students_created,
         t.students_active, t.students_learning, t.lessons_completed, t.certificates_issued,
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
$function$;

CREATE OR REPLACE FUNCTION analytics.reset_period_totals(period text, starts_on date)
 RETURNS bigint
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
declare
  affected bigint;
begin
  delete from analytics.manager_period_totals t where t.period = reset_period_totals.period;
  insert into analytics.manager_period_totals (period, starts_on, manager_id, students_created, revenue, refunds,
                                               lessons_completed, certificates_issued, students_started,
                                               closed_through)
  select reset_period_totals.period, reset_period_totals.starts_on, h.manager_id, sum(h.students_created),
         sum(h.revenue), sum(h.refunds), sum(h.lessons_completed), sum(h.certificates_issued),
         sum(h.students_started), (select st.history_closed_through from academy.settings st)
  from analytics.manager_daily_history h
  where reset_period_totals.starts_on is null or h.day >= reset_period_totals.starts_on
  group by h.manager_id;
  get diagnostics affected = row_count;
  return affected;
end
$function$;

CREATE OR REPLACE FUNCTION analytics.set_time_zone(time_zone text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
begin
  update academy.settings s set time_zone = set_time_zone.time_zone, history_closed_through = null;
  return analytics.refresh_sales_stats(rebuild => true);
end
$function$;

CREATE OR REPLACE FUNCTION public.get_manager_stats(manager_id uuid DEFAULT NULL::uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
    'time_zone', (select s.time_zone from academy.settings s),
    'refreshed_at', analytics.refreshed_at(),
    'periods', jsonb_object_agg(t.period, jsonb_build_object(
      'period_start', t.starts_on, 'rank', t.rank, 'managers_ranked', t.managers_ranked, 'revenue', t.revenue,
      'refunds', t.refunds,
      'students_created', t.students_created, 'students_active', t.students_active,
      'students_learning', t.students_learning,
      'lessons_completed', t.lessons_completed, 'certificates_issued', t.certificates_issued
    ))
  ) into result
  from (
    select last.period, last.starts_on, m.rank, last.position as managers_ranked,
           coalesce(m.revenue, 0) as revenue, coalesce(m.refunds, 0) as refunds,
           coalesce(m.students_created, 0) as students_created, coalesce(m.students_active, 0) as students_active,
           coalesce(m.students_learning, 0) as students_learning,
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
           coalesce(sum(l.students_learning), 0),
           coalesce(sum(l.lessons_completed), 0), coalesce(sum(l.certificates_issued), 0)
    from analytics.leaderboard_standings l
    where scope is null
    group by l.period
  ) t;
  return result;
end
$function$;

CREATE OR REPLACE FUNCTION public.get_sales_chart_data("from" date DEFAULT NULL::date, "to" date DEFAULT NULL::date, manager_id uuid DEFAULT NULL::uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO ''
 SET jit TO 'off'
AS $function$
declare
  scope uuid := analytics.caller_scope(manager_id);
  today date := (select (now() at time zone s.time_zone)::date from academy.settings s);
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
    'time_zone', (select s.time_zone from academy.settings s),
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
$function$;

CREATE OR REPLACE FUNCTION public.get_sales_leaderboard(period text DEFAULT 'month'::text, "limit" integer DEFAULT 20)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
    'time_zone', (select s.time_zone from academy.settings s),
    'refreshed_at', analytics.refreshed_at(),
    'managers', coalesce(jsonb_agg(jsonb_build_object(
      'rank', l.rank, 'manager_id', l.manager_id, 'full_name', l.full_name, 'revenue', l.revenue,
      'refunds', l.refunds,
      'students_created', l.students_created, 'students_active', l.students_active,
      'students_learning', l.students_learning,
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
$function$;

CREATE OR REPLACE FUNCTION private.prepare_webhooks()
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
declare
  stalled bigint;
  queued bigint;
  purged bigint;
begin
  -- A stall is reported once, in a bounded window so the job reads a day of the index, not every student: an
  -- active student (never certified) whose last activity, or creation when she never watched, crossed the
  -- setting's days within the last week.
  with settings as (
    select pg_catalog.now() - pg_catalog.make_interval(days => s.stalled_after_days) as cutoff from academy.settings s
  ),
  candidates as (
    select c.user_id, c.inactive_since
    from (
      select t.user_id, a.last_activity_at as inactive_since
      from private.student_activity a
      join public.tripwire_users t on t.user_id = a.user_id
      cross join settings s
      where t.status = 'active'
        and a.activity_day between ((s.cutoff - interval '7 days') at time zone 'UTC')::date - '1970-01-01'::date
                               and (s.cutoff at time zone 'UTC')::date - '1970-01-01'::date
        and a.last_activity_at between s.cutoff - interval '7 days' and s.cutoff
      union all
      select t.user_id, t.created_at
      from public.tripwire_users t
      join private.student_activity a on a.user_id = t.user_id
      cross join settings s
      where t.status = 'active' and a.last_activity_at is null
        and t.created_at between s.cutoff - interval '7 days' and s.cutoff
    ) c
    where not exists (
      select 1 from private.stall_notices n where n.student_id = c.user_id and n.activity_at = c.inactive_since
    )
    limit 1000
  ),
  noticed as (
    insert into private.stall_notices as n (student_id, activity_at)
    select c.user_id, c.inactive_since from candidates c
    on conflict (student_id) do update set activity_at = excluded.activity_at, notified_at = pg_catalog.now()
    returning n.student_id, n.activity_at
  ),
  events as (
    insert into private.webhook_events (event_type, student_id, data)
    select 'student.stalled', n.student_id,
           pg_catalog.jsonb_build_object('student', private.event_student(n.student_id),
             'inactive_since', n.activity_at,
             'stalled_after_days', (select s.stalled_after_days from academy.settings s))
    from noticed n
    returning 1
  )
  select count(*) into stalled from events;

  with batch as (
    select e.id, e.event_type, e.created_at
    from private.webhook_events e
    where not e.fanned_out
    order by e.id
    limit 5000
    for update skip locked
  ),
  queued_deliveries as (
    insert into private.webhook_deliveries (endpoint_id, event_id)
    select p.id, b.id
    from batch b
    join private.webhook_endpoints p
      on b.event_type = any (p.event_types) and p.disabled_at is null and p.created_at <= b.created_at
    on conflict (endpoint_id, event_id) do nothing
    returning 1
  ),
  marked as (
    update private.webhook_events e set fanned_out = true from batch b where e.id = b.id
  )
  select count(*) into queued from queued_deliveries;
  -- Events are kept 30 days once nothing is left to send (their deliveries and attempts go with them).
  delete from private.webhook_events e
  where e.created_at < pg_catalog.now() - interval '30 days' and e.fanned_out
    and not exists (select 1 from private.webhook_deliveries d where d.event_id = e.id and d.status = 'pending');
  get diagnostics purged = row_count;
  return pg_catalog.jsonb_build_object('stalled_students', stalled, 'deliveries_queued', queued,
                                       'old_events_purged', purged);
end;
$function$;

notify pgrst, 'reload schema';
