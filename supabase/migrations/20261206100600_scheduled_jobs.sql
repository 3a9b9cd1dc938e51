-- Every periodic job scheduled by the migrations (where pg_cron runs: on Supabase). Jobs that are SQL stay SQL:
-- the housekeeping (expired idempotency keys and the sealed passwords they kept, e-mails past their retention,
-- the logins of creations a crash interrupted). The one that must reach a function — sending queued e-mails,
-- which needs the provider's key that only the functions hold — goes through pg_net with the project's URL and
-- a secret key read from Vault at run time, as Supabase documents for scheduling Edge Functions:
--   select vault.create_secret('https://<project-ref>.supabase.co', 'tripwire_project_url');
--   select vault.create_secret('<a secret key (sb_secret_…)>', 'tripwire_secret_key');
-- Where pg_cron does not run, `npm start` does the same work every minute itself.

-- The housekeeping, in one statement each; returns what it did. Also what POST …/retry-emails runs.
create or replace function private.housekeeping() returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  expired_keys bigint;
  old_emails bigint;
  abandoned_logins bigint;
begin
  -- Stored answers to retried requests live 24 hours, with the sealed passwords they kept.
  delete from private.idempotency_keys where expires_at <= pg_catalog.now();
  get diagnostics expired_keys = row_count;
  -- A sent or failed e-mail's row (recipient, template, outcome) is kept 90 days for support questions.
  delete from private.email_outbox
  where status in ('sent', 'failed') and updated_at < pg_catalog.now() - interval '90 days';
  get diagnostics old_emails = row_count;
  -- A login noted five minutes ago whose student never came (a crash between the two) is deleted, then its
  -- note; a note whose student came is only forgotten.
  with notes as (
    delete from private.pending_logins p
    where p.created_at < pg_catalog.now() - interval '5 minutes'
    returning p.user_id
  ),
  abandoned as (
    delete from auth.users a
    using notes n
    where a.id = n.user_id and not exists (select 1 from public.users u where u.id = n.user_id)
    returning a.id
  )
  select count(*) into abandoned_logins from abandoned;
  return pg_catalog.jsonb_build_object('expired_idempotency_keys', expired_keys, 'old_emails_purged', old_emails,
                                       'abandoned_logins_deleted', abandoned_logins);
end;
$$;
revoke execute on function private.housekeeping() from public;

-- POSTs to one of the functions' scheduler routes through pg_net, with the project's URL and secret key from
-- Vault. Returns pg_net's request id, or null (with a warning in the job's log) while Vault lacks them.
create or replace function private.call_scheduler_route(route text) returns bigint
language plpgsql
set search_path = ''
as $$
declare
  project_url text := (select s.decrypted_secret from vault.decrypted_secrets s where s.name = 'tripwire_project_url');
  secret_key text := (select s.decrypted_secret from vault.decrypted_secrets s where s.name = 'tripwire_secret_key');
begin
  if project_url is null or secret_key is null then
    raise warning 'Vault has no tripwire_project_url or tripwire_secret_key: % was not called', route;
    return null;
  end if;
  return net.http_post(
    url := pg_catalog.rtrim(project_url, '/') || '/functions/v1/' || route,
    body := '{}'::jsonb,
    headers := pg_catalog.jsonb_build_object('Authorization', 'Bearer ' || secret_key,
                                             'Content-Type', 'application/json'),
    timeout_milliseconds := 30000
  );
end;
$$;
revoke execute on function private.call_scheduler_route(text) from public;

do $migration$
begin
  if exists (select 1 from pg_catalog.pg_extension where extname = 'pg_cron')
     or (
       exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_cron')
       and pg_catalog.current_setting('shared_preload_libraries') ~ '(^|[\s,])"?pg_cron"?($|[\s,])'
       and pg_catalog.current_database() = coalesce(pg_catalog.current_setting('cron.database_name', true), 'postgres')
     )
  then
    create extension if not exists pg_cron with schema pg_catalog;
    perform cron.schedule('tripwire-housekeeping', '* * * * *', 'select private.housekeeping()');
    if exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_net') then
      create extension if not exists pg_net with schema extensions;
    end if;
    if pg_catalog.to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is not null then
      perform cron.schedule('tripwire-retry-emails', '* * * * *',
                            $job$select private.call_scheduler_route('create-tripwire-user/retry-emails')$job$);
    else
      raise notice 'pg_net is not installed: schedule POST /functions/v1/create-tripwire-user/retry-emails elsewhere';
    end if;
  else
    raise notice 'pg_cron cannot run in this database: npm start does the housekeeping and e-mail retries itself';
  end if;
end
$migration$;

notify pgrst, 'reload schema';
