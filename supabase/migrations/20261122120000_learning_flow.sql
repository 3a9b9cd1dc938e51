-- The learning flow (video-tracking, complete-lesson): crediting watched seconds atomically and
-- plausibly, in SQL, so concurrent heartbeats never lose a segment.

-- Plausibility is a token bucket of watch time: it fills at the maximum playback rate (2 s of video per
-- wall-clock second) and holds at most 2 × 30 s + 5 s. Each credited second spends half a second of
-- it. `credit_clock_at` is where that bucket stands; a burst of heartbeats shares one bucket, so it
-- gains nothing by arriving as many requests.
alter table public.video_tracking
  add column if not exists credit_clock_at timestamptz;
comment on column public.video_tracking.credit_clock_at is
  'watch-time bucket: credit allowed now = 2 × (now − greatest(credit_clock_at, now − 30 s)) + 5 s; advanced by credited / 2';

-- Seconds covered by a multirange (its ranges never overlap).
create or replace function private.multirange_seconds(ranges nummultirange) returns numeric
language sql immutable parallel safe
set search_path = ''
as $$
  select coalesce(sum(pg_catalog.upper(r) - pg_catalog.lower(r)), 0) from pg_catalog.unnest(ranges) as r
$$;
revoke execute on function private.multirange_seconds(nummultirange) from public;
grant execute on function private.multirange_seconds(nummultirange) to service_role;

-- What of `incoming` is new against `stored`, credited from the earliest second on up to `allowance`
-- seconds; the rest is rejected. Returns the merged ranges and both amounts.
create or replace function private.credit_watch(stored nummultirange, incoming nummultirange, allowance numeric)
returns table (ranges nummultirange, credited numeric, rejected numeric)
language sql immutable parallel safe
set search_path = ''
as $$
  with fresh as (
    select r, pg_catalog.upper(r) - pg_catalog.lower(r) as length,
           sum(pg_catalog.upper(r) - pg_catalog.lower(r)) over (order by pg_catalog.lower(r)) as running
    from pg_catalog.unnest(incoming operator(pg_catalog.-) stored) as r
  ),
  granted as (
    select case when running <= allowance then r
                else pg_catalog.numrange(pg_catalog.lower(r), pg_catalog.lower(r) + (allowance - (running - length)))
           end as r
    from fresh
    where running - length < allowance
  )
  select stored operator(pg_catalog.+) coalesce((select range_agg(g.r) from granted g), '{}'::pg_catalog.nummultirange),
         coalesce((select sum(pg_catalog.upper(g.r) - pg_catalog.lower(g.r)) from granted g), 0),
         coalesce((select sum(f.length) from fresh f), 0)
           - coalesce((select sum(pg_catalog.upper(g.r) - pg_catalog.lower(g.r)) from granted g), 0)
$$;
revoke execute on function private.credit_watch(nummultirange, nummultirange, numeric) from public;
grant execute on function private.credit_watch(nummultirange, nummultirange, numeric) to service_role;

notify pgrst, 'reload schema';
