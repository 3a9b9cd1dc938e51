-- PostgREST caches the schema; after DDL it must reload or it serves a stale API.
-- PostgREST's finer recipe: notify only for DDL that changes the API, never for pg_temp objects.
-- Supabase's image already ships such a watch (extensions.pgrst_ddl_watch / pgrst_drop_watch);
-- ours is installed only where no event trigger of that kind exists, so there is never a second one.

create schema if not exists private;
revoke all on schema private from public;

do $migration$
begin
  if not exists (
    select 1
    from pg_catalog.pg_event_trigger et
    join pg_catalog.pg_proc p on p.oid = et.evtfoid
    where et.evtevent = 'ddl_command_end' and p.proname = 'pgrst_ddl_watch'
  ) then
    create or replace function private.pgrst_ddl_watch() returns event_trigger
    language plpgsql
    set search_path = ''
    as $fn$
    declare
      cmd record;
    begin
      for cmd in select * from pg_catalog.pg_event_trigger_ddl_commands()
      loop
        if cmd.command_tag in (
          'CREATE SCHEMA', 'ALTER SCHEMA',
          'CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE',
          'CREATE FOREIGN TABLE', 'ALTER FOREIGN TABLE',
          'CREATE VIEW', 'ALTER VIEW',
          'CREATE MATERIALIZED VIEW', 'ALTER MATERIALIZED VIEW',
          'CREATE FUNCTION', 'ALTER FUNCTION',
          'CREATE TRIGGER',
          'CREATE TYPE', 'ALTER TYPE',
          'CREATE RULE',
          'COMMENT'
        )
        and cmd.schema_name is distinct from 'pg_temp'
        then
          notify pgrst, 'reload schema';
        end if;
      end loop;
    end;
    $fn$;
    revoke execute on function private.pgrst_ddl_watch() from public;

    create event trigger tripwire_pgrst_ddl_watch
      on ddl_command_end
      execute function private.pgrst_ddl_watch();
  end if;

  if not exists (
    select 1
    from pg_catalog.pg_event_trigger et
    join pg_catalog.pg_proc p on p.oid = et.evtfoid
    where et.evtevent = 'sql_drop' and p.proname = 'pgrst_drop_watch'
  ) then
    create or replace function private.pgrst_drop_watch() returns event_trigger
    language plpgsql
    set search_path = ''
    as $fn$
    declare
      obj record;
    begin
      for obj in select * from pg_catalog.pg_event_trigger_dropped_objects()
      loop
        if obj.object_type in (
          'schema', 'table', 'foreign table', 'view', 'materialized view',
          'function', 'trigger', 'type', 'rule'
        )
        and obj.is_temporary is false
        then
          notify pgrst, 'reload schema';
        end if;
      end loop;
    end;
    $fn$;
    revoke execute on function private.pgrst_drop_watch() from public;

    create event trigger tripwire_pgrst_drop_watch
      on sql_drop
      execute function private.pgrst_drop_watch();
  end if;
end
$migration$;

notify pgrst, 'reload schema';
