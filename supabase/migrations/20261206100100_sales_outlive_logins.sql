-- Sales outlive logins. Deleting a user in Supabase's dashboard (a row of auth.users) cascaded through
-- public.users into tripwire_users and student_refunds: the sale, its refunds and its place in the history
-- vanished. Now the books are detached from the login and restricted inside:
--   * public.users no longer references auth.users. A deleted login only stamps login_deleted_at on the
--     person (a trigger on auth.users); the person, the sale and its history stay.
--   * Inside public, nothing that is part of the books cascades: a sale cannot be deleted while it has a feed
--     entry (every sale has one) or a refund, and a person while they sold or bought something. Erasure
--     (docs/architecture.md) replaces a person's identity with tombstones instead of deleting rows.

alter table public.users drop constraint if exists users_id_fkey;
alter table public.users add column if not exists login_deleted_at timestamptz;
comment on column public.users.login_deleted_at is
  'When this person''s login (auth.users) was deleted; the person and their sales stay';

create or replace function private.note_deleted_login() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.users set login_deleted_at = pg_catalog.now() where id = old.id and login_deleted_at is null;
  return old;
end;
$$;
revoke execute on function private.note_deleted_login() from public;

create or replace trigger on_auth_user_deleted
  after delete on auth.users
  for each row execute function private.note_deleted_login();

alter table public.tripwire_users drop constraint tripwire_users_user_id_fkey,
  add constraint tripwire_users_user_id_fkey
    foreign key (user_id) references public.users (id) on delete restrict;
alter table public.student_refunds drop constraint student_refunds_user_id_fkey,
  add constraint student_refunds_user_id_fkey
    foreign key (user_id) references public.tripwire_users (user_id) on delete restrict;
alter table public.sales_activity_log drop constraint sales_activity_log_manager_id_fkey,
  add constraint sales_activity_log_manager_id_fkey
    foreign key (manager_id) references public.users (id) on delete restrict;
alter table public.sales_activity_log drop constraint sales_activity_log_student_id_fkey,
  add constraint sales_activity_log_student_id_fkey
    foreign key (student_id) references public.tripwire_users (user_id) on delete restrict;
alter table public.certificates drop constraint certificates_user_id_fkey,
  add constraint certificates_user_id_fkey
    foreign key (user_id) references public.tripwire_users (user_id) on delete restrict;

notify pgrst, 'reload schema';
