-- Policies that read as one sentence: who may read a student's rows is said once, in
-- private.can_read_student (the student, the manager who sold to them, an admin), and every per-student
-- table's policy names it. Security definer, so the manager check reads tripwire_users without running
-- that table's own policy once per row.

create or replace function private.can_read_student(student_id uuid) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select student_id = (select auth.uid())
      or (select private.is_admin())
      or exists (
        select 1 from public.tripwire_users tu
        where tu.user_id = student_id and tu.granted_by = (select auth.uid())
      );
$$;
revoke execute on function private.can_read_student(uuid) from public;
grant execute on function private.can_read_student(uuid) to authenticated, service_role;

drop policy if exists "Users, the managers of their students and admins read user rows" on public.users;
drop policy if exists "Users, their managers and admins read user rows" on public.users;
create policy "Users, their managers and admins read user rows"
  on public.users for select to authenticated
  using (private.can_read_student(id));

drop policy if exists "Students, their managers and admins read profiles" on public.tripwire_user_profile;
create policy "Students, their managers and admins read profiles"
  on public.tripwire_user_profile for select to authenticated
  using (private.can_read_student(user_id));

drop policy if exists "Students, their managers and admins read module unlocks" on public.tripwire_module_unlocks;
create policy "Students, their managers and admins read module unlocks"
  on public.tripwire_module_unlocks for select to authenticated
  using (private.can_read_student(user_id));

drop policy if exists "Students, their managers and admins read statistics" on public.user_statistics;
create policy "Students, their managers and admins read statistics"
  on public.user_statistics for select to authenticated
  using (private.can_read_student(user_id));

drop policy if exists "Students, their managers and admins read progress" on public.student_progress;
create policy "Students, their managers and admins read progress"
  on public.student_progress for select to authenticated
  using (private.can_read_student(user_id));

drop policy if exists "Students, their managers and admins read video tracking" on public.video_tracking;
create policy "Students, their managers and admins read video tracking"
  on public.video_tracking for select to authenticated
  using (private.can_read_student(user_id));

drop policy if exists "Students, their managers and admins read achievements" on public.user_achievements;
create policy "Students, their managers and admins read achievements"
  on public.user_achievements for select to authenticated
  using (private.can_read_student(user_id));

drop policy if exists "Students, their managers and admins read certificates" on public.certificates;
create policy "Students, their managers and admins read certificates"
  on public.certificates for select to authenticated
  using (private.can_read_student(user_id));

notify pgrst, 'reload schema';
