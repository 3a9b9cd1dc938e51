-- Watching is progress (issue 25): the first credited heartbeat of a lesson starts its student_progress
-- row, and a student's watching reaches what managers read (last activity, watched seconds, the lesson's
-- progress) at most a minute late, written by the heartbeat statement itself. A student's last activity now
-- lives in one place, the sale's row, indexed with the manager so the list can show who stalled.

alter table public.tripwire_users add column last_activity_at timestamptz;

comment on column public.tripwire_users.last_activity_at is 'When the student last watched something new (a heartbeat that credited seconds, written at most once a minute) or completed a lesson; null: never. The list sorts and filters by it.';

-- What was known before: completions, and the heartbeats of every lesson.
update public.tripwire_users t
set last_activity_at = a.last_activity_at
from (
  select t2.user_id,
         greatest(p.last_activity_at, s.last_activity_at,
                  (select max(v.last_heartbeat_at) from public.video_tracking v where v.user_id = t2.user_id))
           as last_activity_at
  from public.tripwire_users t2
  join public.tripwire_user_profile p on p.user_id = t2.user_id
  join public.user_statistics s on s.user_id = t2.user_id
) a
where t.user_id = a.user_id and a.last_activity_at is not null;

-- Lessons watched but never started under the old rule start now, at their last heartbeat (the only time known).
update public.student_progress sp
set status = 'in_progress', started_at = coalesce(sp.started_at, v.last_heartbeat_at, now()),
    watch_percentage = v.watch_percentage
from public.video_tracking v
where v.user_id = sp.user_id and v.lesson_id = sp.lesson_id and v.watched_seconds > 0 and sp.status = 'not_started';

update public.user_statistics s
set total_watch_seconds = w.seconds
from (select v.user_id, sum(v.watched_seconds) as seconds from public.video_tracking v group by v.user_id) w
where s.user_id = w.user_id and s.total_watch_seconds <> w.seconds;

-- One last activity: the sale's. The profile's and the statistics' copies were written only by completions.
alter table public.tripwire_user_profile drop column last_activity_at;
alter table public.user_statistics drop column last_activity_at;

-- The list's stalled view: a manager's students (or everyone's) by last activity, never-active first, keyset
-- by (activity, id). Null sorts as -infinity so one row comparison pages through it.
create index tripwire_users_manager_last_activity
  on public.tripwire_users (granted_by, coalesce(last_activity_at, '-infinity'::timestamptz), user_id);
create index tripwire_users_last_activity
  on public.tripwire_users (coalesce(last_activity_at, '-infinity'::timestamptz), user_id);

CREATE OR REPLACE FUNCTION private.student_dashboard(student_id uuid)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO ''
AS $function$
  select jsonb_build_object(
    'student', jsonb_build_object('id', t.user_id, 'full_name', t.full_name, 'email', t.email, 'status', t.status),
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
      'last_activity_at', t.last_activity_at
    ),
    'modules', (
      select coalesce(jsonb_agg(jsonb_build_object(
        'id', m.id, 'position', m.position, 'title', m.title,
        'state', case when u.completed_at is not null then 'completed'
                      when u.module_id is not null then 'unlocked'
                      else 'locked' end,
        'lessons', (
          select coalesce(jsonb_agg(jsonb_build_object(
            'id', l.id, 'position', l.position, 'title', l.title,
            'duration_seconds', l.video_duration_seconds, 'video_url', l.video_url,
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
        'code', a.code, 'title', a.title, 'description', a.description, 'unlocked_at', ua.unlocked_at
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
    select x.i, x.user_id, x.lesson_id, x.segments, x.position, x.playback_rate
    from pg_catalog.jsonb_to_recordset(batch)
      as x (i int, user_id uuid, lesson_id int, segments jsonb, position numeric, playback_rate numeric)
  ),
  caller as (
    select i.i, u.role, t.status, t.last_activity_at
    from input i
    join public.users u on u.id = i.user_id
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

notify pgrst, 'reload schema';
