import assert from "node:assert/strict";
import postgres from "postgres";
import { cliUrl, runSupabaseCli } from "../scripts/lib/database.ts";
import { openSession } from "../scripts/lib/local_stack.ts";
import { createMigratedDatabase } from "./support/database.ts";
import { aida, insertStudent } from "./support/fixtures.ts";

/**
 * Every non-unique index and the hot query it exists for. The advisors' `unused_index` lint reads
 * runtime statistics, so each query is run once (and must really use its index) before they check.
 */
const hotPaths: Record<string, string> = {
  tripwire_users_manager_newest: `select user_id from public.tripwire_users where granted_by = '${aida.id}'
    order by created_at desc, user_id desc limit 20`,
  tripwire_users_revoked_by_manager: `select count(*) from public.tripwire_users
    where granted_by = '${aida.id}' and private.access_revoked(status)`,
  tripwire_users_active_by_manager:
    `select count(*) from public.tripwire_users where granted_by = '${aida.id}' and status = 'active'`,
  student_activity_day: `select user_id from private.student_activity
    where activity_day >= current_date - '1970-01-01'::date - 31
    order by activity_day desc, last_activity_at desc limit 20`,
  tripwire_users_newest:
    `select user_id from public.tripwire_users order by created_at desc, user_id desc limit 20`,
  tripwire_users_search: `select user_id from public.tripwire_users
    where lower(full_name) || ' ' || email like '%bolat%'`,
  student_refunds_user_id:
    `select id from public.student_refunds where user_id = '00000000-0000-4000-8000-000000000000'`,
  student_refunds_refunded_by:
    `select id from public.student_refunds where refunded_by = '00000000-0000-4000-8000-000000000000'`,
  student_refunds_created_at: `select id from public.student_refunds order by created_at desc limit 10`,
  tripwire_user_profile_current_module_id:
    `select user_id from public.tripwire_user_profile where current_module_id = 16`,
  tripwire_module_unlocks_module_id:
    `select user_id from public.tripwire_module_unlocks where module_id = 16`,
  student_progress_lesson_id: `select user_id from public.student_progress where lesson_id = 67`,
  student_progress_completed_at: `select user_id from public.student_progress
    where status = 'completed' and completed_at >= now() - interval '1 day'`,
  student_progress_started_at: `select user_id, min(started_at) from public.student_progress
    where started_at >= now() - interval '1 day' and started_at < now() group by 1`,
  video_tracking_lesson_id: `select user_id from public.video_tracking where lesson_id = 67`,
  user_achievements_achievement_code:
    `select user_id from public.user_achievements where achievement_code = 'graduate'`,
  certificates_issued_at:
    `select certificate_number from public.certificates order by issued_at desc limit 10`,
  sales_activity_log_manager_feed: `select id from public.sales_activity_log
    where manager_id = '${aida.id}' order by created_at desc, id desc limit 20`,
  sales_activity_log_created_at: `select id from public.sales_activity_log
    order by created_at desc, id desc limit 20`,
  sales_activity_log_student_id:
    `select id from public.sales_activity_log where student_id = '00000000-0000-4000-8000-000000000000'`,
  sales_activity_log_event_created_at: `select count(*) from public.sales_activity_log
    where event_type = 'user_created' and created_at >= now() - interval '1 day'`,
  email_outbox_due: `select id from private.email_outbox
    where status = 'queued' and next_attempt_at <= now() order by next_attempt_at limit 10`,
  email_outbox_user_id:
    `select id from private.email_outbox where user_id = '00000000-0000-4000-8000-000000000000'`,
  users_managers: `select id, full_name from public.users where role = 'manager'`,
  users_staff: `select id from public.users where role in ('manager', 'admin')`,
  manager_daily_history_day:
    `select manager_id from analytics.manager_daily_history where day > current_date - 1`,
  idempotency_keys_expires_at: `select manager_id from private.idempotency_keys where expires_at < now()`,
  audit_log_target:
    `select id from private.audit_log where target_id = '${aida.id}' order by id desc limit 20`,
  audit_log_actor: `select id from private.audit_log where actor_id = '${aida.id}' order by id desc limit 20`,
  payment_orders_student: `select order_id from private.payment_orders where student_id = '${aida.id}'`,
  payment_refunds_order:
    `select refund_id from private.payment_refunds where provider = 'standard' and order_id = 'A-1'`,
  payment_refunds_student_refund: `select refund_id from private.payment_refunds where student_refund_id = 1`,
  payment_reviews_open:
    `select id from private.payment_reviews where resolved_at is null order by id desc limit 21`,
  payment_reviews_student: `select id from private.payment_reviews where student_id = '${aida.id}'`,
  webhook_endpoints_created_by: `select id from private.webhook_endpoints where created_by = '${aida.id}'`,
  webhook_events_to_fan_out:
    `select id from private.webhook_events where not fanned_out order by id limit 5000`,
  webhook_events_student: `select id from private.webhook_events where student_id = '${aida.id}'`,
  webhook_events_created_at: `select id from private.webhook_events
    where created_at < now() - interval '30 days' and fanned_out`,
  webhook_deliveries_endpoint_due: `select id from private.webhook_deliveries
    where endpoint_id = '${aida.id}' and status = 'pending' and next_attempt_at <= now()
    order by next_attempt_at limit 8`,
  webhook_deliveries_event: `select id from private.webhook_deliveries where event_id = 1`,
  webhook_deliveries_endpoint_newest: `select id from private.webhook_deliveries
    where endpoint_id = '${aida.id}' order by id desc limit 50`,
  webhook_attempts_delivery:
    `select id from private.webhook_attempts where delivery_id = 1 order by id desc limit 10`,
  main_course_purchases_student: `select purchase_id from private.main_course_purchases
    where student_id = '${aida.id}' and refunded_at is null`,
  main_course_purchases_received: `select student_id from private.main_course_purchases
    where received_at >= now() - interval '15 minutes' and student_id is not null`,
  main_course_purchases_refund_received: `select student_id from private.main_course_purchases
    where refund_received_at >= now() - interval '15 minutes' and student_id is not null`,
  main_course_purchases_unmatched: `select purchase_id from private.main_course_purchases
    where student_id is null order by received_at desc, purchase_id desc limit 21`,
  student_funnel_buyers: `select bought_at from analytics.student_funnel
    where bought_at is not null and manager_id = '${aida.id}' and sold_on between current_date - 29 and current_date`,
  student_funnel_buyers_by_day: `select bought_at from analytics.student_funnel
    where bought_at is not null and sold_on between current_date - 29 and current_date`,
  upgrade_link_opens_last: `select student_id from private.upgrade_link_opens
    where last_opened_at >= now() - interval '15 minutes'`,
};

