/**
 * A database shaped as Supabase's image leaves it for the project, and the role Supabase applies migrations as.
 *
 * What Supabase's `postgres` role is (supabase/postgres, migrations/db/migrations/):
 * - `10000000000000_demote-postgres.sql`: `ALTER ROLE postgres NOSUPERUSER CREATEDB CREATEROLE LOGIN REPLICATION
 *   BYPASSRLS`, with `GRANT ALL` on the database, on the `auth` and `extensions` schemas and on every table,
 *   sequence and routine in them;
 * - `20250421084701_revoke_admin_roles_from_postgres.sql`: no longer a member of `supabase_auth_admin`, and
 *   `REVOKE CREATE ON SCHEMA auth` (it may not add objects to `auth`; triggers on its tables still need only
 *   the table privilege it keeps);
 * - `20250605172253_grant_with_admin_to_postgres_16_and_above.sql`: `anon`, `authenticated`, `service_role`
 *   granted to it WITH ADMIN OPTION;
 * - `20231020085357_revoke_writes_on_cron_job_from_postgres.sql`: only SELECT on `cron.job` (jobs are made
 *   through `cron.schedule`).
 * The image pre-installs `pgcrypto` in `extensions` and PostgREST's schema-reload event triggers
 * (`extensions.pgrst_ddl_watch`, `pgrst_drop_watch`): `CREATE EVENT TRIGGER` is among the operations Supabase
 * documents as unsupported for `postgres`. pg_cron is enabled from the dashboard (or by `create extension`,
 * which Supabase's extension allow-list runs for `postgres`); here the superuser installs it beforehand.
 */
import postgres from "postgres";
import { bootstrapPlainPostgres } from "../../scripts/lib/database.ts";

/** The stand-in for Supabase's `postgres` role (here `postgres` is the server's superuser). */
export const supabasePostgresRole = "tripwire_supabase_postgres";
const password = "supabase-postgres-role";

/**
 * As the superuser, makes the empty database at `url` look as a new Supabase project's does, with pg_cron
 * installed when `withCron`; returns the URL of that database as the non-superuser migration role.
 */
export async function shapeAsSupabase(url: string, options: { withCron: boolean }): Promise<string> {
  await bootstrapPlainPostgres(url);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const role = supabasePostgresRole;
  try {
    const [{ database }] = await sql<{ database: string }[]>`select current_database() as database`;
    await sql.unsafe(`
      do $$
      begin
        if not exists (select 1 from pg_roles where rolname = '${role}') then
          create role ${role};
        end if;
      end
      $$;
      alter role ${role} nosuperuser createdb createrole login replication bypassrls password '${password}';
      grant all on database ${database} to ${role};
      grant all on schema public to ${role};
      grant all on schema auth, extensions to ${role};
      grant all on all tables in schema auth, extensions to ${role};
      grant all on all sequences in schema auth, extensions to ${role};
      grant all on all routines in schema auth, extensions to ${role};
      revoke create on schema auth from ${role};
      grant anon, authenticated, service_role to ${role} with admin option;

      create extension if not exists pgcrypto with schema extensions;
      create or replace function extensions.pgrst_ddl_watch() returns event_trigger
        language plpgsql as $fn$ begin notify pgrst, 'reload schema'; end $fn$;
      create or replace function extensions.pgrst_drop_watch() returns event_trigger
        language plpgsql as $fn$ begin notify pgrst, 'reload schema'; end $fn$;
      drop event trigger if exists pgrst_ddl_watch;
      drop event trigger if exists pgrst_drop_watch;
      create event trigger pgrst_ddl_watch on ddl_command_end execute function extensions.pgrst_ddl_watch();
      create event trigger pgrst_drop_watch on sql_drop execute function extensions.pgrst_drop_watch();
    `);
    if (options.withCron) {
      await sql.unsafe(`
        create extension if not exists pg_cron with schema pg_catalog;
        grant usage on schema cron to ${role};
        revoke all on table cron.job from ${role};
        grant select on table cron.job, cron.job_run_details to ${role};
      `);
    }
  } finally {
    await sql.end();
  }
  const asRole = new URL(url);
  asRole.username = role;
  asRole.password = password;
  return asRole.toString();
}
