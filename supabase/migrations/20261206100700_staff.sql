-- The academy's staff, managed through the API (the staff function) and created on day one by
-- `npm run bootstrap`. A deactivated manager or admin can no longer sign in (their login is banned) nor act
-- (the functions refuse them): their sales, students and figures stay theirs.
alter table public.users add column if not exists deactivated_at timestamptz;
comment on column public.users.deactivated_at is 'Staff only: when they were deactivated; null while they may work';
alter table public.users drop constraint if exists users_only_staff_deactivated;
alter table public.users add constraint users_only_staff_deactivated
  check (deactivated_at is null or role in ('manager', 'admin'));

-- The database's own audit of staff and settings changes learns who acted and from where when the functions
-- say so for their transaction (tripwire.actor_id, tripwire.actor_role, tripwire.client_ip,
-- tripwire.user_agent, tripwire.request_id), so a change through the API is one row with its admin.
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

notify pgrst, 'reload schema';

-- A deactivated manager or admin reads no analytics either (the RPCs' one scope check).
create or replace function analytics.caller_scope(requested_manager uuid)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  caller_id uuid := (select auth.uid());
  caller_role text;
begin
  select u.role into caller_role from public.users u where u.id = caller_id and u.deactivated_at is null;
  if caller_role = 'admin' then
    return requested_manager;
  elsif caller_role = 'manager' then
    if requested_manager is not null and requested_manager <> caller_id then
      raise exception 'a manager reads only their own figures' using errcode = '42501';
    end if;
    return caller_id;
  end if;
  raise exception 'only managers and admins read sales analytics' using errcode = '42501';
end
$$;
revoke execute on function analytics.caller_scope(uuid) from public, anon;
grant execute on function analytics.caller_scope(uuid) to authenticated, service_role;

notify pgrst, 'reload schema';
