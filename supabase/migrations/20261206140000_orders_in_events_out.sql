-- Orders in, events out: a paid order becomes a student by itself (the payments function), and what students do
-- reaches the academy's CRM as signed webhooks (the webhooks function), written in the transaction that causes
-- it (private.webhook_events, the events' outbox) and delivered later by the scheduler.

-- ---- The academy's settings for both ----------------------------------------------------------------------

alter table analytics.settings
  -- No foreign key: a one-row table needs no index, and an id that is no longer an active manager falls back.
  add column default_order_manager uuid,
  add column stalled_after_days integer default 7 not null,
  add column webhook_failures_before_pause integer default 20 not null;
alter table analytics.settings add constraint settings_stalled_after_days_range
  check (stalled_after_days between 1 and 365);
alter table analytics.settings add constraint settings_webhook_failures_before_pause_positive
  check (webhook_failures_before_pause > 0);
comment on column analytics.settings.default_order_manager is 'The manager credited with a paid order whose metadata names none; null, or not an active manager or admin: the first admin.';
comment on column analytics.settings.stalled_after_days is 'A student who has not watched for this many days is reported once as student.stalled.';
comment on column analytics.settings.webhook_failures_before_pause is 'Failed delivery attempts in a row after which a webhook endpoint is paused until an admin resumes it.';

-- ---- Orders in ---------------------------------------------------------------------------------------------

create table private.payment_orders (
  provider text not null,
  -- The provider's order (CloudPayments' InvoiceId, the checkout's order id): the idempotency key of the sale.
  order_id text not null,
  student_id uuid not null references public.tripwire_users (user_id),
  amount numeric(12,2) not null,
  currency text,
  -- The provider's own id of the payment (CloudPayments' TransactionId), for reconciliation.
  transaction_id text,
  created_at timestamp with time zone default now() not null,
  constraint payment_orders_pkey primary key (provider, order_id),
  constraint payment_orders_provider_known check (provider = any (array['standard', 'cloudpayments'])),
  constraint payment_orders_order_id_length check (char_length(order_id) between 1 and 200),
  constraint payment_orders_amount_non_negative check (amount >= 0)
);
create index payment_orders_student on private.payment_orders (student_id);
comment on table private.payment_orders is 'Each paid order a provider told us of, and the student it became: at most one per order';
revoke all on table private.payment_orders from public, anon, authenticated, service_role;
grant insert, select on table private.payment_orders to service_role;

create table private.payment_refunds (
  provider text not null,
  -- The provider's id of the refund (CloudPayments' TransactionId of the refund): a refund is taken once.
  refund_id text not null,
  order_id text not null,
  student_refund_id bigint not null references public.student_refunds (id),
  created_at timestamp with time zone default now() not null,
  constraint payment_refunds_pkey primary key (provider, refund_id),
  constraint payment_refunds_order foreign key (provider, order_id) references private.payment_orders (provider, order_id),
  constraint payment_refunds_refund_id_length check (char_length(refund_id) between 1 and 200)
);
create index payment_refunds_order on private.payment_refunds (provider, order_id);
create index payment_refunds_student_refund on private.payment_refunds (student_refund_id);
comment on table private.payment_refunds is 'Each refund a provider told us of, and the student_refunds row it became';
revoke all on table private.payment_refunds from public, anon, authenticated, service_role;
grant insert, select on table private.payment_refunds to service_role;

-- ---- Events out --------------------------------------------------------------------------------------------

