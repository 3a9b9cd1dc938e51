/**
 * A realistic history at scale, written straight into the tables with set-based SQL: managers, then
 * students in batches (sold over the last `years` years, 1 by default, paid 290–990, 0 to all modules completed, their
 * heartbeats, achievements, activity feed and certificates). Every value comes from a hash of the seed
 * and the student's number, so the same seed gives the same data, in any batch size, and a larger
 * run extends a smaller one (students from..to).
 */
import type postgres from "postgres";

export interface ScaleOptions {
  /** Students numbered [from, to) are written; managers must exist already (see `writeManagers`). */
  from: number;
  to: number;
  managers: number;
  seed: number;
  /** Years the sales are spread over, ending now (the same students, only their dates differ); default 1. */
  years?: number;
  batchSize?: number;
  /** Called after every batch with the number of students written so far in this call. */
  onProgress?: (done: number, total: number) => void;
}

/** The managers: `count` users with role manager (and their logins), deterministic from the seed. */
export async function writeManagers(
  sql: postgres.Sql,
  count: number,
  seed: number,
  years = 1,
): Promise<void> {
  const since = `${Math.ceil(365 * years) + 35} days`;
  await sql.begin(async (tx) => {
    await tx`
      insert into auth.users (instance_id, id, aud, role, email, encrypted_password, raw_app_meta_data,
                              created_at, updated_at)
      -- Ids: an md5 shaped as a version-4 UUID (version and variant digits set), as GoTrue's ids are, so every
      -- answer that carries one parses as a uuid.
      select '00000000-0000-0000-0000-000000000000',
             overlay(overlay(md5(format('tw:%s:manager:%s', ${seed}::int, k)) placing '4' from 13) placing '8' from 17)::uuid,
             'authenticated', 'authenticated', format('manager.%s.%s@scale.tripwire.local', ${seed}::int, k), '',
             '{"provider": "email", "providers": ["email"], "role": "manager", "platform": "tripwire"}',
             now() - ${since}::interval, now() - ${since}::interval
      from generate_series(0, ${count - 1}::int) as k
      on conflict (id) do nothing`;
    await tx`
      insert into public.users (id, email, full_name, role, created_at)
      select overlay(overlay(md5(format('tw:%s:manager:%s', ${seed}::int, k)) placing '4' from 13) placing '8' from 17)::uuid,
             format('manager.%s.%s@scale.tripwire.local', ${seed}::int, k),
             format('Manager %s', k + 1), 'manager', now() - ${since}::interval
      from generate_series(0, ${count - 1}::int) as k
      on conflict (id) do nothing`;
  });
}

/** Writes students [from, to) in batches, one transaction each. */
export async function writeStudents(sql: postgres.Sql, options: ScaleOptions): Promise<void> {
  const batchSize = options.batchSize ?? 50_000;
  const total = options.to - options.from;
  for (let start = options.from; start < options.to; start += batchSize) {
    const end = Math.min(start + batchSize, options.to);
    await sql.begin((tx) => writeBatch(tx, start, end, options));
    options.onProgress?.(end - options.from, total);
  }
}

