-- The course speaks the academy's languages (issue 25): the titles and descriptions of the course, its modules,
-- lessons and achievements, and the certificate's text, are stored in Russian and English and served in the
-- caller's language (Accept-Language, else the academy's, analytics.settings.language). The content comes from
-- one file, supabase/course.json, loaded by the bootstrap command (and by `npm start`); what this migration
-- writes is only a start: the English titles that were there, and the catalogue's own texts.

create domain public.localized_text as jsonb
  constraint localized_text_ru_and_en check (
    jsonb_typeof(value) = 'object' and value - 'ru' - 'en' = '{}'::jsonb
    and jsonb_typeof(value -> 'ru') = 'string' and jsonb_typeof(value -> 'en') = 'string'
    and char_length(value ->> 'ru') between 1 and 2000 and char_length(value ->> 'en') between 1 and 2000
  );

comment on domain public.localized_text is 'A text in both of the academy''s languages: {"ru": "…", "en": "…"}.';

-- The course itself: one row.
create table public.course (
  id boolean not null default true,
  title public.localized_text not null,
  description public.localized_text,
  certificate_text public.localized_text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint course_pkey primary key (id),
  constraint course_single_row check (id),
  constraint course_certificate_text_names_the_graduate check (
    position('{full_name}' in certificate_text ->> 'ru') > 0 and position('{full_name}' in certificate_text ->> 'en') > 0
  )
);

comment on column public.course.certificate_text is 'The certificate''s sentence; {full_name} and {course} are filled in.';

revoke all on table public.course from public, anon, authenticated, service_role;
grant select, insert, update, delete on table public.course to service_role;
grant select on table public.course to authenticated;

alter table public.course enable row level security;

create trigger course_set_updated_at before update on public.course
  for each row execute function private.set_updated_at();

create policy "Signed-in users read the course" on public.course
  as permissive for select to authenticated
  using (true);

insert into public.course (id, title, description, certificate_text) values (
  true,
  '{"ru": "Трипвайер: первые продажи", "en": "Tripwire: first sales"}',
  null,
  '{"ru": "Настоящим подтверждается, что {full_name} прошёл(а) курс «{course}».", "en": "This certifies that {full_name} has completed the course “{course}”."}'
);

alter table public.tripwire_modules drop constraint tripwire_modules_title_length;
alter table public.tripwire_modules
  alter column title type public.localized_text using jsonb_build_object('ru', title, 'en', title);
alter table public.tripwire_modules add column description public.localized_text;
alter table public.tripwire_modules add constraint tripwire_modules_title_length
  check (char_length(title ->> 'ru') <= 200 and char_length(title ->> 'en') <= 200);

alter table public.tripwire_lessons drop constraint tripwire_lessons_title_length;
alter table public.tripwire_lessons
  alter column title type public.localized_text using jsonb_build_object('ru', title, 'en', title);
alter table public.tripwire_lessons add column description public.localized_text;
alter table public.tripwire_lessons add constraint tripwire_lessons_title_length
  check (char_length(title ->> 'ru') <= 200 and char_length(title ->> 'en') <= 200);

alter table public.achievements
  alter column title type public.localized_text using jsonb_build_object('ru', title, 'en', title),
  alter column description type public.localized_text using jsonb_build_object('ru', description, 'en', description);

update public.achievements a
set title = t.title::jsonb, description = t.description::jsonb
from (values
  ('first_lesson', '{"ru": "Первый шаг", "en": "First step"}',
   '{"ru": "Завершите первый урок", "en": "Complete your first lesson"}'),
  ('attentive_viewer', '{"ru": "Внимательный зритель", "en": "Attentive viewer"}',
   '{"ru": "Посмотрите не меньше 95 % урока", "en": "Watch at least 95 % of a lesson"}'),
  ('halfway', '{"ru": "Два позади", "en": "Two down"}',
   '{"ru": "Завершите два модуля", "en": "Complete two modules"}'),
  ('graduate', '{"ru": "Выпускник", "en": "Graduate"}',
   '{"ru": "Завершите курс и получите сертификат", "en": "Complete the course and earn the certificate"}')
) as t (code, title, description)
where a.code = t.code;

