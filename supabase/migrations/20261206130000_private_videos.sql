-- Paid videos stay paid (issue 26): a lesson's video is an object in the private Storage bucket
-- `lesson-videos` (supabase/config.toml), no longer a public URL. The column holds the object's path in the
-- bucket; the functions sign a short-lived URL for it only for a student who may watch the lesson now
-- (video-tracking's GET /video). The dashboard says only whether a lesson has a video.

alter table public.tripwire_lessons drop constraint tripwire_lessons_video_url_http;
alter table public.tripwire_lessons rename column video_url to video_path;
-- A URL becomes its last path segment (the sample course's files are named so in the bucket).
update public.tripwire_lessons set video_path = pg_catalog.regexp_replace(video_path, '^.*/', '')
where video_path is not null;
alter table public.tripwire_lessons add constraint tripwire_lessons_video_path_object CHECK (
  video_path ~ '^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$'::text
  AND video_path !~ '\.\.'::text AND char_length(video_path) <= 1024
);
comment on column public.tripwire_lessons.video_path is 'The lesson''s video: its object path in the private Storage bucket lesson-videos (no bucket name, no leading slash); null until a video is uploaded.';

create or replace function private.student_dashboard(student_id uuid, language text)
 returns jsonb
 language sql
 stable
 set search_path = ''
as $function$
  select jsonb_build_object(
    'student', jsonb_build_object('id', t.user_id, 'full_name', t.full_name, 'email', t.email, 'status', t.status),
    'course', (
      select jsonb_build_object('title', private.localize(k.title, language),
                                'description', private.localize(k.description, language))
      from public.course k
    ),
    'progress', jsonb_build_object(
      'lessons_completed', s.lessons_completed,
      'total_lessons', (select count(*) from public.tripwire_lessons),
      'modules_completed', p.modules_completed,
      'total_modules', p.total_modules,
      'completion_percentage', p.completion_percentage,
      'watched_seconds', (
        select coalesce(sum(v.watched_seconds), 0) from public.video_tracking v where v.user_id = t.user_id
      ),
      'current_module_id', p.current_module_id,
      'last_activity_at', t.last_activity_at
    ),
    'modules', (
      select coalesce(jsonb_agg(jsonb_build_object(
        'id', m.id, 'position', m.position, 'title', private.localize(m.title, language),
        'description', private.localize(m.description, language),
        'state', case when u.completed_at is not null then 'completed'
                      when u.module_id is not null then 'unlocked'
                      else 'locked' end,
        'lessons', (
          select coalesce(jsonb_agg(jsonb_build_object(
            'id', l.id, 'position', l.position, 'title', private.localize(l.title, language),
            'description', private.localize(l.description, language),
            'duration_seconds', l.video_duration_seconds, 'has_video', l.video_path is not null,
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
        'code', a.code, 'title', private.localize(a.title, language),
        'description', private.localize(a.description, language), 'unlocked_at', ua.unlocked_at
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
$function$;

revoke all on function private.student_dashboard(student_id uuid, language text) from public, anon, authenticated, service_role;
grant execute on function private.student_dashboard(student_id uuid, language text) to service_role;

notify pgrst, 'reload schema';
