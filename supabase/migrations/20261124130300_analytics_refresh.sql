-- The analytics refresh as straight-line steps, each recorded in analytics.refresh_log by one helper.
-- Supersedes the definition in 20261123100000_sales_analytics.sql (a loop over step names that branched on
-- the name), which has shipped; what it does is unchanged.

-- Records one step of a refresh (when, how long, how many rows) and returns it for the report.
create or replace function analytics.record_refresh_step(step text, started timestamptz, affected bigint)
returns jsonb
language sql
volatile
set search_path = ''
as $$
  insert into analytics.refresh_log as l (view_name, refreshed_at, duration_ms, row_count)
  values (step, pg_catalog.clock_timestamp(),
          extract(epoch from pg_catalog.clock_timestamp() - started) * 1000, affected)
  on conflict on constraint refresh_log_pkey do update
    set refreshed_at = excluded.refreshed_at, duration_ms = excluded.duration_ms, row_count = excluded.row_count
  returning jsonb_build_object('view', l.view_name, 'duration_ms', l.duration_ms, 'rows', l.row_count)
$$;
revoke execute on function analytics.record_refresh_step(text, timestamptz, bigint) from public, anon, authenticated;
grant execute on function analytics.record_refresh_step(text, timestamptz, bigint) to service_role;

-- Extends the history by the academy days that ended (at least 15 minutes ago, so a transaction that
-- began before midnight has committed), or rebuilds it whole (`rebuild`: after the time zone changed or
-- past rows were corrected), then refreshes both views concurrently (reads never wait), in one
-- transaction, so a reader sees them from the same moment. A second run while one is going returns at
-- once with refreshed = false: the transaction-scoped advisory lock is held until the first commits.
create or replace function analytics.refresh_sales_stats(rebuild boolean default false)
returns jsonb
language plpgsql
security definer
set search_path = ''
-- The planner cannot see through daily_net_facts() and overestimates its rows a thousandfold; with JIT on,
-- that bought ~0.6 s of LLVM compilation on every refresh of an empty database.
set jit = off
as $$
declare
  settings analytics.settings;
  closable date;
  started timestamptz;
  affected bigint := 0;
  report jsonb := '[]';
begin
  if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('tripwire.refresh_sales_stats')) then
    return jsonb_build_object('refreshed', false, 'reason', 'another refresh is running');
  end if;
  select * into settings from analytics.settings for update;
  closable := ((now() - interval '15 minutes') at time zone settings.time_zone)::date - 1;

  -- 1. The history of closed days: rebuilt whole on request, otherwise extended by the days that closed.
  started := pg_catalog.clock_timestamp();
  if rebuild or settings.history_closed_through is null then
    delete from analytics.manager_daily_history;
    settings.history_closed_through := null;
  end if;
  if settings.history_closed_through is null or settings.history_closed_through < closable then
    insert into analytics.manager_daily_history (manager_id, day, students_created, revenue, refunds,
                                                 lessons_completed, certificates_issued, students_started)
    select f.manager_id, f.day, f.students_created, f.revenue, f.refunds, f.lessons_completed,
           f.certificates_issued, f.students_started
    from analytics.daily_net_facts(settings.history_closed_through + 1, closable) f
    where f.manager_id is not null;
    get diagnostics affected = row_count;
    update analytics.settings set history_closed_through = closable;
  end if;
  report := report || analytics.record_refresh_step('manager_daily_history', started, affected);

  -- 2. The daily series of all managers together.
  started := pg_catalog.clock_timestamp();
  refresh materialized view concurrently analytics.daily_sales;
  report := report || analytics.record_refresh_step('daily_sales', started,
                                                     (select count(*) from analytics.daily_sales));

  -- 3. The leaderboard of every period.
  started := pg_catalog.clock_timestamp();
  refresh materialized view concurrently analytics.sales_leaderboard;
  report := report || analytics.record_refresh_step('sales_leaderboard', started,
                                                     (select count(*) from analytics.sales_leaderboard));

  return jsonb_build_object('refreshed', true, 'rebuilt', rebuild, 'views', report);
end
$$;
revoke execute on function analytics.refresh_sales_stats(boolean) from public, anon, authenticated;
grant execute on function analytics.refresh_sales_stats(boolean) to service_role;

notify pgrst, 'reload schema';
