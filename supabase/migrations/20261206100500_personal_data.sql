-- A person's data is theirs (docs/architecture.md, Personal data): everything the academy holds about a
-- student as one JSON document, and erasure that replaces who they are with tombstones while the books —
-- the sale, its refunds, progress counts, the leaderboard's figures — stay exactly as they were.

-- Everything held about one student. Staff's own addresses and user agents in the audit rows are left out.
create or replace function private.person_export(person uuid) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'exported_at', now(),
    'person', (select to_jsonb(u) from public.users u where u.id = person),
    'login', (
      select jsonb_build_object('email', a.email, 'created_at', a.created_at, 'last_sign_in_at', a.last_sign_in_at,
                                'email_confirmed_at', a.email_confirmed_at)
      from auth.users a where a.id = person
    ),
    'purchase', (select to_jsonb(t) from public.tripwire_users t where t.user_id = person),
    'refunds', (
      select coalesce(jsonb_agg(jsonb_build_object('amount', r.amount, 'reason', r.reason, 'created_at', r.created_at)
                                order by r.id), '[]')
      from public.student_refunds r where r.user_id = person
    ),
    'profile', (select to_jsonb(p) from public.tripwire_user_profile p where p.user_id = person),
    'statistics', (select to_jsonb(s) from public.user_statistics s where s.user_id = person),
    'modules_unlocked', (
      select coalesce(jsonb_agg(to_jsonb(m) order by m.unlocked_at), '[]')
      from public.tripwire_module_unlocks m where m.user_id = person
    ),
    'progress', (
      select coalesce(jsonb_agg(to_jsonb(p) order by p.lesson_id), '[]')
      from public.student_progress p where p.user_id = person
    ),
    'watching', (
      select coalesce(jsonb_agg(to_jsonb(v) order by v.lesson_id), '[]')
      from public.video_tracking v where v.user_id = person
    ),
    'achievements', (
      select coalesce(jsonb_agg(to_jsonb(a) order by a.achievement_code), '[]')
      from public.user_achievements a where a.user_id = person
    ),
    'certificate', (select to_jsonb(c) from public.certificates c where c.user_id = person),
    'activity', (
      select coalesce(jsonb_agg(jsonb_build_object('event_type', e.event_type, 'details', e.details,
                                                   'created_at', e.created_at) order by e.id), '[]')
      from public.sales_activity_log e where e.student_id = person
    ),
    'emails', (
      select coalesce(jsonb_agg(to_jsonb(o) - 'sealed_password' order by o.id), '[]')
      from private.email_outbox o where o.user_id = person
    ),
    'audit', (
      select coalesce(jsonb_agg(to_jsonb(a) - 'client_ip' - 'user_agent' order by a.id), '[]')
      from private.audit_log a where a.target_type = 'student' and a.target_id = person::text
    )
  )
$$;
revoke execute on function private.person_export(uuid) from public;

-- Erasure: the person's name, e-mail and phone become tombstones everywhere they were written (the person,
-- the sale, the certificate, the feed's details); what could still identify or reach them goes (queued
-- e-mails, stored answers to retried requests, the certificate's public link). The login itself is deleted
-- through Supabase Auth by the caller first. Sales, refunds, progress and every figure stay as they were.
create or replace function private.erase_person(person uuid) returns timestamptz
language plpgsql
set search_path = ''
as $$
declare
  tombstone_name constant text := 'Erased person';
  tombstone_email constant text := 'erased-' || person::text || '@erased.invalid';
  erased timestamptz;
begin
  update public.users
  set full_name = tombstone_name, email = tombstone_email, erased_at = coalesce(erased_at, pg_catalog.now())
  where id = person
  returning erased_at into erased;
  if erased is null then
    raise exception 'there is no person %', person using errcode = 'P0002';
  end if;
  update public.tripwire_users set full_name = tombstone_name, email = tombstone_email, phone = null
  where user_id = person;
  update public.certificates
  set full_name = tombstone_name, verification_code = pg_catalog.encode(extensions.gen_random_bytes(10), 'hex')
  where user_id = person;
  update public.sales_activity_log
  set details = details || pg_catalog.jsonb_build_object('student_name', tombstone_name)
    || case when details ? 'student_email' then pg_catalog.jsonb_build_object('student_email', tombstone_email)
            else '{}'::jsonb end
  where student_id = person;
  delete from private.email_outbox where user_id = person;
  delete from private.idempotency_keys where resource_id = person;
  return erased;
end;
$$;
revoke execute on function private.erase_person(uuid) from public;

notify pgrst, 'reload schema';
