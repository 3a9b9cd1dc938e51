-- A heartbeat whose cost does not depend on batching, and its minute write off the hot row (issue: within
-- Supabase's limits).
--
-- The old private.record_heartbeats was one set-based statement of fourteen CTEs. Deployed isolates batch
-- little (two or three heartbeats a statement), and Postgres paid for that statement's whole plan on every
-- call: perf showed a third of its CPU in starting the executor for nodes that, on most heartbeats, had no
-- row to process (the minute write, the events, the refusal diagnostics), plus a SQL function
-- (private.access_revoked, never inlined because of its SET clause) parsed and planned on every call. pgbench
-- at one heartbeat a statement: 1.08 ms of Postgres CPU per heartbeat before, 0.42-0.50 ms after, on the same
-- host (docs/benchmarks.md).
--
-- Now each heartbeat takes the short way: one indexed read of everything it needs (caller, session, lesson,
-- unlock, tracking row), the plausibility arithmetic in PL/pgSQL variables (a single new range, the usual
-- case, needs no set operation), one UPDATE by primary key. What is rare moves out of the way:
--   * a refused heartbeat (no session, locked, revoked, no row yet) is explained by private.refused_heartbeat;
--   * the minute write and the lesson.started event run in private.spread_watching, only when due;
--   * a fragmented row (several new ranges) still goes through private.credit_watch.
-- The rules are those of the statement it replaces, and tests/video_tracking_test.ts still holds them.
--
-- Inputs now carry `segments` as a nummultirange literal ('{[0,1.5),[3,4)}': the multirange's own input
-- merges and sorts them), and the answer carries the watched ranges as `ranges` text in the same form, so
-- neither side walks a JSON array in SQL.
--
-- Last activity off the hot row, in the same step (the heartbeat writes it):
-- A student's last activity was tripwire_users.last_activity_at, written by a heartbeat at most once a minute
-- per student. tripwire_users carries eight indexes, two of them on that column, so every such write was a
-- non-HOT update: a new version of the whole sale row and an entry in every index (3.5 KB of WAL each, measured;
-- at 10,000 viewers about 2 GB of WAL an hour from this alone) and a tail of hundreds of milliseconds.
--
-- It now lives in private.student_activity, one narrow row per student (a trigger adds it with the sale),
-- written in place: the only indexes are the primary key and one on the UTC day of the activity, which
-- changes once a day at most, so the minute's write is a HOT update (fillfactor 50 leaves the page room).
-- Readers that range over activity (the list's sorts and filters, the stall sweep, the analytics' active
-- learners) read whole days of that index and then the exact times. The functions that read the old column
-- are redefined below with that one change each.

create table private.student_activity (
  user_id uuid primary key references public.tripwire_users (user_id) on delete cascade,
  last_activity_at timestamptz,
  -- days since 1970-01-01 (UTC) of last_activity_at, -1 for never: an integer, since every date is a *_at column
  activity_day integer generated always as (
    coalesce((last_activity_at at time zone 'UTC')::date - '1970-01-01'::date, -1)
  ) stored
) with (fillfactor = 50);

comment on table private.student_activity is
  'A student''s last activity, apart from the sale row so that the once-a-minute write of a watching student is '
  'a HOT update of a narrow row (tripwire_users has eight indexes). One row per sale (tripwire_users_activity_rows).';
comment on column private.student_activity.last_activity_at is
  'When the student last watched something new (a heartbeat that credited seconds, written at most once a minute) '
  'or completed a lesson; null: never. The list sorts and filters by it.';
comment on column private.student_activity.activity_day is
  'The UTC day of last_activity_at as days since 1970-01-01 (-1: never active): indexed instead of the time itself, '
  'so the minute''s write changes no indexed value (a HOT update) but once a day. Readers range over days, then '
  'filter on the exact time.';

create index student_activity_day on private.student_activity (activity_day);

revoke all on table private.student_activity from public, anon, authenticated, service_role;

insert into private.student_activity (user_id, last_activity_at)
select t.user_id, t.last_activity_at from public.tripwire_users t;

create function private.add_activity_rows()
  returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  insert into private.student_activity (user_id) select n.user_id from new_rows n;
  return null;
end
$$;

revoke all on function private.add_activity_rows() from public, anon, authenticated, service_role;

comment on function private.add_activity_rows() is
  'Gives every new sale its private.student_activity row (no activity yet), so readers join it, never outer-join.';

create trigger tripwire_users_activity_rows after insert on public.tripwire_users
  referencing new table as new_rows for each statement execute function private.add_activity_rows();

drop index public.tripwire_users_last_activity;
drop index public.tripwire_users_manager_last_activity;
alter table public.tripwire_users drop column last_activity_at;

drop function private.record_heartbeats(jsonb, real, real, numeric, numeric, numeric, integer);
drop function private.multirange_seconds(nummultirange);

-- The rare part of a heartbeat: its lesson's first credit, or the once-a-minute spread of watching.
create function private.spread_watching(student uuid, lesson integer, percentage numeric, started boolean,
                                        stale boolean)
  returns void
  language plpgsql
  set search_path = ''
as $$
begin
  -- Rows another transaction holds (a completion, a refund) are skipped, never waited for, so a heartbeat
  -- cannot deadlock with them: the next minute's heartbeat writes what was skipped.
  update public.student_progress sp
  set status = 'in_progress', started_at = coalesce(sp.started_at, pg_catalog.now()), watch_percentage = percentage
  from (select p.user_id, p.lesson_id from public.student_progress p
        where p.user_id = student and p.lesson_id = lesson and p.status <> 'completed'
        for update skip locked) r
  where sp.user_id = r.user_id and sp.lesson_id = r.lesson_id;
  if stale then
    update private.student_activity a set last_activity_at = pg_catalog.now()
    from (select x.user_id from private.student_activity x where x.user_id = student for update skip locked) r
    where a.user_id = r.user_id;
    update public.user_statistics s
    set total_watch_seconds = (select coalesce(sum(v.watched_seconds), 0) from public.video_tracking v
                               where v.user_id = student)
    from (select x.user_id from public.user_statistics x where x.user_id = student for update skip locked) r
    where s.user_id = r.user_id;
  end if;
  if started then
    insert into private.webhook_events (event_type, student_id, data)
    values ('lesson.started', student,
            pg_catalog.jsonb_build_object('student', private.event_student(student),
                                          'lesson', private.event_lesson(lesson)));
  end if;
end
$$;

revoke all on function private.spread_watching(uuid, integer, numeric, boolean, boolean)
  from public, anon, authenticated, service_role;

comment on function private.spread_watching(uuid, integer, numeric, boolean, boolean) is
  'The rare part of a heartbeat (record_heartbeats calls it only when due): started — the lesson''s first credited '
  'seconds: student_progress goes in_progress and lesson.started is written to the events'' outbox; stale — new '
  'seconds and a last activity a minute old: the progress percentage, private.student_activity and '
  'user_statistics.total_watch_seconds follow. Held rows are skipped (for update skip locked), never waited for.';

-- Why a heartbeat was not credited, in record_heartbeats' own columns: the caller (null: no open session, or
-- erased), the lesson, whether it is unlocked for this caller, and the rate bucket (null: no tracking row yet).
create function private.refused_heartbeat(i integer, student uuid, session uuid, lesson integer,
                                          heartbeats_per_second real, heartbeat_burst real)
  returns table (i integer, caller_role text, caller_status text, lesson_found boolean, unlocked boolean,
                 lesson_id integer, tokens real, watched_seconds numeric, duration_seconds integer,
                 watch_percentage numeric, min_watch_percentage numeric, qualified boolean, status text,
                 rejected_seconds numeric, heartbeat_count integer, last_position_seconds numeric, ranges text)
  language sql
  stable
  set search_path = ''
