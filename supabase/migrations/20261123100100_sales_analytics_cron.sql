-- Scheduling the analytics refresh (docs/architecture.md, Analytics). Where pg_cron can run in this database (on
-- Supabase it can), a job refreshes the views every minute; `cron.schedule` with a job name replaces
-- that job, so running this again leaves one. Elsewhere this does nothing, and `npm start` runs the same
-- refresh every minute itself. Five-field syntax: Debian's pg_cron 1.4 has no seconds schedules.

do $migration$
begin
  if exists (select 1 from pg_catalog.pg_extension where extname = 'pg_cron')
     or (
       exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_cron')
       -- pg_cron loads only through shared_preload_libraries, into the one database it is set for
       and pg_catalog.current_setting('shared_preload_libraries') ~ '(^|[\s,])"?pg_cron"?($|[\s,])'
       and pg_catalog.current_database() = coalesce(pg_catalog.current_setting('cron.database_name', true), 'postgres')
     )
  then
    create extension if not exists pg_cron with schema pg_catalog;
    perform cron.schedule('tripwire-refresh-sales-stats', '* * * * *', 'select analytics.refresh_sales_stats()');
    -- Nightly (03:17 in Almaty), the closed days are recomputed from the base rows, so a correction to
    -- past data (a deleted student, a fixed amount) reaches the history by the next morning.
    perform cron.schedule('tripwire-rebuild-sales-history', '17 21 * * *',
                          'select analytics.refresh_sales_stats(rebuild => true)');
  else
    raise notice 'pg_cron cannot run in this database: the sales analytics refresh is not scheduled here';
  end if;
end
$migration$;

notify pgrst, 'reload schema';
