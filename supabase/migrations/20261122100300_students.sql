-- A student of the course: who sold it (granted_by), for how much, and the per-student state that
-- create-tripwire-user writes in one transaction.

create table if not exists public.tripwire_users (
  user_id uuid primary key references public.users (id) on delete cascade,
  email text not null,
  full_name text not null,
  phone text,
  -- the sales manager (or admin) who made the sale and created the account
  granted_by uuid not null references public.users (id) on delete restrict,
  status text not null default 'active',
  payment_amount numeric(12, 2) not null default 0,
  welcome_email_sent boolean not null default false,
  welcome_email_sent_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint tripwire_users_email_key unique (email),
  constraint tripwire_users_email_lower_case check (email = lower(email) and char_length(email) between 3 and 320),
  constraint tripwire_users_full_name_length check (char_length(full_name) between 1 and 200),
  constraint tripwire_users_phone_e164 check (phone ~ '^\+[1-9][0-9]{6,14}$'),
  constraint tripwire_users_status_valid check (status in ('active', 'completed', 'suspended')),
  constraint tripwire_users_payment_amount_non_negative check (payment_amount >= 0),
  constraint tripwire_users_welcome_email_sent_at check (welcome_email_sent = (welcome_email_sent_at is not null))
);

revoke all on table public.tripwire_users from anon, authenticated, service_role;
grant select on table public.tripwire_users to authenticated;
grant select, insert, update, delete on table public.tripwire_users to service_role;

alter table public.tripwire_users enable row level security;

-- A manager's students, newest first: stats, feed and leaderboard all start here.
create index if not exists tripwire_users_granted_by_created_at on public.tripwire_users (granted_by, created_at desc);
create index if not exists tripwire_users_active_by_manager on public.tripwire_users (granted_by) where status = 'active';
create index if not exists tripwire_users_created_at on public.tripwire_users (created_at desc);

create or replace trigger tripwire_users_set_updated_at
  before update on public.tripwire_users
  for each row execute function private.set_updated_at();

drop policy if exists "Students, their managers and admins read student accounts" on public.tripwire_users;
create policy "Students, their managers and admins read student accounts"
  on public.tripwire_users for select to authenticated
  using (
    user_id = (select auth.uid())
    or granted_by = (select auth.uid())
    or (select private.is_admin())
  );

-- Needs tripwire_users, so it lives here rather than beside the users table.
drop policy if exists "Users, the managers of their students and admins read user rows" on public.users;
create policy "Users, the managers of their students and admins read user rows"
  on public.users for select to authenticated
  using (
    id = (select auth.uid())
    or (select private.is_admin())
    or id in (select tu.user_id from public.tripwire_users tu where tu.granted_by = (select auth.uid()))
  );

create table if not exists public.tripwire_user_profile (
  user_id uuid primary key references public.tripwire_users (user_id) on delete cascade,
  -- the module the student is on: the lowest unlocked one not yet completed
  current_module_id integer references public.tripwire_modules (id) on delete restrict,
  -- recomputed from completed lessons, never incremented
  modules_completed smallint not null default 0,
  -- course size when the student was created, so modules_completed has an upper bound
  total_modules smallint not null,
  completion_percentage numeric(5, 2) not null default 0,
  certificate_issued_at timestamptz,
  last_activity_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint tripwire_user_profile_total_modules_positive check (total_modules > 0),
  constraint tripwire_user_profile_modules_completed_range check (modules_completed between 0 and total_modules),
  constraint tripwire_user_profile_completion_percentage_range check (completion_percentage between 0 and 100)
);

revoke all on table public.tripwire_user_profile from anon, authenticated, service_role;
grant select on table public.tripwire_user_profile to authenticated;
grant select, insert, update, delete on table public.tripwire_user_profile to service_role;

alter table public.tripwire_user_profile enable row level security;

create index if not exists tripwire_user_profile_current_module_id on public.tripwire_user_profile (current_module_id);

create or replace trigger tripwire_user_profile_set_updated_at
  before update on public.tripwire_user_profile
  for each row execute function private.set_updated_at();

drop policy if exists "Students, their managers and admins read profiles" on public.tripwire_user_profile;
create policy "Students, their managers and admins read profiles"
  on public.tripwire_user_profile for select to authenticated
  using (
    user_id = (select auth.uid())
    or (select private.is_admin())
    or user_id in (select tu.user_id from public.tripwire_users tu where tu.granted_by = (select auth.uid()))
  );

create table if not exists public.tripwire_module_unlocks (
  user_id uuid not null references public.tripwire_users (user_id) on delete cascade,
  module_id integer not null references public.tripwire_modules (id) on delete restrict,
  unlocked_at timestamptz not null default now(),
  completed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (user_id, module_id),
  constraint tripwire_module_unlocks_completed_after_unlock check (completed_at is null or completed_at >= unlocked_at)
);

revoke all on table public.tripwire_module_unlocks from anon, authenticated, service_role;
grant select on table public.tripwire_module_unlocks to authenticated;
grant select, insert, update, delete on table public.tripwire_module_unlocks to service_role;

alter table public.tripwire_module_unlocks enable row level security;

create index if not exists tripwire_module_unlocks_module_id on public.tripwire_module_unlocks (module_id);

create or replace trigger tripwire_module_unlocks_set_updated_at
  before update on public.tripwire_module_unlocks
  for each row execute function private.set_updated_at();

drop policy if exists "Students, their managers and admins read module unlocks" on public.tripwire_module_unlocks;
create policy "Students, their managers and admins read module unlocks"
  on public.tripwire_module_unlocks for select to authenticated
  using (
    user_id = (select auth.uid())
    or (select private.is_admin())
    or user_id in (select tu.user_id from public.tripwire_users tu where tu.granted_by = (select auth.uid()))
  );

create table if not exists public.user_statistics (
  user_id uuid primary key references public.tripwire_users (user_id) on delete cascade,
  lessons_completed integer not null default 0,
  modules_completed integer not null default 0,
  total_watch_seconds numeric(12, 2) not null default 0,
  achievements_unlocked integer not null default 0,
  last_activity_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint user_statistics_lessons_completed_non_negative check (lessons_completed >= 0),
  constraint user_statistics_modules_completed_non_negative check (modules_completed >= 0),
  constraint user_statistics_total_watch_seconds_non_negative check (total_watch_seconds >= 0),
  constraint user_statistics_achievements_unlocked_non_negative check (achievements_unlocked >= 0)
);

revoke all on table public.user_statistics from anon, authenticated, service_role;
grant select on table public.user_statistics to authenticated;
grant select, insert, update, delete on table public.user_statistics to service_role;

alter table public.user_statistics enable row level security;

create or replace trigger user_statistics_set_updated_at
  before update on public.user_statistics
  for each row execute function private.set_updated_at();

drop policy if exists "Students, their managers and admins read statistics" on public.user_statistics;
create policy "Students, their managers and admins read statistics"
  on public.user_statistics for select to authenticated
  using (
    user_id = (select auth.uid())
    or (select private.is_admin())
    or user_id in (select tu.user_id from public.tripwire_users tu where tu.granted_by = (select auth.uid()))
  );

notify pgrst, 'reload schema';
