-- Rewards: four achievements every student starts with (locked) and the course certificate.

create table if not exists public.achievements (
  code text primary key,
  position integer not null,
  title text not null,
  description text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint achievements_position_key unique (position),
  constraint achievements_code_format check (code ~ '^[a-z][a-z0-9_]{1,49}$')
);

revoke all on table public.achievements from anon, authenticated, service_role;
grant select on table public.achievements to authenticated;
grant select, insert, update, delete on table public.achievements to service_role;

alter table public.achievements enable row level security;

create or replace trigger achievements_set_updated_at
  before update on public.achievements
  for each row execute function private.set_updated_at();

drop policy if exists "Signed-in users read the achievement catalogue" on public.achievements;
create policy "Signed-in users read the achievement catalogue"
  on public.achievements for select to authenticated
  using (true);

-- The rules behind these codes live in complete-lesson; the catalogue ships with the schema.
insert into public.achievements (code, position, title, description) values
  ('first_lesson', 1, 'First step', 'Complete your first lesson'),
  ('attentive_viewer', 2, 'Attentive viewer', 'Watch at least 95 % of a lesson'),
  ('halfway', 3, 'Two down', 'Complete two modules'),
  ('graduate', 4, 'Graduate', 'Complete the course and earn the certificate')
on conflict (code) do update
  set position = excluded.position, title = excluded.title, description = excluded.description;

create table if not exists public.user_achievements (
  user_id uuid not null references public.tripwire_users (user_id) on delete cascade,
  achievement_code text not null references public.achievements (code) on delete restrict,
  -- null while locked
  unlocked_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (user_id, achievement_code)
);

revoke all on table public.user_achievements from anon, authenticated, service_role;
grant select on table public.user_achievements to authenticated;
grant select, insert, update, delete on table public.user_achievements to service_role;

alter table public.user_achievements enable row level security;

create index if not exists user_achievements_achievement_code on public.user_achievements (achievement_code);

create or replace trigger user_achievements_set_updated_at
  before update on public.user_achievements
  for each row execute function private.set_updated_at();

drop policy if exists "Students, their managers and admins read achievements" on public.user_achievements;
create policy "Students, their managers and admins read achievements"
  on public.user_achievements for select to authenticated
  using (
    user_id = (select auth.uid())
    or (select private.is_admin())
    or user_id in (select tu.user_id from public.tripwire_users tu where tu.granted_by = (select auth.uid()))
  );

-- Human-readable certificate numbers: TW-<year>-<six or more digits from this sequence>.
create sequence if not exists private.certificate_number_seq;
revoke all on sequence private.certificate_number_seq from public;

create table if not exists public.certificates (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.tripwire_users (user_id) on delete cascade,
  certificate_number text not null,
  full_name text not null,
  -- the course as it was when issued (modules and lessons), so the certificate never changes
  course jsonb not null,
  issued_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint certificates_user_id_key unique (user_id),
  constraint certificates_certificate_number_key unique (certificate_number),
  constraint certificates_certificate_number_format check (certificate_number ~ '^TW-[0-9]{4}-[0-9]{6,}$'),
  constraint certificates_full_name_length check (char_length(full_name) between 1 and 200)
);

revoke all on table public.certificates from anon, authenticated, service_role;
grant select on table public.certificates to authenticated;
grant select, insert, update, delete on table public.certificates to service_role;

alter table public.certificates enable row level security;

create index if not exists certificates_issued_at on public.certificates (issued_at desc);

create or replace trigger certificates_set_updated_at
  before update on public.certificates
  for each row execute function private.set_updated_at();

drop policy if exists "Students, their managers and admins read certificates" on public.certificates;
create policy "Students, their managers and admins read certificates"
  on public.certificates for select to authenticated
  using (
    user_id = (select auth.uid())
    or (select private.is_admin())
    or user_id in (select tu.user_id from public.tripwire_users tu where tu.granted_by = (select auth.uid()))
  );

notify pgrst, 'reload schema';
