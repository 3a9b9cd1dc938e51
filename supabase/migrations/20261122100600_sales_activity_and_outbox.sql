-- The manager's activity feed, the e-mail outbox and idempotency keys for retried requests.

create table if not exists public.sales_activity_log (
  id bigint generated always as identity primary key,
  manager_id uuid not null references public.users (id) on delete cascade,
  student_id uuid references public.tripwire_users (user_id) on delete set null,
  event_type text not null,
  -- display data for the feed (names, amounts, lesson titles); never secrets
  details jsonb not null default '{}',
  created_at timestamptz not null default now(),
  constraint sales_activity_log_event_type_valid
    check (event_type in ('user_created', 'lesson_completed', 'module_unlocked', 'certificate_issued')),
  constraint sales_activity_log_details_object check (jsonb_typeof(details) = 'object')
);

revoke all on table public.sales_activity_log from anon, authenticated, service_role;
grant select on table public.sales_activity_log to authenticated;
grant select, insert, update, delete on table public.sales_activity_log to service_role;

alter table public.sales_activity_log enable row level security;

-- The feed is read newest first and keyset-paginated by (created_at, id).
create index if not exists sales_activity_log_manager_feed on public.sales_activity_log (manager_id, created_at desc, id desc);
create index if not exists sales_activity_log_student_id on public.sales_activity_log (student_id);
create index if not exists sales_activity_log_event_created_at on public.sales_activity_log (event_type, created_at desc);

drop policy if exists "Managers read their own feed and admins read every feed" on public.sales_activity_log;
create policy "Managers read their own feed and admins read every feed"
  on public.sales_activity_log for select to authenticated
  using (manager_id = (select auth.uid()) or (select private.is_admin()));

-- Not exposed through PostgREST (private is not an API schema) and granted to no API role but
-- service_role: the functions alone read and write these, so they need no row level security.
create table if not exists private.email_outbox (
  id bigint generated always as identity primary key,
  user_id uuid not null references public.tripwire_users (user_id) on delete cascade,
  recipient text not null,
  template text not null,
  -- template variables; never a password (the welcome e-mail's password lives only in memory)
  payload jsonb not null default '{}',
  status text not null default 'queued',
  attempts integer not null default 0,
  last_error text,
  next_attempt_at timestamptz not null default now(),
  sent_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint email_outbox_template_valid check (template in ('welcome')),
  constraint email_outbox_status_valid check (status in ('queued', 'sent', 'failed')),
  constraint email_outbox_attempts_non_negative check (attempts >= 0),
  constraint email_outbox_sent_at_matches_status check ((status = 'sent') = (sent_at is not null)),
  constraint email_outbox_payload_object check (jsonb_typeof(payload) = 'object')
);

revoke all on table private.email_outbox from public, anon, authenticated;
grant select, insert, update, delete on table private.email_outbox to service_role;

create index if not exists email_outbox_due on private.email_outbox (next_attempt_at) where status = 'queued';
create index if not exists email_outbox_user_id on private.email_outbox (user_id);

create or replace trigger email_outbox_set_updated_at
  before update on private.email_outbox
  for each row execute function private.set_updated_at();

create table if not exists private.idempotency_keys (
  manager_id uuid not null references public.users (id) on delete cascade,
  idempotency_key text not null,
  -- sha-256 of the request body: the same key with another body is refused
  request_hash text not null,
  state text not null default 'in_progress',
  response_status smallint,
  -- the first response, replayed to retries; the one-time password is never part of it
  response_body jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  expires_at timestamptz not null default now() + interval '24 hours',
  primary key (manager_id, idempotency_key),
  constraint idempotency_keys_key_length check (char_length(idempotency_key) between 1 and 255),
  constraint idempotency_keys_state_valid check (state in ('in_progress', 'completed')),
  constraint idempotency_keys_completed_has_response
    check ((state = 'completed') = (response_status is not null and response_body is not null))
);

revoke all on table private.idempotency_keys from public, anon, authenticated;
grant select, insert, update, delete on table private.idempotency_keys to service_role;

create index if not exists idempotency_keys_expires_at on private.idempotency_keys (expires_at);

create or replace trigger idempotency_keys_set_updated_at
  before update on private.idempotency_keys
  for each row execute function private.set_updated_at();

notify pgrst, 'reload schema';
