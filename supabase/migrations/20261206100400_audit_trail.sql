-- The audit trail: every staff action that changes money, access or a person's data writes one row, in the
-- same transaction as the change. Who (the staff member and their role), when, from where (the client's
-- address and user agent as the gateway passes them, the request id), what (the action and its target) and
-- the fields that changed, before and after. Append-only: no role may update, delete or truncate it, the
-- functions' included. It names people by id only: a person's name, e-mail or phone never enters it (a
-- changed one is recorded as "(personal)"), so erasing a person never needs to touch it.
create table if not exists private.audit_log (
  id bigint generated always as identity primary key,
  created_at timestamptz not null default now(),
  -- the staff member who acted; null when the database itself or a scheduler did
  actor_id uuid,
  actor_role text not null,
  action text not null,
  target_type text not null,
  target_id text,
  -- the fields that changed: {"status": {"before": "active", "after": "suspended"}, …}
  changes jsonb not null default '{}',
  -- what the staff member typed as the reason, when the action takes one
  reason text,
  client_ip text,
  user_agent text,
  request_id text,
  constraint audit_log_actor_role_valid check (actor_role in ('admin', 'manager', 'service', 'database')),
  constraint audit_log_action_valid check (action in (
    'student.created', 'student.refunded', 'student.suspended', 'student.reactivated',
    'student.password_reset', 'student.exported', 'student.erased', 'settings.changed', 'staff.changed'
  )),
  constraint audit_log_target_type_valid check (target_type in ('student', 'settings', 'staff')),
  constraint audit_log_changes_object check (jsonb_typeof(changes) = 'object'),
  constraint audit_log_user_agent_length check (char_length(user_agent) <= 500),
  constraint audit_log_reason_length check (char_length(reason) <= 500)
);
comment on table private.audit_log is
  'Append-only: who did what to money, access or personal data, from where, and what changed';

revoke all on table private.audit_log from public, anon, authenticated, service_role;
grant select, insert on table private.audit_log to service_role;

create index if not exists audit_log_target on private.audit_log (target_id, id desc);
create index if not exists audit_log_actor on private.audit_log (actor_id, id desc);

create or replace trigger audit_log_append_only
  before update or delete on private.audit_log
  for each row execute function private.refuse_change();
create or replace trigger audit_log_no_truncate
  before truncate on private.audit_log
  for each statement execute function private.refuse_change();

-- The fields of `after` that differ from `before`, as {"field": {"before": …, "after": …}}, leaving out
-- bookkeeping fields and showing personal ones only as "(personal)".
create or replace function private.changed_fields(before jsonb, after jsonb, ignored text[], personal text[])
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select coalesce(jsonb_object_agg(key, jsonb_build_object(
    'before', case when key = any(personal) and before -> key is not null then '"(personal)"'::jsonb
                   else coalesce(before -> key, 'null') end,
    'after', case when key = any(personal) and after -> key is not null then '"(personal)"'::jsonb
                  else coalesce(after -> key, 'null') end
  )), '{}')
  from (
    select key from jsonb_object_keys(coalesce(before, '{}') || coalesce(after, '{}')) as key
    where not key = any(ignored) and (before -> key) is distinct from (after -> key)
  ) changed
$$;
revoke execute on function private.changed_fields(jsonb, jsonb, text[], text[]) from public;

-- Changes made straight in SQL (the dashboard's editor, a migration, an RPC) are audited by the database
-- itself: the academy's settings and its staff. The actor is the JWT's subject when there is one; a function
-- that changes staff says who acts and from where for its transaction (tripwire.actor_id, tripwire.actor_role,
-- tripwire.client_ip, tripwire.user_agent, tripwire.request_id: _shared/audit.ts actingAs), so a change through
-- the API is one row with its admin.
create or replace function private.audit_database_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  claims jsonb := nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb;
  actor text := coalesce(nullif(pg_catalog.current_setting('tripwire.actor_id', true), ''), claims ->> 'sub');
  changes jsonb;
  target text;
begin
  if tg_table_name = 'settings' then
    changes := private.changed_fields(to_jsonb(old), to_jsonb(new), array['updated_at', 'history_closed_through'],
                                      array[]::text[]);
    target := null;
  else
    -- A person becoming, or ceasing to be, staff (or staff changed): students are audited by the functions.
    if coalesce(new.role, '') not in ('manager', 'admin') and coalesce(old.role, '') not in ('manager', 'admin') then
      return null;
    end if;
    changes := private.changed_fields(
      case when tg_op = 'INSERT' then null else to_jsonb(old) end, to_jsonb(new),
      array['updated_at', 'created_at', 'id'], array['email', 'full_name']);
    target := new.id::text;
  end if;
  if changes = '{}' then
    return null;
  end if;
  insert into private.audit_log
    (actor_id, actor_role, action, target_type, target_id, changes, client_ip, user_agent, request_id)
  values (
    case when actor ~ '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$' then actor::uuid end,
    coalesce(nullif(pg_catalog.current_setting('tripwire.actor_role', true), ''), 'database'),
    case when tg_table_name = 'settings' then 'settings.changed' else 'staff.changed' end,
    case when tg_table_name = 'settings' then 'settings' else 'staff' end,
    target, changes,
    nullif(pg_catalog.current_setting('tripwire.client_ip', true), ''),
    nullif(pg_catalog.current_setting('tripwire.user_agent', true), ''),
    nullif(pg_catalog.current_setting('tripwire.request_id', true), ''));
  return null;
end;
$$;
revoke execute on function private.audit_database_change() from public;

create or replace trigger settings_audited
  after update on analytics.settings
  for each row execute function private.audit_database_change();
create or replace trigger staff_audited
  after insert or update on public.users
  for each row execute function private.audit_database_change();

-- Erasure (docs/architecture.md, Personal data): when a person's identity was replaced by tombstones.
alter table public.users add column if not exists erased_at timestamptz;
comment on column public.users.erased_at is 'When this person was erased: name, e-mail and login replaced by tombstones';

notify pgrst, 'reload schema';