as $$
  select refused_heartbeat.i, c.role, c.status::text, l.id is not null, l.unlocked, null::int,
         (select least(heartbeat_burst, vt.heartbeat_tokens + heartbeats_per_second * greatest(0, extract(epoch from
                   pg_catalog.now() - coalesce(vt.last_heartbeat_at, pg_catalog.now() - interval '1 hour')))::real)
          from public.video_tracking vt where vt.user_id = student and vt.lesson_id = lesson),
         null::numeric, l.video_duration_seconds, null::numeric, l.min_watch_percentage, null::boolean, null::text,
         null::numeric, null::int, null::numeric, null::text
  from (select 1) as one
  left join (
    select u.role, t.status from public.users u left join public.tripwire_users t on t.user_id = u.id
    where u.id = student and u.erased_at is null and private.session_live(student, session)
  ) c on true
  left join lateral (
    select l.id, l.video_duration_seconds, l.min_watch_percentage,
           c.role = 'student' and not private.access_revoked(c.status) and exists (
             select 1 from public.tripwire_module_unlocks u where u.user_id = student and u.module_id = l.module_id
           ) as unlocked
    from public.tripwire_lessons l where l.id = lesson
  ) l on true
$$;

revoke all on function private.refused_heartbeat(integer, uuid, uuid, integer, real, real)
  from public, anon, authenticated, service_role;