create table private.webhook_endpoints (
  id uuid default gen_random_uuid() not null,
  url text not null,
  description text,
  -- The Standard Webhooks secret (whsec_…), sealed with the functions' sealing key: the database never sees it.
  sealed_secret text not null,
  event_types text[] not null,
  created_by uuid references public.users (id) on delete set null,
  -- Failed attempts in a row; at analytics.settings.webhook_failures_before_pause the endpoint is paused.
  consecutive_failures integer default 0 not null,
  paused_at timestamp with time zone,
  -- Deleted by an admin: nothing more is queued or sent to it; its deliveries stay readable.
  disabled_at timestamp with time zone,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  constraint webhook_endpoints_pkey primary key (id),
  constraint webhook_endpoints_url_http check (url ~ '^https?://[^\s]+$' and char_length(url) <= 2000),
  constraint webhook_endpoints_description_length check (char_length(description) <= 500),
  constraint webhook_endpoints_secret_sealed check (sealed_secret ~ '^v1\.[A-Za-z0-9+/=]{16}\.[A-Za-z0-9+/=]{24,}$'),
  constraint webhook_endpoints_event_types_known check (
    cardinality(event_types) > 0 and event_types <@ array['student.created', 'lesson.started', 'lesson.completed',
      'course.completed', 'student.stalled', 'student.refunded', 'student.suspended']
  ),
  constraint webhook_endpoints_failures_non_negative check (consecutive_failures >= 0)
);
create index webhook_endpoints_created_by on private.webhook_endpoints (created_by);
comment on table private.webhook_endpoints is 'Where the academy wants its events: URL, secret and the event types it takes';
revoke all on table private.webhook_endpoints from public, anon, authenticated, service_role;
grant delete, insert, select, update on table private.webhook_endpoints to service_role;
create trigger webhook_endpoints_updated_at before update on private.webhook_endpoints
  for each row execute function private.set_updated_at();

create table private.webhook_events (
  id bigint generated always as identity,
  event_type text not null,
  -- Whose event it is: erasing the person erases the events about them.
  student_id uuid,
  data jsonb not null,
  created_at timestamp with time zone default now() not null,
  -- Deliveries were queued for the endpoints that take this type (by the scheduler, never by the request).
  fanned_out boolean default false not null,
  constraint webhook_events_pkey primary key (id),
  constraint webhook_events_type_known check (event_type = any (array['student.created', 'lesson.started',
    'lesson.completed', 'course.completed', 'student.stalled', 'student.refunded', 'student.suspended'])),
  constraint webhook_events_data_object check (jsonb_typeof(data) = 'object')
);
create index webhook_events_to_fan_out on private.webhook_events (id) where not fanned_out;
create index webhook_events_student on private.webhook_events (student_id);
create index webhook_events_created_at on private.webhook_events (created_at);
comment on table private.webhook_events is 'The events'' outbox: written in the transaction that causes an event, delivered by the scheduler';
revoke all on table private.webhook_events from public, anon, authenticated, service_role;
grant delete, insert, select, update on table private.webhook_events to service_role;

create table private.webhook_deliveries (
  id bigint generated always as identity,
  endpoint_id uuid not null references private.webhook_endpoints (id) on delete cascade,
  event_id bigint not null references private.webhook_events (id) on delete cascade,
  status text default 'pending' not null,
  attempts integer default 0 not null,
  next_attempt_at timestamp with time zone default now() not null,
  last_attempt_at timestamp with time zone,
  delivered_at timestamp with time zone,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  constraint webhook_deliveries_pkey primary key (id),
  constraint webhook_deliveries_once unique (endpoint_id, event_id),
  constraint webhook_deliveries_status_valid check (status = any (array['pending', 'delivered', 'failed'])),
  constraint webhook_deliveries_attempts_non_negative check (attempts >= 0),
  constraint webhook_deliveries_delivered_at_matches_status check ((status = 'delivered') = (delivered_at is not null))
);
create index webhook_deliveries_due on private.webhook_deliveries (next_attempt_at) where status = 'pending';
create index webhook_deliveries_event on private.webhook_deliveries (event_id);
create index webhook_deliveries_endpoint_newest on private.webhook_deliveries (endpoint_id, id desc);
comment on table private.webhook_deliveries is 'One event to one endpoint: pending until a 2xx, retried with backoff, failed after the last attempt';
revoke all on table private.webhook_deliveries from public, anon, authenticated, service_role;
grant delete, insert, select, update on table private.webhook_deliveries to service_role;
create trigger webhook_deliveries_updated_at before update on private.webhook_deliveries
  for each row execute function private.set_updated_at();

create table private.webhook_attempts (
  id bigint generated always as identity,
  delivery_id bigint not null references private.webhook_deliveries (id) on delete cascade,
  attempted_at timestamp with time zone default now() not null,
  -- The endpoint's HTTP status; null when no answer came (refused connection, timeout).
  response_status integer,
  -- The first 1,000 characters of the answer, or why there was none.
  response_body text,
  error text,
  duration_ms integer not null,
  constraint webhook_attempts_pkey primary key (id),
  constraint webhook_attempts_response_body_length check (char_length(response_body) <= 1000),
  constraint webhook_attempts_error_length check (char_length(error) <= 500),
  constraint webhook_attempts_duration_non_negative check (duration_ms >= 0)
);
create index webhook_attempts_delivery on private.webhook_attempts (delivery_id, id desc);
comment on table private.webhook_attempts is 'Every delivery attempt and what the endpoint answered: what admins read';
revoke all on table private.webhook_attempts from public, anon, authenticated, service_role;
grant insert, select on table private.webhook_attempts to service_role;

