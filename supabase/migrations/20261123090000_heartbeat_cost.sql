-- The heartbeat's cost, measured (docs/benchmarks.md): SQL-language functions with a SET clause are
-- never inlined and their bodies are planned again on every call, which made `credit_watch` most of a
-- heartbeat's time. PL/pgSQL keeps its statements' plans for the session, so the same logic costs a
-- fraction. Behaviour is unchanged.

create or replace function private.multirange_seconds(ranges nummultirange) returns numeric
language plpgsql immutable parallel safe
set search_path = ''
as $$
begin
  return (select coalesce(sum(pg_catalog.upper(r) - pg_catalog.lower(r)), 0) from pg_catalog.unnest(ranges) as r);
end
$$;

create or replace function private.credit_watch(stored nummultirange, incoming nummultirange, allowance numeric)
returns table (ranges nummultirange, credited numeric, rejected numeric)
language plpgsql immutable parallel safe
set search_path = ''
as $$
begin
  return query
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
  )
  select stored operator(pg_catalog.+) coalesce((select range_agg(g.r) from granted g), '{}'::pg_catalog.nummultirange),
         coalesce((select sum(pg_catalog.upper(g.r) - pg_catalog.lower(g.r)) from granted g), 0),
         coalesce((select sum(f.length) from fresh f), 0)
           - coalesce((select sum(pg_catalog.upper(g.r) - pg_catalog.lower(g.r)) from granted g), 0);
end
$$;

-- Every heartbeat sets last_heartbeat_at; an index on it turned each heartbeat into a non-HOT update
-- that writes every index of the row. The analytics read that column in full scans, not by index.
drop index if exists public.video_tracking_last_heartbeat_at;

notify pgrst, 'reload schema';
