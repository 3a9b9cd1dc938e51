-- Local and test data: the course (modules 16–18, lessons 67–69, videos in media/ served by `npm start`) and
-- the staff who sell it. Idempotent, so `npm start` can apply it on every run. Staff sign in locally with
-- the password `tripwire-local` (scripts/lib/local_auth.ts), or take a token from `npm run token -- <email>`.

insert into public.tripwire_modules (id, position, title) values
  (16, 1, 'Module 1. Where sales start'),
  (17, 2, 'Module 2. The conversation that sells'),
  (18, 3, 'Module 3. Closing and follow-up')
on conflict (id) do update set position = excluded.position, title = excluded.title;

insert into public.tripwire_lessons (id, module_id, position, title, video_duration_seconds, min_watch_percentage,
                                     video_url) values
  (67, 16, 1, 'Lesson 1. Who buys and why', 600, 80, 'http://127.0.0.1:54321/media/lesson-67.webm'),
  (68, 17, 1, 'Lesson 2. Questions that open a deal', 720, 80, 'http://127.0.0.1:54321/media/lesson-68.webm'),
  (69, 18, 1, 'Lesson 3. Asking for the payment', 900, 80, 'http://127.0.0.1:54321/media/lesson-69.webm')
on conflict (id) do update
  set module_id = excluded.module_id, position = excluded.position, title = excluded.title,
      video_duration_seconds = excluded.video_duration_seconds,
      min_watch_percentage = excluded.min_watch_percentage, video_url = excluded.video_url;

-- Keep the identity sequences ahead of the explicit ids above.
select setval(pg_get_serial_sequence('public.tripwire_modules', 'id'), (select max(id) from public.tripwire_modules));
select setval(pg_get_serial_sequence('public.tripwire_lessons', 'id'), (select max(id) from public.tripwire_lessons));

insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                        raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
values
  ('00000000-0000-0000-0000-000000000000', 'a0000000-0000-4000-8000-000000000001', 'authenticated', 'authenticated',
   'saule.admin@tripwire.local', '', now(),
   '{"provider": "email", "providers": ["email"], "role": "admin", "platform": "tripwire"}',
   '{"full_name": "Saule Admin"}', now(), now()),
  ('00000000-0000-0000-0000-000000000000', 'a0000000-0000-4000-8000-000000000002', 'authenticated', 'authenticated',
   'aida.manager@tripwire.local', '', now(),
   '{"provider": "email", "providers": ["email"], "role": "manager", "platform": "tripwire"}',
   '{"full_name": "Aida Manager"}', now(), now()),
  ('00000000-0000-0000-0000-000000000000', 'a0000000-0000-4000-8000-000000000003', 'authenticated', 'authenticated',
   'daniyar.manager@tripwire.local', '', now(),
   '{"provider": "email", "providers": ["email"], "role": "manager", "platform": "tripwire"}',
   '{"full_name": "Daniyar Manager"}', now(), now())
on conflict (id) do nothing;

-- The documented local password, bcrypt-hashed as GoTrue stores it; a password someone set stays.
update auth.users set encrypted_password = extensions.crypt('tripwire-local', extensions.gen_salt('bf'))
where id in ('a0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000002',
             'a0000000-0000-4000-8000-000000000003')
  and coalesce(encrypted_password, '') = '';

insert into public.users (id, email, full_name, role) values
  ('a0000000-0000-4000-8000-000000000001', 'saule.admin@tripwire.local', 'Saule Admin', 'admin'),
  ('a0000000-0000-4000-8000-000000000002', 'aida.manager@tripwire.local', 'Aida Manager', 'manager'),
  ('a0000000-0000-4000-8000-000000000003', 'daniyar.manager@tripwire.local', 'Daniyar Manager', 'manager')
on conflict (id) do update set email = excluded.email, full_name = excluded.full_name, role = excluded.role;
