-- Is it healthy? (issue 37) Two things the academy watches on its Status screen:
--
-- 1. Request figures: per function and route, per minute — requests, client (4xx) and server (5xx) errors and a
--    latency histogram. Each function process counts in memory and writes the minutes it has finished at most
--    once a minute, in one call of private.record_request_minutes; a week is kept.
-- 2. private.system_status(): what the database knows of its own health — the scheduled jobs and their last
--    runs (pg_cron's cron.job_run_details), the Vault secrets the jobs need, the e-mail outbox, the webhook
--    backlog and paused endpoints, paid orders waiting for review, the migration version. The functions add
--    what only they know (their configuration, their build) and answer GET /status.

create table private.request_minutes (
  minute_at timestamptz not null,
  function_name text not null,
  route text not null,
  requests integer not null,
  client_errors integer not null,
  server_errors integer not null,
  latency_buckets integer[] not null,
  constraint request_minutes_pkey primary key (minute_at, function_name, route),
  constraint request_minutes_counts_valid check (
    requests >= 0 and client_errors >= 0 and server_errors >= 0 and client_errors + server_errors <= requests
  )
);
comment on table private.request_minutes is
  'Per function, route and minute (minute_at, its start): requests, 4xx, 5xx, and how many took at most 5, 10, 25, 50, 100, 250, 500, '
  '1000, 2500, 5000, 10000 ms and longer (latency_buckets, 12 counts). Written by the functions at most once a '
  'minute per process; kept 7 days.';
revoke all on table private.request_minutes from public, anon, authenticated, service_role;

create function private.record_request_minutes(tallies jsonb)
returns void
language sql
set search_path = ''
as $function$
  -- Rows in key order, so two processes adding to the same minutes lock them in the same order; a key given
  -- twice is added up first (one statement may not update a row twice).
  insert into private.request_minutes as m
    (minute_at, function_name, route, requests, client_errors, server_errors, latency_buckets)
  select t.minute_at, t.function_name, t.route, sum(t.requests)::integer, sum(t.client_errors)::integer,
         sum(t.server_errors)::integer,
         array(select sum(b.n::integer)::integer
               from pg_catalog.jsonb_array_elements(pg_catalog.jsonb_agg(t.buckets)) as each_tally(buckets),
                    pg_catalog.jsonb_array_elements_text(each_tally.buckets) with ordinality as b(n, i)
               group by b.i order by b.i)
  from (
    select (e ->> 'minute')::timestamptz as minute_at, e ->> 'function' as function_name, e ->> 'route' as route,
           (e ->> 'requests')::integer as requests, (e ->> 'client_errors')::integer as client_errors,
           (e ->> 'server_errors')::integer as server_errors, e -> 'buckets' as buckets
    from pg_catalog.jsonb_array_elements(tallies) as e
  ) t
  group by t.minute_at, t.function_name, t.route
  order by t.minute_at, t.function_name, t.route
  on conflict (minute_at, function_name, route) do update set
    requests = m.requests + excluded.requests,
    client_errors = m.client_errors + excluded.client_errors,
    server_errors = m.server_errors + excluded.server_errors,
    latency_buckets = array(
      select m.latency_buckets[i] + excluded.latency_buckets[i]
      from pg_catalog.generate_subscripts(m.latency_buckets, 1) as i
      order by i
    );
  delete from private.request_minutes where minute_at < pg_catalog.now() - interval '7 days';
$function$;
comment on function private.record_request_minutes(jsonb) is
  'Adds a function process''s finished minutes ([{minute, function, route, requests, client_errors, '
  'server_errors, buckets}]) to private.request_minutes, and forgets minutes older than a week.';
revoke all on function private.record_request_minutes(jsonb) from public, anon, authenticated, service_role;

create function private.system_status()
returns jsonb
language plpgsql
stable
set search_path = ''
as $function$
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
    -- Each of our jobs with its last run; overdue when an every-minute job has not started for 3 minutes (a
    -- nightly one for 26 hours). The expected jobs that are missing are listed too, as missing.
    execute $sql$
      with expected(name) as (
        values ('tripwire-refresh-sales-stats'), ('tripwire-rebuild-sales-history'), ('tripwire-housekeeping'),
               ('tripwire-retry-emails'), ('tripwire-deliver-webhooks')
      )
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
               - case when j.schedule = '* * * * *' then interval '3 minutes' else interval '26 hours' end
            then 'overdue'
          else 'ok'
        end
      ) order by e.name), '[]')
      from expected e
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
$function$;
comment on function private.system_status() is
  'What the database knows of its health, for GET /status: the jobs and their last runs, the Vault secrets the '
  'jobs need, the e-mail outbox, the webhook backlog and paused endpoints, orders waiting for review, the '
  'migration version.';
revoke all on function private.system_status() from public, anon, authenticated, service_role;
