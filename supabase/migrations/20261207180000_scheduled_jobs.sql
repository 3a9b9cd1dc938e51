-- The schedule as data (issue: labelled rooms). The periodic jobs were named in three places — the migrations
-- that called cron.schedule, the Status report's list of expected jobs, and `npm start`'s own loop — and the
-- generated schema showed none of them. Now private.scheduled_jobs is the schedule: private.schedule_jobs()
-- gives it to pg_cron where pg_cron runs (Supabase), the Status report checks pg_cron against it, and
-- `npm start` runs the jobs that have a local route itself where pg_cron does not.

create table private.scheduled_jobs (
  name text primary key,
  schedule text not null,
  command text not null,
  calls_function boolean not null default false,
  local_route text,
  overdue_after interval not null,
  why text not null,
  constraint scheduled_jobs_name_ours check (name ~ '^tripwire-[a-z-]+$'),
  constraint scheduled_jobs_five_fields check (schedule ~ '^[^ ]+( [^ ]+){4}$'),
  constraint scheduled_jobs_route_of_a_function check (local_route ~ '^[a-z-]+/[a-z-]+$')
);
revoke all on table private.scheduled_jobs from public, anon, authenticated, service_role;

comment on table private.scheduled_jobs is
  'The periodic jobs, defined once: pg_cron runs `command` on `schedule` where it exists (private.schedule_jobs), '
  '`npm start` POSTs `local_route` every minute where it does not, and the Status report calls a job overdue '
  'when it has not started within `overdue_after`.';
comment on column private.scheduled_jobs.calls_function is
  'The command calls an Edge Function through pg_net (private.call_scheduler_route): scheduled only where pg_net is.';
comment on column private.scheduled_jobs.local_route is
  'The function route `npm start` calls in its place where pg_cron does not run (null: not run locally).';

insert into private.scheduled_jobs (name, schedule, command, calls_function, local_route, overdue_after, why) values
  ('tripwire-refresh-sales-stats', '* * * * *', 'select analytics.refresh_sales_stats()', false,
   'leaderboard/refresh', '3 minutes', 'The sales figures, refreshed every minute (the leaderboard, the chart).'),
  ('tripwire-rebuild-sales-history', '17 21 * * *', 'select analytics.refresh_sales_stats(rebuild => true)', false,
   null, '26 hours',
   'Nightly (03:17 in Almaty): the closed days recomputed from the base rows, so a correction to past data '
   'reaches the history by the next morning.'),
  ('tripwire-housekeeping', '* * * * *', 'select private.housekeeping()', false, null, '3 minutes',
   'Expired idempotency keys, e-mails past 90 days and the logins of interrupted creations (locally, the '
   'e-mail retry route runs it).'),
  ('tripwire-retry-emails', '* * * * *',
   $job$select private.call_scheduler_route('create-tripwire-user/retry-emails')$job$, true,
   'create-tripwire-user/retry-emails', '3 minutes',
   'Queued e-mails sent again: only the functions hold the e-mail provider''s key.'),
  ('tripwire-deliver-webhooks', '* * * * *', $job$select private.call_scheduler_route('webhooks/deliver')$job$,
   true, 'webhooks/deliver', '3 minutes', 'The events delivered to the academy''s endpoints.');

create function private.schedule_jobs()
  returns setof text
  language plpgsql
  set search_path = ''
as $$
declare
  job private.scheduled_jobs;
  has_net boolean := pg_catalog.to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is not null;
begin
  if not exists (select 1 from pg_catalog.pg_extension where extname = 'pg_cron') then
    return next 'pg_cron is not installed here: npm start runs the jobs that have a local route';
    return;
  end if;
  for job in select * from private.scheduled_jobs order by name loop
    if job.calls_function and not has_net then
      return next pg_catalog.format('%s: pg_net is not installed, so POST /functions/v1/%s elsewhere',
                                    job.name, job.local_route);
      continue;
    end if;
    -- A job of the same name is replaced: running this again leaves one of each.
    perform cron.schedule(job.name, job.schedule, job.command);
    return next pg_catalog.format('%s: %s', job.name, job.schedule);
  end loop;
