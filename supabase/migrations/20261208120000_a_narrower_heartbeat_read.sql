-- A heartbeat that reads five rows, not eight, and fires no trigger (issue: within Supabase's limits).
--
-- perf on a server taking one heartbeat a statement put the heartbeat's indexed read at a quarter of Postgres'
-- CPU, two fifths of it in starting the executor for its eight index scans. Three of them only re-proved what
-- the other rows already say:
--   * public.users (role student, not erased): a sale (public.tripwire_users) is a student, and erasing one
--     deletes its Supabase Auth login first, and with it every session, so an erased student has no session;
--   * public.tripwire_module_unlocks: a lesson's tracking row is made only once its module is unlocked (at the
--     sale, on finishing the module before it, or by video-tracking after private.refused_heartbeat said so),
--     and unlocks are never taken back;
--   * private.student_activity (is the last activity a minute old?): the tracking row now notes when its
--     heartbeats last wrote the student's activity (activity_noted_at), so the once-a-minute write is decided
--     from the row being written. A student watching two lessons at once writes it once a minute per lesson.
-- A refused heartbeat is still explained by private.refused_heartbeat, which checks everything, as before.
--
-- The heartbeat also sets updated_at itself, and video_tracking's updated_at trigger now fires only for a
-- writer that did not (the trigger was a PL/pgSQL call on every heartbeat).
--
-- And the PL/pgSQL around the two statements does less: the read fills the answer's fixed columns and works out
-- the rate bucket, the new segments and the credit clock in its own projection (a PL/pgSQL assignment is an
-- expression set up once per transaction and checked on every use, and a heartbeat is one transaction); the
-- UPDATE finds the row by the address the read saw (ctid) instead of walking the primary key again; the
-- asynchronous commit is set by an assignment, not a PERFORM (which runs a query).
--
-- Measured in one run, A/B against the function before, one heartbeat a statement: 0.329 -> 0.305 ms of Postgres
-- CPU a heartbeat for the narrower read, then 0.335 -> 0.325 (four a statement: 0.208 -> 0.188) for the rest
-- (docs/benchmarks.md).

alter table public.video_tracking add column activity_noted_at timestamptz;

comment on column public.video_tracking.activity_noted_at is
  'When a heartbeat of this row last wrote the student''s last activity (private.spread_watching, at most once a '
  'minute); null: never. Lets the heartbeat decide that write from its own row.';

drop trigger video_tracking_set_updated_at on public.video_tracking;
create trigger video_tracking_set_updated_at before update on public.video_tracking for each row
  when (new.updated_at is not distinct from old.updated_at) execute function private.set_updated_at();

-- The minute's write, when the activity row is held by another transaction and skipped, takes the tracking
-- row's note back, so the next heartbeat writes it (as when the decision was read from the activity row).
create or replace function private.spread_watching(student uuid, lesson integer, percentage numeric,
                                                   started boolean, stale boolean)
  returns void
  language plpgsql
  set search_path = ''
as $$
begin
  -- Rows another transaction holds (a completion, a refund) are skipped, never waited for, so a heartbeat
  -- cannot deadlock with them: a later heartbeat writes what was skipped.
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
    if not found then
      -- The heartbeat's own row, already written by this transaction: no wait.
      update public.video_tracking v set activity_noted_at = null
      where v.user_id = student and v.lesson_id = lesson;
    end if;
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

comment on function private.spread_watching(uuid, integer, numeric, boolean, boolean) is
  'The rare part of a heartbeat (record_heartbeats calls it only when due): started — the lesson''s first credited '
  'seconds: student_progress goes in_progress and lesson.started is written to the events'' outbox; stale — new '
  'seconds and the row''s activity note (video_tracking.activity_noted_at) a minute old: the progress percentage, '
  'private.student_activity and user_statistics.total_watch_seconds follow. Held rows are skipped (for update skip '
  'locked), never waited for; a skipped activity write clears the note, so the next heartbeat tries again.';

