-- A smoke test that proves a flow on the real project (issue 37): `npm run smoke` signs in as an admin, makes a
-- student marked as a smoke test, watches, reads the figures and the status, and erases the student. A smoke
-- test must leave nothing behind: its events never reach the academy's CRM, and its erasure removes every row
-- (the sale, progress, the feed entry, the login), so the books and figures are as they were. The audit trail
-- keeps both entries: it is the record of what was done, not the books.

create table private.smoke_tests (
  student_id uuid not null,
  created_at timestamptz not null default pg_catalog.now(),
  constraint smoke_tests_pkey primary key (student_id),
  constraint smoke_tests_student_id_fkey foreign key (student_id)
    references public.tripwire_users (user_id) on delete cascade
);
comment on table private.smoke_tests is
  'Students made by npm run smoke (an admin''s creation with smoke_test: true): no events go out for them, and '
  'their erasure removes them entirely.';
revoke all on table private.smoke_tests from public, anon, authenticated, service_role;

create function private.hold_smoke_test_events()
returns trigger
language plpgsql
set search_path = ''
as $function$
begin
  -- Marked as fanned out, the event is never delivered: the CRM hears nothing of a smoke test.
  if new.student_id is not null
     and exists (select 1 from private.smoke_tests s where s.student_id = new.student_id) then
    new.fanned_out := true;
  end if;
  return new;
end;
$function$;
comment on function private.hold_smoke_test_events() is
  'Keeps the events about a smoke-test student from ever being delivered (they are born fanned out).';
revoke all on function private.hold_smoke_test_events() from public, anon, authenticated, service_role;

create trigger webhook_events_hold_smoke_tests
  before insert on private.webhook_events
  for each row execute function private.hold_smoke_test_events();

create function private.remove_smoke_test(student uuid)
returns boolean
language plpgsql
set search_path = ''
as $function$
begin
  if not exists (select 1 from private.smoke_tests s where s.student_id = student for update) then
    return false;
  end if;
  -- Everything that names the student, then the student (the rest cascades: progress, watching, unlocks,
  -- achievements, statistics, the profile, the smoke mark; the e-mails with the person). A smoke test is never
  -- refunded: a refund, append-only, would stop this (student_refunds restricts the delete).
  delete from public.sales_activity_log where student_id = student;
  delete from public.certificates where user_id = student;
  delete from private.webhook_events where student_id = student;
  delete from private.stall_notices where student_id = student;
  delete from private.idempotency_keys where resource_id = student;
  delete from private.pending_logins where user_id = student;
  delete from public.tripwire_users where user_id = student;
  delete from public.users where id = student;
  return true;
end;
$function$;
comment on function private.remove_smoke_test(uuid) is
  'Removes a smoke-test student and every row about them (false when the student is not a smoke test); the '
  'login is deleted through Supabase Auth by the caller first.';
revoke all on function private.remove_smoke_test(uuid) from public, anon, authenticated, service_role;