async function writeBatch(tx: postgres.TransactionSql, from: number, to: number, options: ScaleOptions) {
  const seed = options.seed;
  // A bulk load of rows that are consistent by construction: skip the per-row foreign-key checks (as
  // pg_restore does), which otherwise cost a third of the time. Needs a superuser, as the local one is.
  await tx`set local session_replication_role = replica`;
  // Who each student is, when they bought, what they paid, how far they got.
  await tx`
    create temp table scale_batch on commit drop as
    with course as (select count(*)::int as modules from public.tripwire_modules),
    numbered as (
      select n,
             abs(hashtextextended(format('%s:%s:a', ${seed}::int, n), 0)) as h1,
             abs(hashtextextended(format('%s:%s:b', ${seed}::int, n), 0)) as h2,
             abs(hashtextextended(format('%s:%s:c', ${seed}::int, n), 0)) as h3
      from generate_series(${from}::int, ${to - 1}::int) as n
    ),
    people as (
      select n, h1, h2, h3,
             overlay(overlay(md5(format('tw:%s:student:%s', ${seed}::int, n)) placing '4' from 13) placing '8' from 17)::uuid as id,
             format('student.%s.%s@scale.tripwire.local', ${seed}::int, n) as email,
             format('Student %s', n) as full_name,
             overlay(overlay(md5(format('tw:%s:manager:%s', ${seed}::int, h1 % ${options.managers}::int))
                             placing '4' from 13) placing '8' from 17)::uuid as manager_id,
             now() - make_interval(secs => (h2 % ${
    Math.round((options.years ?? 1) * 365 * 86400)
  }::bigint)::double precision)
               as created_at,
             (array[290, 490, 490, 690, 990])[1 + (h3 % 5)::int]::numeric(12, 2) as amount,
             least(course.modules, (array[0, 0, 0, 0, 1, 1, 1, 2, 2, 3])[1 + (h1 / 7 % 10)::int]) as done,
             course.modules
      from numbered cross join course
    )
    select *,
           -- each completed module takes "step" of the time since the sale
           (now() - created_at) * ((1 + h2 / 7 % 90) / 100.0) / (modules + 1) as step,
           ((h3 / 11) % 79) / 100.0 as current_share
    from people`;
  await tx`
    insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                            raw_app_meta_data, created_at, updated_at)
    select '00000000-0000-0000-0000-000000000000', id, 'authenticated', 'authenticated', email, '', created_at,
           jsonb_build_object('provider', 'email', 'providers', array['email'], 'role', 'student',
                              'platform', 'tripwire', 'granted_by', manager_id),
           created_at, created_at
    from scale_batch`;
  await tx`
    insert into public.users (id, email, full_name, role, created_at, updated_at)
    select id, email, full_name, 'student', created_at, created_at from scale_batch`;
  await tx`
    insert into public.tripwire_users (user_id, email, full_name, granted_by, status, payment_amount,
                                       welcome_email_sent, welcome_email_sent_at, created_at, updated_at)
    select id, email, full_name, manager_id,
           (case when done = modules then 'completed' else 'active' end)::public.student_status, amount,
           true, created_at, created_at, created_at
    from scale_batch`;
  // Written here: the load runs without triggers, so tripwire_users_activity_rows does not add them.
  await tx`
    insert into private.student_activity (user_id, last_activity_at)
    select id,
           -- the last heartbeat of the lesson being watched, else the last completion (as the tracking rows say)
           case when current_share > 0 and done < modules then created_at + step * (done + 0.5)
                when done > 0 then created_at + step * done end
    from scale_batch`;
  // Modules by position, with the time each was completed (done ones) or unlocked.
  await tx`
    create temp table scale_modules on commit drop as
    select b.id as user_id, m.id as module_id, m.position, b.done, b.modules,
           b.created_at + b.step * (m.position - 1) as unlocked_at,
           case when m.position <= b.done then b.created_at + b.step * m.position end as completed_at,
           b.created_at + b.step * (b.done + 0.5) as last_activity_at, b.current_share
    from scale_batch b
    join public.tripwire_modules m on m.position <= least(b.done + 1, b.modules)`;
  await tx`
    insert into public.tripwire_module_unlocks (user_id, module_id, unlocked_at, completed_at, created_at, updated_at)
    select user_id, module_id, unlocked_at, completed_at, unlocked_at, coalesce(completed_at, unlocked_at)
    from scale_modules`;
  await tx`
    insert into public.student_progress (user_id, lesson_id, status, watch_percentage, started_at, completed_at,
                                         created_at, updated_at)
    select s.user_id, l.id,
           case when s.completed_at is not null then 'completed' when s.current_share > 0 then 'in_progress'
                else 'not_started' end,
           case when s.completed_at is not null then 100 else round(s.current_share * 100, 2) end,
           case when s.completed_at is not null or s.current_share > 0 then s.unlocked_at end,
           s.completed_at, s.unlocked_at, coalesce(s.completed_at, s.unlocked_at)
    from scale_modules s join public.tripwire_lessons l on l.module_id = s.module_id`;
  await tx`
    insert into public.video_tracking (user_id, lesson_id, watched_ranges, watched_seconds, watch_percentage, status,
                                       qualified_at, heartbeat_count, last_position_seconds, last_heartbeat_at,
                                       created_at, updated_at)
    select s.user_id, l.id,
           case when watched > 0 then nummultirange(numrange(0, watched)) else '{}' end,
           watched, round(watched * 100 / l.video_duration_seconds, 2),
           case when s.completed_at is not null then 'completed' when watched > 0 then 'in_progress'
                else 'not_started' end,
           s.completed_at, ceil(watched / 10)::int, watched,
           case when watched > 0 then coalesce(s.completed_at, s.last_activity_at) end,
           s.unlocked_at, coalesce(s.completed_at, s.last_activity_at)
    from scale_modules s
    join public.tripwire_lessons l on l.module_id = s.module_id
    cross join lateral (
      select round(case when s.completed_at is not null then l.video_duration_seconds
                        else l.video_duration_seconds * s.current_share end, 2) as watched
    ) w`;
  await tx`
    insert into public.tripwire_user_profile (user_id, current_module_id, modules_completed, total_modules,
                                              completion_percentage, certificate_issued_at, created_at, updated_at)
    select b.id, (select m.id from public.tripwire_modules m where m.position = b.done + 1), b.done, b.modules,
           round(b.done * 100.0 / b.modules, 2),
           case when b.done = b.modules then b.created_at + b.step * b.modules end,
           b.created_at, b.created_at
    from scale_batch b`;
  await tx`
    insert into public.user_statistics (user_id, lessons_completed, modules_completed, total_watch_seconds,
                                        achievements_unlocked, created_at, updated_at)
    select b.id,
           (select count(*) from public.tripwire_lessons l join public.tripwire_modules m on m.id = l.module_id
            where m.position <= b.done),
           b.done,
           (select coalesce(sum(v.watched_seconds), 0) from public.video_tracking v where v.user_id = b.id),
           (case when b.done >= 1 then 2 else 0 end) + (case when b.done >= 2 then 1 else 0 end)
             + (case when b.done = b.modules then 1 else 0 end),
           b.created_at, b.created_at
    from scale_batch b`;
  await tx`
    insert into public.user_achievements (user_id, achievement_code, unlocked_at, created_at, updated_at)
    select b.id, a.code,
           case a.code
             when 'first_lesson' then case when b.done >= 1 then b.created_at + b.step end
             when 'attentive_viewer' then case when b.done >= 1 then b.created_at + b.step end
             when 'halfway' then case when b.done >= 2 then b.created_at + b.step * 2 end
             when 'graduate' then case when b.done = b.modules then b.created_at + b.step * b.modules end
           end,
           b.created_at, b.created_at
    from scale_batch b cross join public.achievements a`;
  await tx`
    insert into public.certificates (user_id, certificate_number, full_name, course, issued_at, created_at, updated_at)
    select b.id,
           format('TW-%s-%s', to_char(b.created_at + b.step * b.modules, 'YYYY'),
                  lpad(nextval('private.certificate_number_seq')::text, 6, '0')),
           b.full_name, course.snapshot, b.created_at + b.step * b.modules, b.created_at + b.step * b.modules,
           b.created_at + b.step * b.modules
    from scale_batch b
    cross join (select private.course_snapshot() as snapshot) course
    where b.done = b.modules
    order by b.n`;
  // The feed: the sale, every completed lesson and unlocked module, the certificate.
  await tx`
    insert into public.sales_activity_log (manager_id, student_id, event_type, details, created_at)
    select manager_id, student_id, event_type::public.activity_event_type, details, at from (
      select b.manager_id, b.id as student_id, 'user_created' as event_type, b.created_at as at,
             jsonb_build_object('student_email', b.email, 'student_name', b.full_name, 'manager_name', u.full_name,
                                'payment_amount', b.amount) as details
      from scale_batch b join public.users u on u.id = b.manager_id
      union all
      select b.manager_id, b.id, 'lesson_completed', s.completed_at,
             jsonb_build_object('student_name', b.full_name, 'lesson_id', l.id, 'lesson_title',
                                private.localize(l.title, private.content_language(null)),
                                'watch_percentage', 100)
      from scale_modules s join scale_batch b on b.id = s.user_id join public.tripwire_lessons l on l.module_id = s.module_id
      where s.completed_at is not null
      union all
      select b.manager_id, b.id, 'module_unlocked', s.unlocked_at,
             jsonb_build_object('student_name', b.full_name, 'module_id', s.module_id, 'module_title',
                                private.localize(m.title, private.content_language(null)))
      from scale_modules s join scale_batch b on b.id = s.user_id join public.tripwire_modules m on m.id = s.module_id
      where s.position > 1
      union all
      select b.manager_id, b.id, 'certificate_issued', c.issued_at,
             jsonb_build_object('student_name', b.full_name, 'certificate_number', c.certificate_number)
      from scale_batch b join public.certificates c on c.user_id = b.id
    ) events
    order by at`;
}

/** Students already written for this seed: the next `from`. */
export async function countScaleStudents(sql: postgres.Sql, seed: number): Promise<number> {
  const [row] = await sql<{ count: number }[]>`
    select count(*)::int as count from public.tripwire_users
    where email like ${`student.${seed}.%@scale.tripwire.local`}`;
  return row.count;
}