create or replace function private.record_heartbeats(batch jsonb, heartbeats_per_second real, heartbeat_burst real,
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
  -- the tracking row as read
  row_at tid;
  duration numeric;
  stored pg_catalog.nummultirange;
  stored_seconds numeric;
  stored_status text;
  was_qualified boolean;
  stored_rejected numeric;
  stored_count integer;
  stored_position numeric;
  noted_at timestamptz;
  -- the segments sent that are new: clamped to the video, minus what is stored
  fresh pg_catalog.nummultirange;
  fresh_seconds numeric;
  clock timestamptz;
  allowance numeric;
  credited numeric;
  after pg_catalog.nummultirange;
  seconds numeric;
  started boolean;
  stale boolean;
  ignored text;
begin
  -- Asynchronous commit for this transaction only (Postgres docs, "Asynchronous Commit"): a crash of the
  -- server may lose the last ~0.6 s of heartbeats, never corrupt or half-apply one. Waiting for the WAL flush
  -- was most of a heartbeat's cost; completions, which matter, stay synchronous. (An assignment, not PERFORM:
  -- PERFORM runs a query through the executor.)
  ignored := pg_catalog.set_config('synchronous_commit', 'off', true);
  <<heartbeats>>
  for h in
    select x.i, x.user_id, x.session_id, x.lesson_id, x.segments, x.position, x.playback_rate
    from pg_catalog.jsonb_to_recordset(batch)
      as x (i int, user_id uuid, session_id uuid, lesson_id int, segments pg_catalog.nummultirange,
            position numeric, playback_rate numeric)
  loop
    <<attempt>>
    loop
      -- The usual heartbeat, in one indexed read: a sale with access whose token's session is open (as
      -- private.session_live asks) and the lesson's tracking row, which exists only once its module is
      -- unlocked (a sale is a student; an erased student has no login, so no session). The read fills the
      -- answer's fixed columns and works out the rate bucket, the new segments and the credit clock itself:
      -- one query's projection costs less than a PL/pgSQL assignment each.
      select h.i, 'student', t.status::text, true, true, l.video_duration_seconds, l.min_watch_percentage,
             least(heartbeat_burst, vt.heartbeat_tokens + heartbeats_per_second * greatest(0, extract(epoch from
               pg_catalog.now() - coalesce(vt.last_heartbeat_at, pg_catalog.now() - interval '1 hour')))::real),
             vt.ctid, l.video_duration_seconds, vt.watched_ranges, vt.watched_seconds, vt.status,
             vt.qualified_at is not null, vt.rejected_seconds, vt.heartbeat_count, vt.last_position_seconds,
             vt.activity_noted_at,
             (h.segments operator(pg_catalog.*) pg_catalog.nummultirange(pg_catalog.numrange(0, l.video_duration_seconds)))
               operator(pg_catalog.-) vt.watched_ranges,
             greatest(coalesce(vt.credit_clock_at, pg_catalog.now()), pg_catalog.now() - make_interval(secs => max_idle_seconds))
      into i, caller_role, caller_status, lesson_found, unlocked, duration_seconds, min_watch_percentage, tokens,
           row_at, duration, stored, stored_seconds, stored_status, was_qualified, stored_rejected, stored_count,
           stored_position, noted_at, fresh, clock
      from public.tripwire_users t
      join public.tripwire_lessons l on l.id = h.lesson_id
      join public.video_tracking vt on vt.user_id = t.user_id and vt.lesson_id = l.id
      join auth.sessions s on s.id = h.session_id and s.user_id = t.user_id
      join auth.users a on a.id = t.user_id
      where t.user_id = h.user_id
        and t.status::text <> all (pg_catalog.enum_range(null::public.access_revoking_status)::text[])
        and (s.not_after is null or s.not_after > pg_catalog.now())
        and a.deleted_at is null and (a.banned_until is null or a.banned_until <= pg_catalog.now());
      if not found then
        return query select * from private.refused_heartbeat(h.i, h.user_id, h.session_id, h.lesson_id,
                                                             heartbeats_per_second, heartbeat_burst);
        continue heartbeats;
      end if;
      if tokens < 1 then
        lesson_id := null; watched_seconds := null; watch_percentage := null; qualified := null; status := null;
        rejected_seconds := null; heartbeat_count := null; last_position_seconds := null; ranges := null;
        return next;
        continue heartbeats;
      end if;
      -- The plausibility bucket: new seconds are credited in playback order up to what the wall clock allows
      -- since the credit clock (2x, plus tolerance; a pause banks at most max_idle_seconds).
      allowance := max_playback_rate * extract(epoch from pg_catalog.now() - clock) + tolerance_seconds;
      if pg_catalog.isempty(fresh) then
        credited := 0;
        fresh_seconds := 0;
        after := stored;
      elsif fresh operator(pg_catalog.=) pg_catalog.nummultirange(pg_catalog.range_merge(fresh)) then
        -- One new range, the usual case: no set operation.
        fresh_seconds := pg_catalog.upper(fresh) - pg_catalog.lower(fresh);
        credited := greatest(0, least(fresh_seconds, allowance));
        after := case when credited > 0
                      then stored operator(pg_catalog.+) pg_catalog.nummultirange(
                             pg_catalog.numrange(pg_catalog.lower(fresh), pg_catalog.lower(fresh) + credited))
                      else stored end;
      else
        select w.ranges, w.credited, w.credited + w.rejected into after, credited, fresh_seconds
        from private.credit_watch(stored,
                                  h.segments operator(pg_catalog.*)
                                    pg_catalog.nummultirange(pg_catalog.numrange(0, duration)),
                                  allowance, max_stored_ranges) w;
      end if;
      if after operator(pg_catalog.=) pg_catalog.nummultirange(pg_catalog.range_merge(after)) then
        seconds := coalesce(pg_catalog.upper(after) - pg_catalog.lower(after), 0);
      else
        -- A row keeps at most max_stored_ranges separate ranges: a heartbeat that would fragment it further
        -- is not credited (credit_watch's rule, for the one-range path).
        if credited > 0 and (select pg_catalog.count(*) from pg_catalog.unnest(after))
                              > greatest(max_stored_ranges, (select pg_catalog.count(*)
                                                             from pg_catalog.unnest(stored))) then
          after := stored;
          credited := 0;
        end if;
        seconds := (select sum(pg_catalog.upper(r) - pg_catalog.lower(r)) from pg_catalog.unnest(after) as r);
      end if;
      watched_seconds := round(least(seconds, duration), 2);
      watch_percentage := round(least(100, seconds * 100 / duration), 2);
      started := stored_status = 'not_started' and watched_seconds > 0;
      stale := watched_seconds > stored_seconds
               and (noted_at is null or noted_at < pg_catalog.now() - interval '1 minute');
      lesson_id := h.lesson_id;
      qualified := was_qualified or watch_percentage >= min_watch_percentage;
      status := case when started then 'in_progress' else stored_status end;
      rejected_seconds := stored_rejected + (fresh_seconds - credited);
      heartbeat_count := stored_count + 1;
      -- least() skips a null: an absent position must not reach it, or it would become the duration.
      last_position_seconds := case when h.position is null then stored_position
                                    else least(h.position, duration) end;
      ranges := after::text;
      -- Written only if no other heartbeat of the row committed since the read (heartbeat_count moves on
      -- every credit); otherwise read again. The row is found by its address (ctid) from the read, not by a
      -- second walk of the primary key; a newer version of it fails the count and the read is done again.
      -- No row lock is held while the arithmetic runs.
      update public.video_tracking vt
      set watched_ranges = after, watched_seconds = record_heartbeats.watched_seconds,
          watch_percentage = record_heartbeats.watch_percentage,
          rejected_seconds = record_heartbeats.rejected_seconds, status = record_heartbeats.status,
          qualified_at = case when vt.qualified_at is null and record_heartbeats.qualified then pg_catalog.now()
                              else vt.qualified_at end,
          credit_clock_at = clock + make_interval(secs => credited / max_playback_rate),
          heartbeat_count = record_heartbeats.heartbeat_count, heartbeat_tokens = tokens - 1,
          last_heartbeat_at = pg_catalog.now(), last_position_seconds = record_heartbeats.last_position_seconds,
          last_playback_rate = coalesce(h.playback_rate, vt.last_playback_rate),
          activity_noted_at = case when stale then pg_catalog.now() else vt.activity_noted_at end,
          updated_at = pg_catalog.now()
      where vt.ctid = row_at and vt.user_id = h.user_id and vt.lesson_id = h.lesson_id
        and vt.heartbeat_count = stored_count;
      exit attempt when found;
    end loop;
    if started or stale then
      perform private.spread_watching(h.user_id, h.lesson_id, watch_percentage, started, stale);
    end if;
    return next;
  end loop;
end
$$;

comment on function private.record_heartbeats(jsonb, real, real, numeric, numeric, numeric, integer) is
  'Credits a batch of heartbeats ([{i, user_id, session_id, lesson_id, segments: nummultirange text, position, '
  'playback_rate}]) and answers one row per input, in input order: the watch state, or why nothing was credited. '
  'Each heartbeat: one indexed read of five rows (sale, lesson, tracking row, session, login), the plausibility '
  'and rate buckets in variables, one UPDATE by key (again if a concurrent heartbeat of the row won). Commits '
  'asynchronously. Called by video-tracking''s recordHeartbeats.';
