-- A student's watched ranges are bounded. Numeric ranges can be as fine as a client likes, so 200 tiny
-- segments per heartbeat, each within the plausibility allowance, would grow one row without end, and
-- every later heartbeat of that student would merge, store and return ever more ranges (measured: a row
-- of a few hundred ranges makes the heartbeat about 5× dearer). An honest player leaves one range per
-- seek, a handful per lesson. So a heartbeat that would leave the row holding more than `max_ranges`
-- ranges is not credited: all its new seconds count as rejected and the stored ranges stay as they were.
-- Heartbeats that extend or join ranges already stored are always credited. The ranges are counted
-- inside credit_watch's one query: a helper SQL function for it cost 15 % of heartbeat throughput.

drop function if exists private.credit_watch(nummultirange, nummultirange, numeric);

create or replace function private.credit_watch(stored nummultirange, incoming nummultirange, allowance numeric, max_ranges integer)
returns table (ranges nummultirange, credited numeric, rejected numeric)
language plpgsql immutable parallel safe
set search_path = ''
as $$
declare
  fresh_seconds numeric;
  ranges_after bigint;
begin
  with fresh as (
    select r, pg_catalog.upper(r) - pg_catalog.lower(r) as length,
           sum(pg_catalog.upper(r) - pg_catalog.lower(r)) over (order by pg_catalog.lower(r)) as running
    from pg_catalog.unnest(incoming operator(pg_catalog.-) stored) as r
  ),
  granted as (
    select case when fresh.running <= allowance then fresh.r
                else pg_catalog.numrange(
                  pg_catalog.lower(fresh.r), pg_catalog.lower(fresh.r) + (allowance - (fresh.running - fresh.length))
                )
           end as r
    from fresh
    where fresh.running - fresh.length < allowance
  ),
  merged as (
    select stored operator(pg_catalog.+) coalesce((select range_agg(g.r) from granted g), '{}'::pg_catalog.nummultirange)
      as m
  )
  select merged.m,
         coalesce((select sum(pg_catalog.upper(g.r) - pg_catalog.lower(g.r)) from granted g), 0),
         coalesce((select sum(f.length) from fresh f), 0),
         (select pg_catalog.count(*) from pg_catalog.unnest(merged.m))
  into ranges, credited, fresh_seconds, ranges_after
  from merged;
  rejected := fresh_seconds - credited;
  if ranges_after > max_ranges
     and ranges_after > (select pg_catalog.count(*) from pg_catalog.unnest(stored)) then
    ranges := stored;
    credited := 0;
    rejected := fresh_seconds;
  end if;
  return next;
end
$$;

revoke execute on function private.credit_watch(nummultirange, nummultirange, numeric, integer) from public;
grant execute on function private.credit_watch(nummultirange, nummultirange, numeric, integer) to service_role;

notify pgrst, 'reload schema';
