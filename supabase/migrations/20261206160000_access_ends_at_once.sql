-- Access ends at once in row level security (issue 36): a deactivated staff member or an erased person kept
-- reading through PostgREST with a still-valid token, because the policies' helpers asked only who the token
-- names, not whether that person may still act. Every helper now asks private.active_uid().

-- PL/pgSQL, as the other helpers: a SQL function with its own settings is planned again in every statement
-- that calls it, a PL/pgSQL one keeps its plan per session.
create function private.active_uid()
returns uuid
language plpgsql
stable
security definer
set search_path = ''
as $function$
begin
  return (select u.id from public.users u
          where u.id = (select auth.uid()) and u.deactivated_at is null and u.erased_at is null);
end
$function$;
comment on function private.active_uid() is 'The caller''s id while that person may act: a user who exists, is not deactivated and not erased; null otherwise. Policies use it instead of auth.uid(), so access ends when the person''s does, not when the token expires.';
revoke all on function private.active_uid() from public, anon, authenticated, service_role;
grant execute on function private.active_uid() to authenticated, service_role;

create or replace function private.is_admin()
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $function$
begin
  return exists (
    select 1 from public.users u
    where u.id = (select private.active_uid()) and u.role = 'admin'
  );
end
$function$;

create or replace function private.can_read_student(student_id uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $function$
declare
  me uuid := private.active_uid();
begin
  return student_id = me
      or (select private.is_admin())
      or exists (
        select 1 from public.tripwire_users tu
        where tu.user_id = student_id and tu.granted_by = me
      );
end
$function$;

drop policy "Managers read their own feed and admins read every feed" on public.sales_activity_log;
create policy "Managers read their own feed and admins read every feed" on public.sales_activity_log
  as permissive for select to authenticated
  using (manager_id = (select private.active_uid()) or (select private.is_admin()));

drop policy "Students, their managers and admins read student accounts" on public.tripwire_users;
create policy "Students, their managers and admins read student accounts" on public.tripwire_users
  as permissive for select to authenticated
  using (user_id = (select private.active_uid()) or granted_by = (select private.active_uid())
         or (select private.is_admin()));
