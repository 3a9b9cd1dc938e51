-- Who is who. Roles live here, in the database, never in a request body or user-editable metadata.

create extension if not exists pgcrypto with schema extensions;

create schema if not exists private;
revoke all on schema private from public;
-- Policies call private helpers as the querying role, so it needs to reach them (PostgREST does not
-- expose this schema).
grant usage on schema private to authenticated, service_role;

create or replace function private.set_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := pg_catalog.now();
  return new;
end;
$$;
revoke execute on function private.set_updated_at() from public;

create table if not exists public.users (
  id uuid primary key references auth.users (id) on delete cascade,
  email text not null,
  full_name text not null,
  role text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint users_email_key unique (email),
  constraint users_email_lower_case check (email = lower(email) and char_length(email) between 3 and 320),
  constraint users_full_name_length check (char_length(full_name) between 1 and 200),
  constraint users_role_valid check (role in ('student', 'manager', 'admin'))
);
comment on column public.users.role is 'student | manager (sales manager) | admin; the only source of authorisation';

revoke all on table public.users from anon, authenticated, service_role;
grant select on table public.users to authenticated;
grant select, insert, update, delete on table public.users to service_role;

alter table public.users enable row level security;

create or replace trigger users_set_updated_at
  before update on public.users
  for each row execute function private.set_updated_at();

-- Security definer: a policy on `users` may not read `users` through its own policy (recursion).
create or replace function private.is_admin() returns boolean
language sql stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.users u where u.id = (select auth.uid()) and u.role = 'admin'
  );
$$;
revoke execute on function private.is_admin() from public;
grant execute on function private.is_admin() to authenticated, service_role;

notify pgrst, 'reload schema';