-- The language to serve: the one asked for, else the academy's.
create function private.content_language(requested text)
 returns text
 language sql
 stable
 set search_path = ''
as $function$
  select case when requested in ('ru', 'en') then requested else (select s.language from analytics.settings s) end
$function$;

revoke all on function private.content_language(requested text) from public, anon, authenticated, service_role;
grant execute on function private.content_language(requested text) to service_role;

-- A localized text in one language; a text stored before both existed falls back to Russian.
create function private.localize(value jsonb, language text)
 returns text
 language sql
 immutable parallel safe
 set search_path = ''
as $function$
  select coalesce(value ->> language, value ->> 'ru', value #>> '{}')
$function$;

revoke all on function private.localize(value jsonb, language text) from public, anon, authenticated, service_role;
grant execute on function private.localize(value jsonb, language text) to service_role;

-- What a certificate keeps of the course when it is issued: every text in both languages, so it reads the same
-- in either whatever the course becomes.
create or replace function private.course_snapshot()
 returns jsonb
 language sql
 stable
 set search_path = ''
as $function$
  select jsonb_build_object(
    'title', c.title, 'certificate_text', c.certificate_text,
    'modules', (
      select coalesce(jsonb_agg(jsonb_build_object(
        'id', m.id, 'position', m.position, 'title', m.title, 'lessons', (
          select coalesce(jsonb_agg(jsonb_build_object('id', l.id, 'title', l.title) order by l.position), '[]')
          from public.tripwire_lessons l where l.module_id = m.id
        )) order by m.position), '[]')
      from public.tripwire_modules m
    ))
  from public.course c
$function$;

-- Certificates issued before: their English titles in both languages, and the course's sentence.
update public.certificates c
set course = jsonb_build_object(
  'title', jsonb_build_object('ru', c.course ->> 'title', 'en', c.course ->> 'title'),
  'certificate_text', (select k.certificate_text from public.course k),
  'modules', (
    select coalesce(jsonb_agg(jsonb_build_object(
      'id', m -> 'id', 'position', m -> 'position',
      'title', jsonb_build_object('ru', m ->> 'title', 'en', m ->> 'title'),
      'lessons', (
        select coalesce(jsonb_agg(jsonb_build_object(
          'id', l -> 'id', 'title', jsonb_build_object('ru', l ->> 'title', 'en', l ->> 'title'))), '[]')
        from jsonb_array_elements(m -> 'lessons') l
      ))), '[]')
    from jsonb_array_elements(c.course -> 'modules') m
  ))
where jsonb_typeof(c.course -> 'title') = 'string';

-- A certificate's course in one language, with its sentence for the graduate.
create function private.certificate_course(course jsonb, full_name text, language text)
 returns jsonb
 language sql
 immutable parallel safe
 set search_path = ''
as $function$
  select jsonb_build_object(
    'title', private.localize(course -> 'title', language),
    'statement', pg_catalog.replace(pg_catalog.replace(
      private.localize(course -> 'certificate_text', language), '{full_name}', full_name),
      '{course}', private.localize(course -> 'title', language)),
    'modules', (
      select coalesce(jsonb_agg(jsonb_build_object(
        'id', m -> 'id', 'position', m -> 'position', 'title', private.localize(m -> 'title', language),
        'lessons', (
          select coalesce(jsonb_agg(jsonb_build_object(
            'id', l -> 'id', 'title', private.localize(l -> 'title', language))), '[]')
          from pg_catalog.jsonb_array_elements(m -> 'lessons') l
        ))), '[]')
      from pg_catalog.jsonb_array_elements(course -> 'modules') m
    ))
$function$;

revoke all on function private.certificate_course(course jsonb, full_name text, language text)
  from public, anon, authenticated, service_role;
grant execute on function private.certificate_course(course jsonb, full_name text, language text) to service_role;

drop function private.student_dashboard(student_id uuid);

create function private.student_dashboard(student_id uuid, language text)
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