end
$$;
revoke all on function private.schedule_jobs() from public, anon, authenticated, service_role;

comment on function private.schedule_jobs() is
  'Gives private.scheduled_jobs to pg_cron (each job replaced by name), skipping those that call a function '
  'where pg_net is not; says what it did. Run by the migrations, and again after the table changes.';

create or replace function private.system_status()
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
 SET search_path TO ''
AS $$
declare
  -- pg_cron and Vault exist on Supabase; locally neither does, and `npm start` runs the jobs itself.
  has_cron boolean := pg_catalog.to_regclass('cron.job') is not null;
  has_vault boolean := pg_catalog.to_regclass('vault.decrypted_secrets') is not null;
  has_history boolean := pg_catalog.to_regclass('supabase_migrations.schema_migrations') is not null;
  jobs jsonb := '[]';
  secrets jsonb := '{}';
  migration text;
begin
  if has_cron then
    -- Each job of private.scheduled_jobs with its last run; overdue when it has not started within its own
    -- overdue_after. The jobs pg_cron does not have are listed too, as missing.
    execute $sql$
      select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
        'name', e.name,
        'schedule', j.schedule,
        'active', j.active,
        'last_started_at', r.start_time,
        'last_status', r.status,
        'last_message', pg_catalog.left(r.return_message, 200),
        'state', case
          when j.jobid is null then 'missing'
          when not j.active then 'stopped'
          when r.status = 'failed' then 'failing'
          when coalesce(r.start_time, '-infinity') < pg_catalog.now()
               - e.overdue_after
            then 'overdue'
          else 'ok'
        end
      ) order by e.name), '[]')
      from private.scheduled_jobs e
      left join cron.job j on j.jobname = e.name
      left join lateral (
        select d.start_time, d.status, d.return_message
        from cron.job_run_details d
        where d.jobid = j.jobid and d.status in ('succeeded', 'failed')
        order by d.start_time desc
        limit 1
      ) r on true
    $sql$ into jobs;
  end if;
  if has_vault then
    execute $sql$
      select pg_catalog.jsonb_object_agg(n.name, exists (
        select 1 from vault.decrypted_secrets s where s.name = n.name and coalesce(s.decrypted_secret, '') <> ''))
      from (values ('tripwire_project_url'), ('tripwire_secret_key')) as n(name)
    $sql$ into secrets;
  end if;
  if has_history then
    execute 'select max(version) from supabase_migrations.schema_migrations' into migration;
  end if;
  return pg_catalog.jsonb_build_object(
    'scheduler', case when has_cron then 'pg_cron' else 'outside' end,
    'jobs', jobs,
    'vault', case when has_vault then secrets else null end,
    'migration', migration,
    'emails', (
      select pg_catalog.jsonb_build_object(
        'queued', pg_catalog.count(*) filter (where o.status = 'queued'),
        'oldest_queued_at', pg_catalog.min(o.created_at) filter (where o.status = 'queued'),
        'failed_last_24h', pg_catalog.count(*) filter (
          where o.status = 'failed' and o.updated_at > pg_catalog.now() - interval '24 hours')
      )
      from private.email_outbox o
      where o.status = 'queued' or (o.status = 'failed' and o.updated_at > pg_catalog.now() - interval '24 hours')
    ),
    'webhooks', pg_catalog.jsonb_build_object(
      'pending_deliveries', (select pg_catalog.count(*) from private.webhook_deliveries d where d.status = 'pending'),
      'events_to_fan_out', (select pg_catalog.count(*) from private.webhook_events e where not e.fanned_out),
      'paused_endpoints', (
        select pg_catalog.count(*) from private.webhook_endpoints w
        where w.paused_at is not null and w.disabled_at is null)
    ),
    'payment_reviews_waiting', (select pg_catalog.count(*) from private.payment_reviews p where p.resolved_at is null)
  );
end;
$$;

select private.schedule_jobs();

notify pgrst, 'reload schema';