create table private.stall_notices (
  student_id uuid not null references public.tripwire_users (user_id),
  -- The last activity (or the creation) the student.stalled event was about: a new stall after new watching is
  -- reported again, the same one never twice.
  activity_at timestamp with time zone not null,
  notified_at timestamp with time zone default now() not null,
  constraint stall_notices_pkey primary key (student_id)
);
comment on table private.stall_notices is 'Which stall of each student was reported as student.stalled';
revoke all on table private.stall_notices from public, anon, authenticated, service_role;

-- What every event says of its student, defined once. Read in the causing transaction, after its writes.
create or replace function private.event_student(student uuid)
 returns jsonb
 language sql
 stable
 set search_path = ''
as $function$
  select pg_catalog.jsonb_build_object(
    'id', t.user_id, 'email', t.email, 'full_name', t.full_name, 'phone', t.phone, 'status', t.status,
    'manager_id', t.granted_by, 'payment_amount', t.payment_amount, 'refunded_amount', t.refunded_amount,
    'created_at', t.created_at, 'last_activity_at', t.last_activity_at,
    'order', (select pg_catalog.jsonb_build_object('provider', o.provider, 'order_id', o.order_id)
              from private.payment_orders o where o.student_id = t.user_id
              order by o.created_at limit 1)
  )
  from public.tripwire_users t
  where t.user_id = student
$function$;
revoke all on function private.event_student(student uuid) from public, anon, authenticated, service_role;

-- A lesson as events name it, in the academy's language.
create or replace function private.event_lesson(lesson integer)
 returns jsonb
 language sql
 stable
 set search_path = ''
as $function$
  select pg_catalog.jsonb_build_object(
    'id', l.id, 'title', private.localize(l.title, private.content_language(null)), 'module_id', l.module_id
  )
  from public.tripwire_lessons l
  where l.id = lesson
$function$;
revoke all on function private.event_lesson(lesson integer) from public, anon, authenticated, service_role;

-- The scheduler's preparation before it sends: students who stalled become events, and every event not yet
-- fanned out gets a delivery for each endpoint that takes its type (endpoints made after the event do not).
create or replace function private.prepare_webhooks()
 returns jsonb
 language plpgsql
 set search_path = ''
as $function$
declare
  stalled bigint;
  queued bigint;
  purged bigint;
begin
  -- A stall is reported once, in a bounded window so the job reads a day of the index, not every student: an
  -- active student (never certified) whose last activity, or creation when she never watched, crossed the
  -- setting's days within the last week.
  with settings as (
    select pg_catalog.now() - pg_catalog.make_interval(days => s.stalled_after_days) as cutoff from analytics.settings s
  ),
  candidates as (
    select c.user_id, c.inactive_since
    from (
      select t.user_id, t.last_activity_at as inactive_since
      from public.tripwire_users t, settings s
      where t.status = 'active'
        and coalesce(t.last_activity_at, '-infinity'::timestamptz) between s.cutoff - interval '7 days' and s.cutoff
      union all
      select t.user_id, t.created_at
      from public.tripwire_users t, settings s
      where t.status = 'active' and t.last_activity_at is null
        and t.created_at between s.cutoff - interval '7 days' and s.cutoff
    ) c
    where not exists (
      select 1 from private.stall_notices n where n.student_id = c.user_id and n.activity_at = c.inactive_since
    )
    limit 1000
  ),
  noticed as (
    insert into private.stall_notices as n (student_id, activity_at)
    select c.user_id, c.inactive_since from candidates c
    on conflict (student_id) do update set activity_at = excluded.activity_at, notified_at = pg_catalog.now()
    returning n.student_id, n.activity_at
  ),
  events as (
    insert into private.webhook_events (event_type, student_id, data)
    select 'student.stalled', n.student_id,
           pg_catalog.jsonb_build_object('student', private.event_student(n.student_id),
             'inactive_since', n.activity_at,
             'stalled_after_days', (select s.stalled_after_days from analytics.settings s))
    from noticed n
    returning 1
  )
  select count(*) into stalled from events;

  with batch as (
    select e.id, e.event_type, e.created_at
    from private.webhook_events e
    where not e.fanned_out
    order by e.id
    limit 5000
    for update skip locked
  ),
  queued_deliveries as (
    insert into private.webhook_deliveries (endpoint_id, event_id)
    select p.id, b.id
    from batch b
    join private.webhook_endpoints p
      on b.event_type = any (p.event_types) and p.disabled_at is null and p.created_at <= b.created_at
    on conflict (endpoint_id, event_id) do nothing
    returning 1
  ),
  marked as (
    update private.webhook_events e set fanned_out = true from batch b where e.id = b.id
  )
  select count(*) into queued from queued_deliveries;
  -- Events are kept 30 days once nothing is left to send (their deliveries and attempts go with them).
  delete from private.webhook_events e
  where e.created_at < pg_catalog.now() - interval '30 days' and e.fanned_out
    and not exists (select 1 from private.webhook_deliveries d where d.event_id = e.id and d.status = 'pending');
  get diagnostics purged = row_count;
  return pg_catalog.jsonb_build_object('stalled_students', stalled, 'deliveries_queued', queued,
                                       'old_events_purged', purged);
