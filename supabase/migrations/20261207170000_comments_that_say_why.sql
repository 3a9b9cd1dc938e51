-- Comments that say why (issue: labelled rooms). The schema carried the what but not the why: none of its
-- SQL functions and few tables had a comment. Every table, view, function, policy and enum now says why it exists,
-- and supabase/schemas/ (npm run gen) carries it; tests/migrations_test.ts fails an object without one.


comment on table public.users is
  'Everyone who signs in: staff (managers, admins) and students, one row per Supabase Auth login, with the role every policy and function checks. The row outlives its login: login_deleted_at says Auth removed it, erased_at that the person was erased (tombstones keep the books), deactivated_at that a staff member left.';

comment on table public.tripwire_user_profile is
  'A student''s place in the course, kept beside the progress rows so the dashboard reads it in one lookup: the current module, modules completed of all, and when the certificate was issued.';

comment on table public.achievements is
  'The catalogue of achievements a student can earn, in order; each student gets a locked row per achievement when created (user_achievements).';

comment on table public.course is
  'The course itself, one row: its title, description and the sentence its certificate prints, each in the academy''s languages (npm run bootstrap loads supabase/course.json).';

comment on table public.tripwire_modules is
  'The course''s modules, in order: finishing one unlocks the next, and the last one earns the certificate.';

comment on table public.tripwire_lessons is
  'A module''s video lessons: where the video is (a private Storage object), its length, and the share that must really be watched (min_watch_percentage, 80) before the lesson can be completed.';

comment on table public.certificates is
  'A student''s certificate, issued once when the last module is completed: its public number and verification code, and the name and course frozen as they were at issue so a later change cannot rewrite it. A full refund revokes it (revoked_at); it is never deleted.';

comment on table public.student_progress is
  'Per student and lesson: started, then completed once watching qualified it. The first lesson''s row is written with the student; a later lesson''s when its module unlocks.';

comment on table public.tripwire_module_unlocks is
  'Which modules a student may watch: a row per unlocked module (the first at creation, the next when one is finished), completed_at when all its lessons are.';

comment on table public.user_achievements is
  'A student''s achievements: every one written locked at creation, unlocked_at set when earned, so the dashboard lists them without a join to what is missing.';

comment on table public.user_statistics is
  'A student''s running totals (lessons and modules completed, seconds watched, achievements), kept by the writes that change them so the dashboard and the staff lists never sum history.';

comment on table public.video_tracking is
  'What a student really watched of a lesson: the union of the watched ranges (watched_ranges, overlaps counted once), the seconds and share credited, and the plausibility and rate buckets a heartbeat must pass (credit_clock_at, heartbeat tokens). The truth behind the 80 % rule; only private.record_heartbeats writes it.';

comment on table public.tripwire_users is
  'A sale: the student a manager (granted_by) sold the course to, what was paid and refunded, and the access status. Money here is the books: refunded_amount only grows through public.student_refunds.';

comment on table public.student_refunds is
  'Every refund of a sale, append-only: who took it, how much and why. Inserting one adds it to tripwire_users.refunded_amount in the same statement, so the two cannot disagree.';

comment on table public.sales_activity_log is
  'The managers'' activity feed: what happened to their students (created, lessons and modules completed, certificate, refunds, status changes), with the details each event type carries (_domain/activity.ts).';

comment on table private.email_outbox is
  'E-mails to people, written in the transaction that makes them necessary and sent after commit; a refused one is retried from here with backoff. A password travels only sealed, and is dropped once sent.';

comment on table private.idempotency_keys is
  'Idempotency-Key per manager: the first request owns the key, a retry with the same body gets the stored answer (its password sealed), another body gets 422. Purged after expires_at by the housekeeping.';

comment on table analytics.settings is
  'The academy''s settings, one row: its time zone, language and currency, the payment ceiling, rates (creations and paid orders a minute), refund and stall rules, the default manager for orders, and how far the analytics history is closed. Changes are audited by a trigger.';

comment on table analytics.manager_daily_history is
  'Per manager and closed academy day: students created and started, net revenue, refunds, lessons and certificates. A closed day never changes, so the minute refresh only adds the days that ended.';

comment on table analytics.manager_period_totals is
  'Per manager, the closed days of this week, this month and all time, summed once; closed_through says the last day each holds, so a refresh that finds history rewritten recomputes instead of adding twice.';

comment on table analytics.manager_open_days is
  'Per manager, the academy days not closed yet (today, and yesterday for 15 minutes): rewritten by every minute refresh from range scans over today.';

comment on table analytics.academy_daily_totals is
  'All managers together per academy day, for the admin''s chart: closed days once, open days rewritten by the refresh.';

comment on table analytics.leaderboard_standings is
  'The leaderboard as last refreshed: four periods (day, week, month, all) times the managers, each with closed totals plus open days, ranked. Read by get_sales_leaderboard.';

comment on table analytics.refresh_log is
  'How long each step of the last refreshes took and how many rows it touched: the Status report and the figures'' refreshed_at read it.';

