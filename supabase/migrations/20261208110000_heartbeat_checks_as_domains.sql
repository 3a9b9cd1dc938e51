-- The heartbeat's row rules as domains, not table CHECKs (issue: within Supabase's limits).
--
-- video_tracking carried seven CHECK constraints (seconds and counts not negative, a share within 0-100, a
-- playback rate within what a browser allows, a known status). Postgres keeps a CHECK as an expression tree in
-- text and, for every UPDATE it starts, reads that text back into a tree and plans it (ExecConstraints ->
-- stringToNode): perf on a server taking heartbeats put that at 11 % of Postgres' CPU, more than the row write
-- itself, because every heartbeat is one such UPDATE. A domain's checks are read once per connection (the type
-- cache) and only compiled per statement. The rules are the same, on the same columns, with the same numeric
-- precision; every reader still sees the base types (a domain answers as its base type, and `supabase gen
-- types` writes them so). Measured in one run, heartbeats at two a statement through PgBouncer: 0.354 -> 0.317
-- ms of Postgres CPU per heartbeat (docs/benchmarks.md).
--
-- Changing a column to a domain with checks rewrites the table (the checks are verified on every row) under an
-- ACCESS EXCLUSIVE lock: heartbeats wait for it (about a second per 100,000 rows on a small host) and are then
-- credited as usual; nothing is refused meanwhile.

create domain public.video_seconds as numeric(10,2)
  constraint video_seconds_non_negative check (value >= 0);
comment on domain public.video_seconds is 'Seconds of a lesson''s video, to the hundredth: never negative.';

create domain public.refused_seconds as numeric(12,2)
  constraint refused_seconds_non_negative check (value >= 0);
comment on domain public.refused_seconds is 'Seconds a student posted that were not credited, in total: never negative.';

create domain public.percentage as numeric(5,2)
  constraint percentage_range check (value >= 0 and value <= 100);
comment on domain public.percentage is 'A share in percent, to the hundredth: 0 to 100.';

create domain public.playback_rate as numeric(4,2)
  constraint playback_rate_range check (value > 0 and value <= 16);
comment on domain public.playback_rate is 'A player''s playback rate: above 0, at most 16 (what a browser''s media element allows).';

create domain public.heartbeat_count as integer
  constraint heartbeat_count_non_negative check (value >= 0);
comment on domain public.heartbeat_count is 'Heartbeats credited to a lesson row: never negative.';

create domain public.watch_status as text
  constraint watch_status_valid check (value in ('not_started', 'in_progress', 'completed'));
comment on domain public.watch_status is 'Where a student is with a lesson''s video: not_started, in_progress or completed.';

alter table public.video_tracking
  drop constraint video_tracking_heartbeat_count_non_negative,
  drop constraint video_tracking_last_position_non_negative,
  drop constraint video_tracking_percentage_range,
  drop constraint video_tracking_playback_rate_range,
  drop constraint video_tracking_rejected_seconds_non_negative,
  drop constraint video_tracking_status_valid,
  drop constraint video_tracking_watched_seconds_non_negative,
  alter column watched_seconds type public.video_seconds,
  alter column last_position_seconds type public.video_seconds,
  alter column rejected_seconds type public.refused_seconds,
  alter column watch_percentage type public.percentage,
  alter column last_playback_rate type public.playback_rate,
  alter column heartbeat_count type public.heartbeat_count,
  alter column status type public.watch_status;

-- PL/pgSQL keeps a function compiled per connection, with the column types its records had: a pooler's
-- long-lived server connections would go on with the old types ("type of parameter … does not match"). Altering
-- a function rewrites its catalog row, which makes every connection compile it again on its next call.
alter function private.record_heartbeats(jsonb, real, real, numeric, numeric, numeric, integer)
  set plan_cache_mode = 'force_generic_plan';
alter function private.spread_watching(uuid, integer, numeric, boolean, boolean) set search_path = '';
alter function analytics.refresh_retention() set search_path = '';
