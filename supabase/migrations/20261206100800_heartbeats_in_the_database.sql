-- Heartbeats recorded by one database function instead of one long statement sent by the functions.
-- Deployed, the functions reach Postgres through Supavisor in transaction mode, where no prepared statement
-- survives a transaction: the heartbeat statement (a dozen joins and a writable CTE) was parsed and planned
-- again for every batch, about 2.6 ms of Postgres CPU per statement on the bench host, which the batching of
-- one busy process hid and many small isolates (two or three heartbeats a statement) did not
-- (docs/benchmarks.md, "Heartbeats as deployed"). A PL/pgSQL function keeps its statement's plan for the
-- life of the server connection, and a pooler's server connections live on: the call is a one-line statement.
-- The statement is the one the functions sent: each input gets its own row's state back, refused inputs say
-- why, the bucket is read from the row being updated, asynchronous commit for this transaction only. The
-- limits come from the functions (video_tracking.ts), where they are documented.
create or replace function private.record_heartbeats(
  batch jsonb,
  heartbeats_per_second real,
  heartbeat_burst real,
  max_playback_rate numeric,
  max_idle_seconds numeric,
  tolerance_seconds numeric,
  max_stored_ranges integer
)
returns table (
  i integer,
  caller_role text,
  caller_status text,
  lesson_found boolean,
  unlocked boolean,
  lesson_id integer,
  tokens real,
  watched_seconds numeric,
  duration_seconds integer,
  watch_percentage numeric,
  min_watch_percentage numeric,
  qualified boolean,
  status text,
  rejected_seconds numeric,
  heartbeat_count integer,
  last_position_seconds numeric,
  segments jsonb
)
language plpgsql
set search_path = ''
-- The plan does not depend on the values (one batch of inputs joined by key): plan once, not per call.
set plan_cache_mode = force_generic_plan
as $$
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
    select i.i, u.role, t.status
    from input i
    join public.users u on u.id = i.user_id
    left join public.tripwire_users t on t.user_id = u.id
  ),
  bucket as (
    -- The heartbeats the row could take now: its bucket refilled for the time since its last one.
    select i.i,
           least(heartbeat_burst, vt.heartbeat_tokens + heartbeats_per_second *
                 greatest(0, extract(epoch from now() - coalesce(vt.last_heartbeat_at, now() - interval '1 hour')))::real)
             as tokens
    from input i
    join public.video_tracking vt on vt.user_id = i.user_id and vt.lesson_id = i.lesson_id
  ),
  lesson as (
    select i.i, l.id, l.video_duration_seconds::numeric as duration, l.min_watch_percentage,
           c.role = 'student' and c.status not in ('suspended', 'refunded') and exists (
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
  )
  select i.i, c.role, c.status, l.id is not null, l.unlocked,
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
$$;
revoke execute on function private.record_heartbeats(jsonb, real, real, numeric, numeric, numeric, integer)
  from public;
