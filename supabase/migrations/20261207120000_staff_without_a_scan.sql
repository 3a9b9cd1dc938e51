-- GET /staff without reading every student (issue 41): the staff are found through their own partial index
-- (a thousand rows among a million students), and how many students each sold is read from the counts the
-- triggers on tripwire_users keep (analytics.manager_student_statuses), not counted on each call.
create index users_staff on public.users using btree (id) where role in ('manager', 'admin');
comment on index public.users_staff is 'GET /staff: the managers and admins, never a scan of the students.';
