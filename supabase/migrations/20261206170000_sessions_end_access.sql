-- Access ends at once in the functions too (issue 36): an erased or deleted person, a signed-out or banned one,
-- kept the dashboard, heartbeats and signed videos until the token expired, because the functions asked only
-- whose token it was. A Supabase access token names its session (`session_id`); Supabase Auth deletes the
-- session when the person signs out, is banned or deleted (auth.sessions cascades from auth.users). Every
-- request now needs that session still open, in the same statement that reads the caller's role.

-- PL/pgSQL: its body is not checked against auth.sessions when the migration runs (a plain Postgres gets
-- that table from the local sign-in), and it keeps its plan per session.
create function private.session_live(person uuid, session uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $function$
begin
  return exists (
    select 1
    from auth.sessions s
    join auth.users a on a.id = s.user_id
    where s.id = session and s.user_id = person
      and (s.not_after is null or s.not_after > pg_catalog.now())
      and a.deleted_at is null
      and (a.banned_until is null or a.banned_until <= pg_catalog.now())
  );
end
$function$;
comment on function private.session_live(uuid, uuid) is 'True while the access token''s session is open: Supabase Auth still holds it (not signed out, not past its time box), and its person is neither deleted nor banned. The functions and private.active_uid() ask it on every request, so access ends when the session does, not when the token expires.';
revoke all on function private.session_live(uuid, uuid) from public, anon, authenticated, service_role;

-- The caller's id while that person may act, now also only while the token's session is open.
create or replace function private.active_uid()
returns uuid
language plpgsql
stable
security definer
set search_path = ''
as $function$
declare
  session_text text := (select auth.jwt()) ->> 'session_id';
begin
  if session_text is null
     or session_text !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' then
    return null;
  end if;
  return (select u.id from public.users u
          where u.id = (select auth.uid()) and u.deactivated_at is null and u.erased_at is null
            and private.session_live(u.id, session_text::uuid));
end
$function$;

-- The analytics RPCs' scope: the caller as private.active_uid() sees them (it read auth.uid() and ignored
-- erasure and the session).
create or replace function analytics.caller_scope(requested_manager uuid)
returns uuid
language plpgsql
stable
set search_path = ''
as $function$
declare
  caller_id uuid := (select private.active_uid());
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
$function$;

