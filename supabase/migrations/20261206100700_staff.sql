-- The academy's staff, managed through the API (the staff function) and created on day one by
-- `npm run bootstrap`. A deactivated manager or admin can no longer sign in (their login is banned) nor act
-- (the functions refuse them): their sales, students and figures stay theirs.
alter table public.users add column if not exists deactivated_at timestamptz;
comment on column public.users.deactivated_at is 'Staff only: when they were deactivated; null while they may work';
alter table public.users drop constraint if exists users_only_staff_deactivated;
alter table public.users add constraint users_only_staff_deactivated
  check (deactivated_at is null or role in ('manager', 'admin'));

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