comment on function private.refused_heartbeat(integer, uuid, uuid, integer, real, real) is
  'Why record_heartbeats credited nothing, in its own columns: caller_role null (no open session, or erased), '
  'lesson_found, unlocked (a student with access and the module unlocked), tokens (the rate bucket; null: no '
  'tracking row yet, which the function then creates). Off the usual path, so it may be slow and plain.';

create function private.record_heartbeats(batch jsonb, heartbeats_per_second real, heartbeat_burst real,
                                          max_playback_rate numeric, max_idle_seconds numeric,
                                          tolerance_seconds numeric, max_stored_ranges integer)
  returns table (i integer, caller_role text, caller_status text, lesson_found boolean, unlocked boolean,
                 lesson_id integer, tokens real, watched_seconds numeric, duration_seconds integer,
                 watch_percentage numeric, min_watch_percentage numeric, qualified boolean, status text,
                 rejected_seconds numeric, heartbeat_count integer, last_position_seconds numeric, ranges text)
  language plpgsql
  set search_path = ''
  set plan_cache_mode = 'force_generic_plan'
as $$
#variable_conflict use_column
declare
  h record;
  -- the caller, the lesson and the tracking row, as read
  f record;
  -- the segments sent that are new: clamped to the video, minus what is stored
  fresh pg_catalog.nummultirange;
  fresh_seconds numeric;
  allowance numeric;
  credited numeric;
  after pg_catalog.nummultirange;
  seconds numeric;
  clock timestamptz;
  started boolean;
  stale boolean;
