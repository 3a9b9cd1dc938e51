-- A heartbeat whose cost does not depend on batching (issue: within Supabase's limits).
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
    update public.tripwire_users t set last_activity_at = pg_catalog.now()
    from (select x.user_id from public.tripwire_users x where x.user_id = student for update skip locked) r
    where t.user_id = r.user_id;
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
  'seconds and a last activity a minute old: the progress percentage, tripwire_users.last_activity_at and '
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
      select u.role, t.status::text as student_status, t.last_activity_at,
             l.video_duration_seconds::numeric as duration, l.min_watch_percentage, vt.*
      into f
      from public.users u
      join public.tripwire_users t on t.user_id = u.id
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
