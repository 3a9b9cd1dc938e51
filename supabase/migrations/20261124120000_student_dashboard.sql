-- The student's home screen (GET /functions/v1/student-dashboard) in one statement, and the video source
-- a player loads for each lesson.

alter table public.tripwire_lessons add column if not exists video_url text;
comment on column public.tripwire_lessons.video_url is
  'Where the player loads the lesson''s video: an absolute http(s) URL; null until a video is uploaded.';
alter table public.tripwire_lessons drop constraint if exists tripwire_lessons_video_url_http;
alter table public.tripwire_lessons add constraint tripwire_lessons_video_url_http
  check (video_url ~ '^https?://[^\s/?#]+[^\s]*$' and char_length(video_url) <= 2000);

-- Everything the dashboard shows, as one JSON value: the student, their figures, the course map with
-- each lesson's watch state, every achievement of the catalogue (unlocked or not) and the certificate.
-- A module is completed when its unlock row says so, unlocked when it has one, locked otherwise.
create or replace function private.student_dashboard(student_id uuid) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'student', jsonb_build_object('id', t.user_id, 'full_name', t.full_name, 'email', t.email, 'status', t.status),
    'progress', jsonb_build_object(
      'lessons_completed', s.lessons_completed,
      'total_lessons', (select count(*) from public.tripwire_lessons),
      'modules_completed', p.modules_completed,
      'total_modules', p.total_modules,
      'completion_percentage', p.completion_percentage,
      'watched_seconds', s.total_watch_seconds,
      'current_module_id', p.current_module_id,
      'last_activity_at', greatest(p.last_activity_at, s.last_activity_at)
    ),
    'modules', (
      select coalesce(jsonb_agg(jsonb_build_object(
        'id', m.id, 'position', m.position, 'title', m.title,
        'state', case when u.completed_at is not null then 'completed'
                      when u.module_id is not null then 'unlocked'
                      else 'locked' end,
        'lessons', (
          select coalesce(jsonb_agg(jsonb_build_object(
            'id', l.id, 'position', l.position, 'title', l.title,
            'duration_seconds', l.video_duration_seconds, 'video_url', l.video_url,
            'min_watch_percentage', l.min_watch_percentage,
            'watch_percentage', coalesce(v.watch_percentage, 0),
            'qualified', v.qualified_at is not null,
            'status', coalesce(v.status, 'not_started'),
            'last_position_seconds', v.last_position_seconds
          ) order by l.position), '[]')
          from public.tripwire_lessons l
          left join public.video_tracking v on v.user_id = t.user_id and v.lesson_id = l.id
          where l.module_id = m.id
        )
      ) order by m.position), '[]')
      from public.tripwire_modules m
      left join public.tripwire_module_unlocks u on u.user_id = t.user_id and u.module_id = m.id
    ),
    'achievements', (
      select coalesce(jsonb_agg(jsonb_build_object(
        'code', a.code, 'title', a.title, 'description', a.description, 'unlocked_at', ua.unlocked_at
      ) order by a.position), '[]')
      from public.achievements a
      left join public.user_achievements ua on ua.user_id = t.user_id and ua.achievement_code = a.code
    ),
    'certificate', (
      select jsonb_build_object('certificate_number', c.certificate_number, 'issued_at', c.issued_at)
      from public.certificates c where c.user_id = t.user_id
    )
  )
  from public.tripwire_users t
  join public.tripwire_user_profile p on p.user_id = t.user_id
  join public.user_statistics s on s.user_id = t.user_id
  where t.user_id = student_id
$$;
revoke execute on function private.student_dashboard(uuid) from public;
grant execute on function private.student_dashboard(uuid) to service_role;

notify pgrst, 'reload schema';