comment on type public.student_status is
  'Where a sale stands: active (learning), completed (certified), suspended or refunded (access ended). Changed only by the functions'' status rules and refunds, each audited.';

comment on type public.access_revoking_status is
  'The statuses that end access, asked through private.access_revoked(): one list for policies, indexes and the heartbeat.';

comment on type public.activity_event_type is
  'What the managers'' feed can say happened; each type''s details are defined once in _domain/activity.ts.';

comment on view analytics.manager_daily_totals is
  'Per manager and academy day, closed history and open days as one: what the chart and the stats read.';

comment on function private.can_read_student is
  'Row level security: may the signed-in caller read this student''s rows? The student, the manager who sold them, or an admin; anyone deactivated, no one.';

comment on function private.is_admin is
  'Row level security: is the signed-in caller an active admin?';

comment on function private.changed_fields is
  'The audit''s diff of two row images: each changed field before and after, the ignored ones left out and personal values shown as (personal), so the trail proves a change without holding the data.';

comment on function private.note_deleted_login is
  'Trigger on auth.users: when Supabase Auth deletes a login, public.users notes it (login_deleted_at) instead of losing the person, whose sales and books stay.';

comment on function private.refuse_change is
  'Trigger for append-only tables (refunds, the audit log): refuses any update, delete or truncate, so history is only ever added to.';

comment on function private.set_updated_at is
  'Trigger: sets updated_at on every update, so no writer has to remember it.';

comment on function private.certificate_course is
  'The course as a certificate names it, in one language: its title and the certificate''s sentence with the student''s name in it.';

comment on function private.content_language is
  'The language content is given in: the one asked for when the academy has it (ru, en), otherwise the academy''s own (analytics.settings.language).';

comment on function private.course_snapshot is
  'The whole course as one JSON value (titles, modules, lessons): what a certificate freezes at issue, and what tests hold the scale generator to.';

comment on function private.localize is
  'A localized text''s value in one language, falling back to Russian (the academy''s first language), then to a plain string.';

comment on function private.credit_watch is
  'The heart of the 80 % rule: merges a heartbeat''s ranges into what was watched, credits at most `allowance` new seconds (what the wall clock allows at 2x plus tolerance) and refuses a heartbeat that would fragment the row past max_ranges. Overlaps count once.';

comment on function private.student_dashboard is
  'A student''s home screen in one statement: the course with every module''s and lesson''s state, progress, achievements, certificate and statistics, in the reader''s language.';

comment on function private.access_revoked is
  'Does this status end access? True for the statuses in public.access_revoking_status (refunded, suspended): one definition for policies, functions and the session check.';

comment on function private.add_refund_to_sale is
  'Trigger on a new refund: adds it to its sale''s refunded_amount in the same statement (waiting for any other refund of that sale first), and lets the CHECK hold the total to what was paid.';

comment on function private.refunded_amount_kept_by_refunds is
  'Trigger: refuses a change to tripwire_users.refunded_amount that does not come from a row in public.student_refunds, so money refunded always has its record.';

comment on function analytics.caller_scope is
  'Whose figures the caller may read: a manager their own (asking for another''s is refused), an admin anyone''s or everyone''s (null). Every analytics RPC starts here.';

comment on function analytics.check_page_size is
  'Refuses a page size outside 1..max_page_size() with a clear error, before any reading.';

comment on function analytics.count_student_status_change is
  'Trigger on a student''s status or manager changing: moves one student between the counts of analytics.manager_student_statuses, so students_active is read, never counted.';

comment on function analytics.count_student_statuses is
  'Statement trigger on students inserted or deleted: one grouped change of analytics.manager_student_statuses per manager and status, however many rows (a bulk insert costs one upsert each).';

comment on function analytics.daily_net_facts is
  'Per manager and academy day in a range: students created and started, net revenue (a refund on its own day), lessons and certificates, from the base tables. Planned for each call (force_custom_plan): the minute''s range by index, a rebuild''s by scans.';

comment on function analytics.max_chart_days is
  'The longest range the sales chart answers, in days.';

comment on function analytics.max_page_size is
  'The largest page an analytics RPC answers.';

comment on function analytics.period_start is
  'The first academy day of a period (day, week, month, all) in the academy''s time zone.';

comment on function analytics.record_refresh_step is
  'Notes one step of a refresh in analytics.refresh_log (its duration and rows) and returns it for the refresh''s report.';

comment on function analytics.refresh_sales_stats is
  'The minute refresh (under an advisory lock): closes the days that ended into history and period totals, rewrites the open days and the standings; with rebuild, recomputes everything from the base tables (nightly, and after a time zone change). Its cost follows what happened since the last run, not history.';

comment on function analytics.refreshed_at is
  'When the figures were last refreshed: the oldest step of the last refresh, so an answer never claims fresher than its stalest part.';

comment on function analytics.reset_period_totals is
  'Recomputes one period''s totals from history when a new period begins (or history was rewritten).';

comment on function analytics.set_time_zone is
  'Changes the academy''s time zone and rebuilds the figures, since every day boundary moves.';

comment on function public.get_manager_activity is
  'RPC: the activity feed, newest first, a page before a cursor; a manager''s own, an admin''s any manager''s or everyone''s. Runs as the caller; reads live rows.';