begin
  -- Asynchronous commit for this transaction only (Postgres docs, "Asynchronous Commit"): a crash of the
  -- server may lose the last ~0.6 s of heartbeats, never corrupt or half-apply one. Waiting for the WAL flush
  -- was most of a heartbeat's cost; completions, which matter, stay synchronous.
  perform pg_catalog.set_config('synchronous_commit', 'off', true);
  <<heartbeats>>
  for h in
    select x.i, x.user_id, x.session_id, x.lesson_id, x.segments, x.position, x.playback_rate
    from pg_catalog.jsonb_to_recordset(batch)
      as x (i int, user_id uuid, session_id uuid, lesson_id int, segments pg_catalog.nummultirange,
            position numeric, playback_rate numeric)
  loop
    <<attempt>>
    loop
      -- The usual heartbeat, in one indexed read: a student whose token's session is open (as
      -- private.session_live asks), with access, the lesson's module unlocked, and the tracking row.
      select u.role, t.status::text as student_status, act.last_activity_at,
             l.video_duration_seconds::numeric as duration, l.min_watch_percentage, vt.*
      into f
      from public.users u
      join public.tripwire_users t on t.user_id = u.id
      join private.student_activity act on act.user_id = u.id
      join public.tripwire_lessons l on l.id = h.lesson_id
      join public.tripwire_module_unlocks m on m.user_id = u.id and m.module_id = l.module_id
      join public.video_tracking vt on vt.user_id = u.id and vt.lesson_id = l.id
      join auth.sessions s on s.id = h.session_id and s.user_id = u.id
      join auth.users a on a.id = u.id
      where u.id = h.user_id and u.erased_at is null and u.role = 'student'
        and t.status::text <> all (pg_catalog.enum_range(null::public.access_revoking_status)::text[])
        and (s.not_after is null or s.not_after > pg_catalog.now())
        and a.deleted_at is null and (a.banned_until is null or a.banned_until <= pg_catalog.now());
      if not found then
        return query select * from private.refused_heartbeat(h.i, h.user_id, h.session_id, h.lesson_id,
                                                             heartbeats_per_second, heartbeat_burst);
        continue heartbeats;
      end if;
      i := h.i;
      caller_role := f.role;
      caller_status := f.student_status;
      lesson_found := true;
      unlocked := true;
      duration_seconds := f.duration::int;
      min_watch_percentage := f.min_watch_percentage;
      -- The rate bucket: refilled for the time since the row's last heartbeat, a heartbeat costs one token.
      tokens := least(heartbeat_burst, f.heartbeat_tokens + heartbeats_per_second * greatest(0, extract(epoch from
                  pg_catalog.now() - coalesce(f.last_heartbeat_at, pg_catalog.now() - interval '1 hour')))::real);
      if tokens < 1 then
        lesson_id := null; watched_seconds := null; watch_percentage := null; qualified := null; status := null;
        rejected_seconds := null; heartbeat_count := null; last_position_seconds := null; ranges := null;
        return next;
        continue heartbeats;
      end if;
      -- The plausibility bucket: new seconds are credited in playback order up to what the wall clock allows
      -- since the credit clock (2x, plus tolerance; a pause banks at most max_idle_seconds).
      fresh := (h.segments operator(pg_catalog.*) pg_catalog.nummultirange(pg_catalog.numrange(0, f.duration)))
               operator(pg_catalog.-) f.watched_ranges;
      clock := greatest(coalesce(f.credit_clock_at, pg_catalog.now()),
                        pg_catalog.now() - make_interval(secs => max_idle_seconds));
      allowance := max_playback_rate * extract(epoch from pg_catalog.now() - clock) + tolerance_seconds;
      if pg_catalog.isempty(fresh) then
        credited := 0;
        fresh_seconds := 0;
        after := f.watched_ranges;
      elsif fresh operator(pg_catalog.=) pg_catalog.nummultirange(pg_catalog.range_merge(fresh)) then
        -- One new range, the usual case: no set operation.
        fresh_seconds := pg_catalog.upper(fresh) - pg_catalog.lower(fresh);
        credited := greatest(0, least(fresh_seconds, allowance));
        after := case when credited > 0
                      then f.watched_ranges operator(pg_catalog.+) pg_catalog.nummultirange(
                             pg_catalog.numrange(pg_catalog.lower(fresh), pg_catalog.lower(fresh) + credited))
                      else f.watched_ranges end;
      else
        select w.ranges, w.credited, w.credited + w.rejected into after, credited, fresh_seconds
        from private.credit_watch(f.watched_ranges,
                                  h.segments operator(pg_catalog.*)
                                    pg_catalog.nummultirange(pg_catalog.numrange(0, f.duration)),
                                  allowance, max_stored_ranges) w;
      end if;
      if after operator(pg_catalog.=) pg_catalog.nummultirange(pg_catalog.range_merge(after)) then
        seconds := coalesce(pg_catalog.upper(after) - pg_catalog.lower(after), 0);
      else
        -- A row keeps at most max_stored_ranges separate ranges: a heartbeat that would fragment it further
        -- is not credited (credit_watch's rule, for the one-range path).
        if credited > 0 and (select pg_catalog.count(*) from pg_catalog.unnest(after))
                              > greatest(max_stored_ranges, (select pg_catalog.count(*)
                                                             from pg_catalog.unnest(f.watched_ranges))) then
          after := f.watched_ranges;
          credited := 0;
        end if;
        seconds := (select sum(pg_catalog.upper(r) - pg_catalog.lower(r)) from pg_catalog.unnest(after) as r);
      end if;
      watched_seconds := round(least(seconds, f.duration), 2);
      watch_percentage := round(least(100, seconds * 100 / f.duration), 2);
      started := f.status = 'not_started' and watched_seconds > 0;
      stale := watched_seconds > f.watched_seconds
               and (f.last_activity_at is null or f.last_activity_at < pg_catalog.now() - interval '1 minute');
      lesson_id := h.lesson_id;
      qualified := f.qualified_at is not null or watch_percentage >= f.min_watch_percentage;
      status := case when started then 'in_progress' else f.status end;
      rejected_seconds := f.rejected_seconds + (fresh_seconds - credited);
      heartbeat_count := f.heartbeat_count + 1;
      -- least() skips a null: an absent position must not reach it, or it would become the duration.
      last_position_seconds := case when h.position is null then f.last_position_seconds
                                    else least(h.position, f.duration) end;
      ranges := after::text;
      -- Written only if no other heartbeat of the row committed since the read (heartbeat_count moves on
      -- every credit); otherwise read again. No row lock is held while the arithmetic runs.
      update public.video_tracking vt
      set watched_ranges = after, watched_seconds = record_heartbeats.watched_seconds,
          watch_percentage = record_heartbeats.watch_percentage,
          rejected_seconds = record_heartbeats.rejected_seconds, status = record_heartbeats.status,
          qualified_at = case when vt.qualified_at is null and record_heartbeats.qualified then pg_catalog.now()
                              else vt.qualified_at end,
          credit_clock_at = clock + make_interval(secs => credited / max_playback_rate),
          heartbeat_count = record_heartbeats.heartbeat_count, heartbeat_tokens = tokens - 1,
          last_heartbeat_at = pg_catalog.now(), last_position_seconds = record_heartbeats.last_position_seconds,
          last_playback_rate = coalesce(h.playback_rate, vt.last_playback_rate)
      where vt.user_id = h.user_id and vt.lesson_id = h.lesson_id and vt.heartbeat_count = f.heartbeat_count;
      exit attempt when found;
    end loop;
    if started or stale then
      perform private.spread_watching(h.user_id, h.lesson_id, watch_percentage, started, stale);
    end if;
    return next;
  end loop;
end
$$;

revoke all on function private.record_heartbeats(jsonb, real, real, numeric, numeric, numeric, integer)
  from public, anon, authenticated, service_role;

comment on function private.record_heartbeats(jsonb, real, real, numeric, numeric, numeric, integer) is
  'Credits a batch of heartbeats ([{i, user_id, session_id, lesson_id, segments: nummultirange text, position, '
  'playback_rate}]) and answers one row per input, in input order: the watch state, or why nothing was credited. '
  'Each heartbeat: one indexed read, the plausibility and rate buckets in variables, one UPDATE by key (again if '
  'a concurrent heartbeat of the row won). Commits asynchronously. Called by video-tracking''s recordHeartbeats.';

-- The other readers of the old column, each with that one change.

CREATE OR REPLACE FUNCTION private.student_dashboard(student_id uuid, language text)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO ''
AS $function$
  select jsonb_build_object(
    'student', jsonb_build_object('id', t.user_id, 'full_name', t.full_name, 'email', t.email, 'status', t.status),
    'course', (
      select jsonb_build_object('title', private.localize(k.title, language),
                                'description', private.localize(k.description, language))
      from public.course k
    ),
    'progress', jsonb_build_object(
      'lessons_completed', s.lessons_completed,
      'total_lessons', (select count(*) from public.tripwire_lessons),
      'modules_completed', p.modules_completed,
      'total_modules', p.total_modules,
      'completion_percentage', p.completion_percentage,
      'watched_seconds', (
        select coalesce(sum(v.watched_seconds), 0) from public.video_tracking v where v.user_id = t.user_id
      ),
      'current_module_id', p.current_module_id,
      'last_activity_at', (select a.last_activity_at from private.student_activity a where a.user_id = t.user_id)
    ),
    'modules', (
      select coalesce(jsonb_agg(jsonb_build_object(
        'id', m.id, 'position', m.position, 'title', private.localize(m.title, language),
        'description', private.localize(m.description, language),
        'state', case when u.completed_at is not null then 'completed'
                      when u.module_id is not null then 'unlocked'
                      else 'locked' end,
        'lessons', (
          select coalesce(jsonb_agg(jsonb_build_object(
            'id', l.id, 'position', l.position, 'title', private.localize(l.title, language),
            'description', private.localize(l.description, language),
            'duration_seconds', l.video_duration_seconds, 'has_video', l.video_path is not null,
            'min_watch_percentage', l.min_watch_percentage,
            'watch_percentage', coalesce(v.watch_percentage, 0),
            'qualified', v.qualified_at is not null,
            'status', coalesce(v.status, 'not_started'),
            'last_position_seconds', v.last_position_seconds
          ) order by l.position), '[]')
          from public.tripwire_lessons l
          left join public.video_tracking v on v.user_id = t.user_id and v.lesson_id = l.id
          where l.module_id = m.id
        )
      ) order by m.position), '[]')
      from public.tripwire_modules m
      left join public.tripwire_module_unlocks u on u.user_id = t.user_id and u.module_id = m.id
    ),
    'achievements', (
      select coalesce(jsonb_agg(jsonb_build_object(
        'code', a.code, 'title', private.localize(a.title, language),
        'description', private.localize(a.description, language), 'unlocked_at', ua.unlocked_at
      ) order by a.position), '[]')
      from public.achievements a
      left join public.user_achievements ua on ua.user_id = t.user_id and ua.achievement_code = a.code
    ),
    'certificate', (
      select jsonb_build_object('certificate_number', c.certificate_number, 'issued_at', c.issued_at)
      from public.certificates c where c.user_id = t.user_id
    )
  )
  from public.tripwire_users t
  join public.tripwire_user_profile p on p.user_id = t.user_id
  join public.user_statistics s on s.user_id = t.user_id
  where t.user_id = student_id
$function$;

CREATE OR REPLACE FUNCTION analytics.refresh_sales_stats(rebuild boolean DEFAULT false)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
 SET jit TO 'off'
AS $function$
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

CREATE OR REPLACE FUNCTION private.event_student(student uuid)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO ''
AS $function$
  select pg_catalog.jsonb_build_object(
    'id', t.user_id, 'email', t.email, 'full_name', t.full_name, 'phone', t.phone, 'status', t.status,
    'manager_id', t.granted_by, 'payment_amount', t.payment_amount, 'refunded_amount', t.refunded_amount,
    'created_at', t.created_at,
    'last_activity_at', (select a.last_activity_at from private.student_activity a where a.user_id = t.user_id),
    'order', (select pg_catalog.jsonb_build_object('provider', o.provider, 'order_id', o.order_id)
              from private.payment_orders o where o.student_id = t.user_id
              order by o.created_at limit 1)
  )
  from public.tripwire_users t
  where t.user_id = student
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
    select pg_catalog.now() - pg_catalog.make_interval(days => s.stalled_after_days) as cutoff from analytics.settings s
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
             'stalled_after_days', (select s.stalled_after_days from analytics.settings s))
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