end;
$function$;
revoke all on function private.prepare_webhooks() from public, anon, authenticated, service_role;

-- lesson.started: the heartbeat's statement writes it (everything else as it was).
CREATE OR REPLACE FUNCTION private.record_heartbeats(batch jsonb, heartbeats_per_second real, heartbeat_burst real, max_playback_rate numeric, max_idle_seconds numeric, tolerance_seconds numeric, max_stored_ranges integer)
 RETURNS TABLE(i integer, caller_role text, caller_status text, lesson_found boolean, unlocked boolean, lesson_id integer, tokens real, watched_seconds numeric, duration_seconds integer, watch_percentage numeric, min_watch_percentage numeric, qualified boolean, status text, rejected_seconds numeric, heartbeat_count integer, last_position_seconds numeric, segments jsonb)
 LANGUAGE plpgsql
 SET search_path TO ''
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
#variable_conflict use_column
begin
  -- Asynchronous commit for this transaction only (Postgres docs, "Asynchronous Commit"): a crash of the
  -- server may lose the last ~0.6 s of heartbeats, never corrupt or half-apply one. Waiting for the WAL flush
  -- was most of a heartbeat's cost; completions, which matter, stay synchronous.
  perform pg_catalog.set_config('synchronous_commit', 'off', true);
  return query
  with input as (
    select x.i, x.user_id, x.lesson_id, x.segments, x.position, x.playback_rate
    from pg_catalog.jsonb_to_recordset(batch)
      as x (i int, user_id uuid, lesson_id int, segments jsonb, position numeric, playback_rate numeric)
  ),
  caller as (
    select i.i, u.role, t.status, t.last_activity_at
    from input i
    join public.users u on u.id = i.user_id
    left join public.tripwire_users t on t.user_id = u.id
  ),
  bucket as (
    -- The heartbeats the row could take now: its bucket refilled for the time since its last one.
    select i.i, vt.status as status_before, vt.watched_seconds as watched_before,
           least(heartbeat_burst, vt.heartbeat_tokens + heartbeats_per_second *
                 greatest(0, extract(epoch from now() - coalesce(vt.last_heartbeat_at, now() - interval '1 hour')))::real)
             as tokens
    from input i
    join public.video_tracking vt on vt.user_id = i.user_id and vt.lesson_id = i.lesson_id
  ),
  lesson as (
    select i.i, l.id, l.video_duration_seconds::numeric as duration, l.min_watch_percentage,
           c.role = 'student' and not private.access_revoked(c.status) and exists (
             select 1 from public.tripwire_module_unlocks u
             where u.user_id = i.user_id and u.module_id = l.module_id
           ) as unlocked
    from input i
    join public.tripwire_lessons l on l.id = i.lesson_id
    left join caller c on c.i = i.i
  ),
  incoming as (
    select l.i,
           coalesce(range_agg(numrange(s.start_at, least(s.end_at, l.duration))) filter (where s.start_at < l.duration),
                    '{}'::nummultirange) as ranges
    from lesson l
    join input i on i.i = l.i
    left join lateral (
      select (e ->> 0)::numeric as start_at, (e ->> 1)::numeric as end_at
      from jsonb_array_elements(i.segments) as e
    ) as s on true
    group by l.i
  ),
  updated as (
    update public.video_tracking vt
    set (watched_ranges, watched_seconds, watch_percentage, rejected_seconds, status, qualified_at, credit_clock_at) = (
          select w.ranges, m.seconds, m.percentage, vt.rejected_seconds + w.rejected,
                 case when vt.status = 'not_started' and m.seconds > 0 then 'in_progress' else vt.status end,
                 case when vt.qualified_at is null and m.percentage >= l.min_watch_percentage then now()
                      else vt.qualified_at end,
                 b.clock + make_interval(secs => w.credited / max_playback_rate)
          from (
            select greatest(coalesce(vt.credit_clock_at, now()), now() - make_interval(secs => max_idle_seconds))
              as clock
          ) b
          cross join lateral private.credit_watch(
            vt.watched_ranges, n.ranges,
            max_playback_rate * extract(epoch from now() - b.clock) + tolerance_seconds,
            max_stored_ranges
          ) w
          cross join lateral (
            select round(least(private.multirange_seconds(w.ranges), l.duration), 2) as seconds,
                   round(least(100, private.multirange_seconds(w.ranges) * 100 / l.duration), 2) as percentage
          ) m
        ),
        heartbeat_count = vt.heartbeat_count + 1,
        heartbeat_tokens = least(heartbeat_burst, vt.heartbeat_tokens + heartbeats_per_second *
          greatest(0, extract(epoch from now() - coalesce(vt.last_heartbeat_at, now() - interval '1 hour')))::real) - 1,
        last_heartbeat_at = now(),
        -- least() skips a null: an absent position must not reach it, or it would become the duration.
        last_position_seconds = case when i.position is null then vt.last_position_seconds
                                     else least(i.position, l.duration) end,
        last_playback_rate = coalesce(i.playback_rate, vt.last_playback_rate)
    from input i
    join lesson l on l.i = i.i
    join incoming n on n.i = i.i
    -- The bucket is read from the row being updated (not the snapshot), so concurrent heartbeats each spend a
    -- token of their own.
    where vt.user_id = i.user_id and vt.lesson_id = l.id and l.unlocked
      and least(heartbeat_burst, vt.heartbeat_tokens + heartbeats_per_second *
            greatest(0, extract(epoch from now() - coalesce(vt.last_heartbeat_at, now() - interval '1 hour')))::real) >= 1
    returning i.i, vt.*
  ),
  -- Watching is progress. The first heartbeat that credits a lesson starts its student_progress row at once;
  -- and at most once a minute per student (a heartbeat that credits seconds when the sale's last_activity_at
  -- is a minute old) the watching reaches the rows others read: the lesson's progress percentage, the sale's last activity, the statistics'
  -- watched seconds. Steady state adds no read and no write. Rows another transaction holds (a completion, a
  -- refund) are skipped, never waited for, so the heartbeat cannot deadlock with them: the next minute's
  -- heartbeat writes what was skipped.
  watched as (
    select u.i, u.user_id, u.lesson_id, u.watched_seconds, u.watch_percentage,
           b.status_before = 'not_started' and u.status = 'in_progress' as started,
           u.watched_seconds > b.watched_before
             and (c.last_activity_at is null or c.last_activity_at < now() - interval '1 minute') as stale
    from updated u
    join bucket b on b.i = u.i
    join caller c on c.i = u.i
  ),
  progress_rows as (
    select sp.user_id, sp.lesson_id, w.watch_percentage
    from public.student_progress sp
    join watched w on w.user_id = sp.user_id and w.lesson_id = sp.lesson_id
    where (w.started or w.stale) and w.watched_seconds > 0 and sp.status <> 'completed'
    for update of sp skip locked
  ),
  progressed as (
    update public.student_progress sp
    set status = 'in_progress', started_at = coalesce(sp.started_at, now()), watch_percentage = r.watch_percentage
    from progress_rows r
    where sp.user_id = r.user_id and sp.lesson_id = r.lesson_id
  ),
  sale_rows as (
    select t.user_id
    from public.tripwire_users t
    where t.user_id in (select w.user_id from watched w where w.stale)
    for update of t skip locked
  ),
  sale_active as (
    update public.tripwire_users t set last_activity_at = now()
    from sale_rows r
    where t.user_id = r.user_id
  ),
  statistics_rows as (
    select s.user_id
    from public.user_statistics s
    where s.user_id in (select w.user_id from watched w where w.stale)
    for update of s skip locked
  ),
  statistics_watched as (
    -- This statement's own tracking rows are read from what it wrote, the student's others as committed.
    update public.user_statistics s
    set total_watch_seconds = (
          select coalesce(sum(v.watched_seconds), 0) from public.video_tracking v
          where v.user_id = r.user_id and v.lesson_id not in (select w.lesson_id from watched w where w.user_id = r.user_id)
        ) + (select sum(w.watched_seconds) from watched w where w.user_id = r.user_id)
    from statistics_rows r
    where s.user_id = r.user_id
  ),
  -- The first credited heartbeat of a lesson is its lesson.started event, written with it (the events' outbox).
  started_events as (
    insert into private.webhook_events (event_type, student_id, data)
    select 'lesson.started', w.user_id,
           pg_catalog.jsonb_build_object('student', private.event_student(w.user_id),
                                         'lesson', private.event_lesson(w.lesson_id))
    from watched w
    where w.started
  )
  select i.i, c.role, c.status::text, l.id is not null, l.unlocked,
         u.lesson_id, b.tokens,
         u.watched_seconds, l.duration::int, u.watch_percentage, l.min_watch_percentage,
         u.qualified_at is not null, u.status, u.rejected_seconds, u.heartbeat_count,
         u.last_position_seconds,
         (select coalesce(jsonb_agg(jsonb_build_array(lower(r)::text, upper(r)::text) order by lower(r)), '[]')
          from unnest(u.watched_ranges) as r)
  from input i
  left join caller c on c.i = i.i
  left join lesson l on l.i = i.i
  left join bucket b on b.i = i.i
  left join updated u on u.i = i.i
  order by i.i;
end
$function$;

revoke all on function private.record_heartbeats(batch jsonb, heartbeats_per_second real, heartbeat_burst real, max_playback_rate numeric, max_idle_seconds numeric, tolerance_seconds numeric, max_stored_ranges integer) from public, anon, authenticated, service_role;

-- Erasing a person erases the events about them.
CREATE OR REPLACE FUNCTION private.erase_person(person uuid)
 RETURNS timestamp with time zone
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
declare
  tombstone_name constant text := 'Erased person';
  tombstone_email constant text := 'erased-' || person::text || '@erased.invalid';
  erased timestamptz;
begin
  update public.users
  set full_name = tombstone_name, email = tombstone_email, erased_at = coalesce(erased_at, pg_catalog.now())
  where id = person
  returning erased_at into erased;
  if erased is null then
    raise exception 'there is no person %', person using errcode = 'P0002';
  end if;
  update public.tripwire_users set full_name = tombstone_name, email = tombstone_email, phone = null
  where user_id = person;
  update public.certificates
  set full_name = tombstone_name, verification_code = pg_catalog.encode(extensions.gen_random_bytes(10), 'hex')
  where user_id = person;
  update public.sales_activity_log
  set details = details || pg_catalog.jsonb_build_object('student_name', tombstone_name)
    || case when details ? 'student_email' then pg_catalog.jsonb_build_object('student_email', tombstone_email)
            else '{}'::jsonb end
  where student_id = person;
  delete from private.email_outbox where user_id = person;
  delete from private.idempotency_keys where resource_id = person;
  -- The events about the person, with their deliveries and attempts (the CRM keeps what it received).
  delete from private.webhook_events where student_id = person;
  delete from private.stall_notices where student_id = person;
  return erased;
end;
$function$;

revoke all on function private.erase_person(person uuid) from public, anon, authenticated, service_role;

-- The scheduler delivers the events every minute, as it retries e-mails: where pg_cron and pg_net run (Supabase),
-- a job calls POST /functions/v1/webhooks/deliver with the Vault's project URL and secret key; elsewhere
-- `npm start` calls it itself.
do $migration$
begin
  if exists (select 1 from pg_catalog.pg_extension where extname = 'pg_cron')
     and pg_catalog.to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is not null
  then
    perform cron.schedule('tripwire-deliver-webhooks', '* * * * *',
                          $job$select private.call_scheduler_route('webhooks/deliver')$job$);
  else
    raise notice 'pg_cron or pg_net is not installed: schedule POST /functions/v1/webhooks/deliver elsewhere';
  end if;
end
$migration$;

notify pgrst, 'reload schema';