comment on function public.get_manager_stats is
  'RPC: one manager''s figures for each period as of the last refresh (a manager their own, an admin anyone''s). Runs as the caller.';

comment on function public.get_sales_chart_data is
  'RPC: net revenue and sales per academy day over a range (the last 30 days by default), for a manager or the whole academy. Runs as the caller.';

comment on function public.get_sales_leaderboard is
  'RPC: the managers ranked for a period (day, week, month, all) as of the last refresh. Runs as the caller; any signed-in staff member may read it.';

comment on function private.audit_database_change is
  'Trigger: audits changes to staff and settings made in SQL (the dashboard, a migration, the functions), naming the acting staff member when the functions set tripwire.actor_id and otherwise the database role.';

comment on function private.erase_person is
  'Erasure: replaces who a person was with tombstones (name, e-mail, phone, the certificate''s name and a new verification code, the feed''s details, a held order''s payer), deletes their e-mails, keys and events, and keeps the books (the sale, refunds, figures) the academy must keep.';

comment on function private.person_export is
  'Everything the academy holds about a person as one JSON document (account, login, purchase, refunds, progress and watching, achievements, certificate, feed, e-mails, audit entries): an admin''s export and the student''s own.';

comment on function private.call_scheduler_route is
  'pg_cron''s way into a function: POSTs to a scheduler route (refresh, e-mail retries, deliveries) through pg_net with the project''s URL and secret key from Vault. Without those secrets it calls nothing and raises a warning naming the route.';

comment on function private.event_lesson is
  'A lesson as events carry it (id, title in the academy''s language, module): one shape for every event.';

comment on function private.event_student is
  'A student as events carry it (id, e-mail, name, phone, status, manager, amounts): one shape for every event.';

comment on function private.prepare_webhooks is
  'The scheduler''s step before deliveries: notices students who stalled (student.stalled), fans new events out into a delivery per subscribed endpoint, and purges what is past retention.';

-- PostgREST's watches are ours only where Supabase's image did not bring its own (the baseline's roles_and_users).
do $comments$
begin
  if pg_catalog.to_regprocedure('private.pgrst_ddl_watch()') is not null then
    comment on function private.pgrst_ddl_watch is
      'Event trigger, only where the database has none of Supabase''s own (its image ships extensions.pgrst_ddl_watch): tells PostgREST to reload its schema cache after DDL that changes the API, so supabase.rpc() sees new functions at once.';
  end if;
  if pg_catalog.to_regprocedure('private.pgrst_drop_watch()') is not null then
    comment on function private.pgrst_drop_watch is
      'Event trigger, only where the database has none of Supabase''s own: tells PostgREST to reload its schema cache after a drop.';
  end if;
end
$comments$;

comment on policy "Users, their managers and admins read user rows" on public.users is
  'A person reads their own row, a manager their students'', an admin everyone''s; writes go through the functions.';

comment on policy "Students, their managers and admins read profiles" on public.tripwire_user_profile is
  'Read by the student, the manager who sold them and admins (private.can_read_student).';

comment on policy "Signed-in users read the achievement catalogue" on public.achievements is
  'The catalogue is not personal: anyone signed in reads it.';

comment on policy "Signed-in users read the course" on public.course is
  'The course is what was sold: anyone signed in reads it.';

comment on policy "Signed-in users read the course lessons" on public.tripwire_lessons is
  'Lessons are listed to anyone signed in; the videos themselves are signed per student (video-tracking).';

comment on policy "Signed-in users read the course modules" on public.tripwire_modules is
  'Modules are listed to anyone signed in; what a student may watch is tripwire_module_unlocks.';

comment on policy "Students, their managers and admins read certificates" on public.certificates is
  'Read by the student, their manager and admins; the public check goes through complete-lesson, which shows only what a certificate proves.';

comment on policy "Students, their managers and admins read progress" on public.student_progress is
  'Read by the student, the manager who sold them and admins (private.can_read_student).';

comment on policy "Students, their managers and admins read module unlocks" on public.tripwire_module_unlocks is
  'Read by the student, the manager who sold them and admins (private.can_read_student).';

comment on policy "Students, their managers and admins read achievements" on public.user_achievements is
  'Read by the student, the manager who sold them and admins (private.can_read_student).';

comment on policy "Students, their managers and admins read statistics" on public.user_statistics is
  'Read by the student, the manager who sold them and admins (private.can_read_student).';

comment on policy "Students, their managers and admins read video tracking" on public.video_tracking is
  'Read by the student, the manager who sold them and admins; only private.record_heartbeats writes it.';

comment on policy "Managers read their own feed and admins read every feed" on public.sales_activity_log is
  'A manager reads the feed of their own students, an admin every manager''s.';

comment on policy "Students, their managers and admins read refunds" on public.student_refunds is
  'Read by the student, the manager who sold them and admins; refunds are taken through the students function only.';

comment on policy "Students, their managers and admins read student accounts" on public.tripwire_users is
  'Read by the student, the manager who sold them and admins; every change goes through the functions.';