Deno.test("every index serves its hot query, and `supabase db advisors` reports no issue", async () => {
  const database = await createMigratedDatabase();
  try {
    await insertStudent(database.sql, {
      managerId: aida.id,
      email: "advisor@example.kz",
      fullName: "Advisor",
    });
    const indexes = await database.sql<{ name: string }[]>`
      select c.relname as name from pg_index i join pg_class c on c.oid = i.indexrelid
      where c.relnamespace in ('public'::regnamespace, 'private'::regnamespace, 'analytics'::regnamespace)
        and not i.indisunique and not i.indisprimary
      order by 1`;
    assert.deepEqual(
      indexes.map((i) => i.name),
      Object.keys(hotPaths).sort(),
      "each index needs its hot path",
    );

    // One connection, ended afterwards, so its statistics are flushed before the advisors read them.
    const session = postgres(database.url, { max: 1, onnotice: () => {} });
    try {
      // A table of one student costs everything alike: no scans of the whole table, and no sorts where an
      // index gives the order, as at any real size.
      await session`set enable_seqscan = off`;
      await session`set enable_sort = off`;
      for (const [index, query] of Object.entries(hotPaths)) {
        const [plan] = await session.unsafe(`explain (format json) ${query}`);
        assert.match(
          JSON.stringify(plan),
          new RegExp(`"Index Name":"${index}"`),
          `${index} is not used by its query`,
        );
        await session.unsafe(query);
      }
    } finally {
      await session.end();
    }

    const output = await runSupabaseCli([
      "db",
      "advisors",
      "--type",
      "all",
      "--level",
      "info",
      "--fail-on",
      "info",
      "--output-format",
      "json",
      `--remote=${cliUrl(database.url)}`,
    ]);
    const report = JSON.parse(output.slice(output.indexOf("{")));
    assert.deepEqual(report.results ?? [], [], output);
  } finally {
    await database.drop();
  }
});

Deno.test("the API roles can read no table outside public: RPCs are the only door to analytics", async () => {
  const database = await createMigratedDatabase();
  try {
    const readable = await database.sql<{ name: string; role: string; privilege: string }[]>`
      select format('%I.%I', n.nspname, c.relname) as name, r.role, p.privilege
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
      cross join (values ('anon'), ('authenticated')) as r (role)
      cross join (values ('select'), ('insert'), ('update'), ('delete')) as p (privilege)
      where c.relkind in ('r', 'v', 'm', 'p', 'f')
        and n.nspname not in ('public', 'pg_catalog', 'information_schema')
        and n.nspname not like 'pg\_%'
        and has_table_privilege(r.role, c.oid, p.privilege)
      order by 1, 2, 3`;
    assert.deepEqual([...readable], []);
    // And the RPCs still answer as before for a manager (the leaderboard tests hold their content).
    const session = await openSession(database.sql, aida.id);
    const [{ answer }] = await database.sql.begin(async (tx) => {
      await tx`select set_config('role', 'authenticated', true),
                      set_config('request.jwt.claims', ${
        JSON.stringify({ sub: aida.id, role: "authenticated", session_id: session })
      }, true)`;
      return await tx`select public.get_manager_stats() ->> 'manager_id' as answer`;
    });
    assert.equal(answer, aida.id);
  } finally {
    await database.drop();
  }
});
