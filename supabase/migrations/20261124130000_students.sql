-- What a sales team does after the sale (the students function): refunds, suspensions, and finding a
-- student fast among a million.

-- A refunded student has no access and no longer counts as revenue from the refund's day on.
alter table public.tripwire_users drop constraint if exists tripwire_users_status_valid;
alter table public.tripwire_users add constraint tripwire_users_status_valid
  check (status in ('active', 'completed', 'suspended', 'refunded'));

-- Each refund taken, a fact of its own day (the analytics subtract it there).
create table if not exists public.student_refunds (
  id bigint generated always as identity primary key,
  user_id uuid not null references public.tripwire_users (user_id) on delete cascade,
  -- who took the refund (the selling manager or an admin)
  refunded_by uuid not null references public.users (id) on delete restrict,
  amount numeric(12, 2) not null,
  reason text not null,
  created_at timestamptz not null default now(),
  constraint student_refunds_amount_positive check (amount > 0),
  constraint student_refunds_reason_length check (char_length(reason) between 1 and 500)
);
create index if not exists student_refunds_user_id on public.student_refunds (user_id);
create index if not exists student_refunds_refunded_by on public.student_refunds (refunded_by);
create index if not exists student_refunds_created_at on public.student_refunds (created_at desc);

revoke all on table public.student_refunds from anon, authenticated, service_role;
grant select on table public.student_refunds to authenticated;
grant select, insert, update, delete on table public.student_refunds to service_role;

alter table public.student_refunds enable row level security;

drop policy if exists "Students, their managers and admins read refunds" on public.student_refunds;
create policy "Students, their managers and admins read refunds"
  on public.student_refunds for select to authenticated
  using (private.can_read_student(user_id));

-- The feed hears of every change a manager makes after the sale.
alter table public.sales_activity_log drop constraint if exists sales_activity_log_event_type_valid;
alter table public.sales_activity_log add constraint sales_activity_log_event_type_valid
  check (event_type in ('user_created', 'lesson_completed', 'module_unlocked', 'certificate_issued',
                        'student_refunded', 'student_suspended', 'student_reactivated'));

-- Case-insensitive search over name and e-mail that stays fast at a million students: trigram indexes
-- (pg_trgm, in the extensions schema as on Supabase), and a newest-first order with a tiebreak for paging.
create extension if not exists pg_trgm with schema extensions;
create index if not exists tripwire_users_search on public.tripwire_users
  using gin ((lower(full_name) || ' ' || email) extensions.gin_trgm_ops);
create index if not exists tripwire_users_newest on public.tripwire_users (created_at desc, user_id desc);
create index if not exists tripwire_users_manager_newest
  on public.tripwire_users (granted_by, created_at desc, user_id desc);
-- The same orders without the tiebreak: the new indexes serve what they served.
drop index if exists public.tripwire_users_granted_by_created_at;
drop index if exists public.tripwire_users_created_at;

notify pgrst, 'reload schema';