-- The heartbeat: each input carries its token's session_id; a closed session or an erased person is no caller.
CREATE OR REPLACE FUNCTION private.record_heartbeats(batch jsonb, heartbeats_per_second real, heartbeat_burst real, max_playback_rate numeric, max_idle_seconds numeric, tolerance_seconds numeric, max_stored_ranges integer)
 RETURNS TABLE(i integer, caller_role text, caller_status text, lesson_found boolean, unlocked boolean, lesson_id integer, tokens real, watched_seconds numeric, duration_seconds integer, watch_percentage numeric, min_watch_percentage numeric, qualified boolean, status text, rejected_seconds numeric, heartbeat_count integer, last_position_seconds numeric, segments jsonb)
 LANGUAGE plpgsql
 SET search_path TO ''
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
#variable_conflict use_column
begin
  -- Asynchronous commit for this transaction only (Postgres docs, "Asynchronous Commit"): a crash of the
  -- server may lose the last ~0.6 s of heartbeats, never corrupt or half-apply one. Waiting for the WAL flush
  -- was most of a heartbeat's cost; completions, which matter, stay synchronous.
  perform pg_catalog.set_config('synchronous_commit', 'off', true);
  return query
  with input as (
    select x.i, x.user_id, x.session_id, x.lesson_id, x.segments, x.position, x.playback_rate
    from pg_catalog.jsonb_to_recordset(batch)
      as x (i int, user_id uuid, session_id uuid, lesson_id int, segments jsonb, position numeric, playback_rate numeric)
  ),
  caller as (
    select i.i, u.role, t.status, t.last_activity_at
    from input i
    -- The token's session still open and the person not erased: otherwise no caller, so nothing is credited.
    join public.users u on u.id = i.user_id and u.erased_at is null and private.session_live(i.user_id, i.session_id)
    left join public.tripwire_users t on t.user_id = u.id
  ),
  bucket as (
    -- The heartbeats the row could take now: its bucket refilled for the time since its last one.
    select i.i, vt.status as status_before, vt.watched_seconds as watched_before,
           least(heartbeat_burst, vt.heartbeat_tokens + heartbeats_per_second *
                 greatest(0, extract(epoch from now() - coalesce(vt.last_heartbeat_at, now() - interval '1 hour')))::real)
             as tokens
    from input i
    join public.video_tracking vt on vt.user_id = i.user_id and vt.lesson_id = i.lesson_id
  ),
  lesson as (
    select i.i, l.id, l.video_duration_seconds::numeric as duration, l.min_watch_percentage,
           c.role = 'student' and not private.access_revoked(c.status) and exists (
             select 1 from public.tripwire_module_unlocks u
             where u.user_id = i.user_id and u.module_id = l.module_id
           ) as unlocked
    from input i
    join public.tripwire_lessons l on l.id = i.lesson_id
    left join caller c on c.i = i.i
  ),
  incoming as (
    select l.i,
           coalesce(range_agg(numrange(s.start_at, least(s.end_at, l.duration))) filter (where s.start_at < l.duration),
                    '{}'::nummultirange) as ranges
    from lesson l
    join input i on i.i = l.i
    left join lateral (
      select (e ->> 0)::numeric as start_at, (e ->> 1)::numeric as end_at
      from jsonb_array_elements(i.segments) as e
    ) as s on true
    group by l.i
  ),
  updated as (
    update public.video_tracking vt
    set (watched_ranges, watched_seconds, watch_percentage, rejected_seconds, status, qualified_at, credit_clock_at) = (
          select w.ranges, m.seconds, m.percentage, vt.rejected_seconds + w.rejected,
                 case when vt.status = 'not_started' and m.seconds > 0 then 'in_progress' else vt.status end,
                 case when vt.qualified_at is null and m.percentage >= l.min_watch_percentage then now()
                      else vt.qualified_at end,
                 b.clock + make_interval(secs => w.credited / max_playback_rate)
          from (
            select greatest(coalesce(vt.credit_clock_at, now()), now() - make_interval(secs => max_idle_seconds))
              as clock
          ) b
          cross join lateral private.credit_watch(
            vt.watched_ranges, n.ranges,
            max_playback_rate * extract(epoch from now() - b.clock) + tolerance_seconds,
            max_stored_ranges
          ) w
          cross join lateral (
            select round(least(private.multirange_seconds(w.ranges), l.duration), 2) as seconds,
                   round(least(100, private.multirange_seconds(w.ranges) * 100 / l.duration), 2) as percentage
          ) m
        ),
        heartbeat_count = vt.heartbeat_count + 1,
        heartbeat_tokens = least(heartbeat_burst, vt.heartbeat_tokens + heartbeats_per_second *
          greatest(0, extract(epoch from now() - coalesce(vt.last_heartbeat_at, now() - interval '1 hour')))::real) - 1,
        last_heartbeat_at = now(),
        -- least() skips a null: an absent position must not reach it, or it would become the duration.
        last_position_seconds = case when i.position is null then vt.last_position_seconds
                                     else least(i.position, l.duration) end,
        last_playback_rate = coalesce(i.playback_rate, vt.last_playback_rate)
    from input i
    join lesson l on l.i = i.i
    join incoming n on n.i = i.i
    -- The bucket is read from the row being updated (not the snapshot), so concurrent heartbeats each spend a
    -- token of their own.
    where vt.user_id = i.user_id and vt.lesson_id = l.id and l.unlocked
      and least(heartbeat_burst, vt.heartbeat_tokens + heartbeats_per_second *
            greatest(0, extract(epoch from now() - coalesce(vt.last_heartbeat_at, now() - interval '1 hour')))::real) >= 1
    returning i.i, vt.*
  ),
  -- Watching is progress. The first heartbeat that credits a lesson starts its student_progress row at once;
  -- and at most once a minute per student (a heartbeat that credits seconds when the sale's last_activity_at
  -- is a minute old) the watching reaches the rows others read: the lesson's progress percentage, the sale's last activity, the statistics'
  -- watched seconds. Steady state adds no read and no write. Rows another transaction holds (a completion, a
  -- refund) are skipped, never waited for, so the heartbeat cannot deadlock with them: the next minute's
  -- heartbeat writes what was skipped.
  watched as (
    select u.i, u.user_id, u.lesson_id, u.watched_seconds, u.watch_percentage,
           b.status_before = 'not_started' and u.status = 'in_progress' as started,
           u.watched_seconds > b.watched_before
             and (c.last_activity_at is null or c.last_activity_at < now() - interval '1 minute') as stale
    from updated u
    join bucket b on b.i = u.i
    join caller c on c.i = u.i
  ),
  progress_rows as (
    select sp.user_id, sp.lesson_id, w.watch_percentage
    from public.student_progress sp
    join watched w on w.user_id = sp.user_id and w.lesson_id = sp.lesson_id
    where (w.started or w.stale) and w.watched_seconds > 0 and sp.status <> 'completed'
    for update of sp skip locked
  ),
  progressed as (
    update public.student_progress sp
    set status = 'in_progress', started_at = coalesce(sp.started_at, now()), watch_percentage = r.watch_percentage
    from progress_rows r
    where sp.user_id = r.user_id and sp.lesson_id = r.lesson_id
  ),
  sale_rows as (
    select t.user_id
    from public.tripwire_users t
    where t.user_id in (select w.user_id from watched w where w.stale)
    for update of t skip locked
  ),
  sale_active as (
    update public.tripwire_users t set last_activity_at = now()
    from sale_rows r
    where t.user_id = r.user_id
  ),
  statistics_rows as (
    select s.user_id
    from public.user_statistics s
    where s.user_id in (select w.user_id from watched w where w.stale)
    for update of s skip locked
  ),
  statistics_watched as (
    -- This statement's own tracking rows are read from what it wrote, the student's others as committed.
    update public.user_statistics s
    set total_watch_seconds = (
          select coalesce(sum(v.watched_seconds), 0) from public.video_tracking v
          where v.user_id = r.user_id and v.lesson_id not in (select w.lesson_id from watched w where w.user_id = r.user_id)
        ) + (select sum(w.watched_seconds) from watched w where w.user_id = r.user_id)
    from statistics_rows r
    where s.user_id = r.user_id
  ),
  -- The first credited heartbeat of a lesson is its lesson.started event, written with it (the events' outbox).
  started_events as (
    insert into private.webhook_events (event_type, student_id, data)
    select 'lesson.started', w.user_id,
           pg_catalog.jsonb_build_object('student', private.event_student(w.user_id),
                                         'lesson', private.event_lesson(w.lesson_id))
    from watched w
    where w.started
  )
  select i.i, c.role, c.status::text, l.id is not null, l.unlocked,
         u.lesson_id, b.tokens,
         u.watched_seconds, l.duration::int, u.watch_percentage, l.min_watch_percentage,
         u.qualified_at is not null, u.status, u.rejected_seconds, u.heartbeat_count,
         u.last_position_seconds,
         (select coalesce(jsonb_agg(jsonb_build_array(lower(r)::text, upper(r)::text) order by lower(r)), '[]')
          from unnest(u.watched_ranges) as r)
  from input i
  left join caller c on c.i = i.i
  left join lesson l on l.i = i.i
  left join bucket b on b.i = i.i
  left join updated u on u.i = i.i
  order by i.i;
end
$function$;

revoke all on function private.record_heartbeats(batch jsonb, heartbeats_per_second real, heartbeat_burst real, max_playback_rate numeric, max_idle_seconds numeric, tolerance_seconds numeric, max_stored_ranges integer) from public, anon, authenticated, service_role;