CREATE OR REPLACE FUNCTION private.person_export(person uuid)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO ''
AS $function$
  select jsonb_build_object(
    'exported_at', now(),
    'person', (select to_jsonb(u) from public.users u where u.id = person),
    'login', (
      select jsonb_build_object('email', a.email, 'created_at', a.created_at, 'last_sign_in_at', a.last_sign_in_at,
                                'email_confirmed_at', a.email_confirmed_at)
      from auth.users a where a.id = person
    ),
    'purchase', (select to_jsonb(t) || jsonb_build_object('last_activity_at', a.last_activity_at)
                 from public.tripwire_users t join private.student_activity a on a.user_id = t.user_id
                 where t.user_id = person),
    'refunds', (
      select coalesce(jsonb_agg(jsonb_build_object('amount', r.amount, 'reason', r.reason, 'created_at', r.created_at)
                                order by r.id), '[]')
      from public.student_refunds r where r.user_id = person
    ),
    'profile', (select to_jsonb(p) from public.tripwire_user_profile p where p.user_id = person),
    'statistics', (select to_jsonb(s) from public.user_statistics s where s.user_id = person),
    'modules_unlocked', (
      select coalesce(jsonb_agg(to_jsonb(m) order by m.unlocked_at), '[]')
      from public.tripwire_module_unlocks m where m.user_id = person
    ),
    'progress', (
      select coalesce(jsonb_agg(to_jsonb(p) order by p.lesson_id), '[]')
      from public.student_progress p where p.user_id = person
    ),
    'watching', (
      select coalesce(jsonb_agg(to_jsonb(v) order by v.lesson_id), '[]')
      from public.video_tracking v where v.user_id = person
    ),
    'achievements', (
      select coalesce(jsonb_agg(to_jsonb(a) order by a.achievement_code), '[]')
      from public.user_achievements a where a.user_id = person
    ),
    'certificate', (select to_jsonb(c) from public.certificates c where c.user_id = person),
    'activity', (
      select coalesce(jsonb_agg(jsonb_build_object('event_type', e.event_type, 'details', e.details,
                                                   'created_at', e.created_at) order by e.id), '[]')
      from public.sales_activity_log e where e.student_id = person
    ),
    'emails', (
      select coalesce(jsonb_agg(to_jsonb(o) - 'sealed_password' order by o.id), '[]')
      from private.email_outbox o where o.user_id = person
    ),
    'audit', (
      select coalesce(jsonb_agg(to_jsonb(a) - 'client_ip' - 'user_agent' order by a.id), '[]')
      from private.audit_log a where a.target_type = 'student' and a.target_id = person::text
    )
  )
$function$;
