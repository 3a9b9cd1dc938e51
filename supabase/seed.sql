-- Local and test data: the staff who sell the course. The course itself (modules 16–18, lessons 67–69) comes
-- from its content file, supabase/course.json, loaded after this with the videos in media/ that `npm start`
-- serves. Idempotent, so `npm start` can apply it on every run. Staff sign in locally with
-- the password `tripwire-local` (scripts/lib/local_auth/), or take a token from `npm run token -- <email>`.

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
