-- The course as a certificate records it — its modules and their lessons, in order — said once, for the
-- certificate that complete-lesson issues and for the scale generator's graduates.
create or replace function private.course_snapshot() returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('title', 'Tripwire', 'modules', coalesce(jsonb_agg(jsonb_build_object(
    'id', m.id, 'position', m.position, 'title', m.title, 'lessons', (
      select coalesce(jsonb_agg(jsonb_build_object('id', l.id, 'title', l.title) order by l.position), '[]')
      from public.tripwire_lessons l where l.module_id = m.id
    )) order by m.position), '[]'))
  from public.tripwire_modules m
$$;
revoke execute on function private.course_snapshot() from public;
grant execute on function private.course_snapshot() to service_role;

notify pgrst, 'reload schema';
