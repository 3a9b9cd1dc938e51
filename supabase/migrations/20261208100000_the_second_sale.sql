-- The second sale (issue: the main course). The Main platform tells us, as signed Standard Webhooks, when a
-- person buys or refunds the academy's main course; each purchase is matched to the tripwire student (the
-- handoff token the upgrade link carried, else the e-mail) and credited to the manager who sold the tripwire.
-- An unmatched purchase is kept, with the buyer's e-mail, for an admin; nothing is dropped.

alter table academy.settings
  add column main_course_checkout_url text,
  add column main_course_offer_hours integer not null default 72,
  add column main_course_credits_tripwire boolean not null default true,
  add constraint settings_main_course_checkout_url_https
    check (main_course_checkout_url is null or main_course_checkout_url ~ '^https?://[^\s]+$'),
  add constraint settings_main_course_offer_hours_range
    check (main_course_offer_hours between 1 and 24 * 90);

comment on column academy.settings.main_course_checkout_url is
  'The main course''s checkout: a student who completed the course gets it with a personal handoff token (?handoff=…). Null: no upgrade link is offered.';
comment on column academy.settings.main_course_offer_hours is
  'How long after completing the course the upgrade offer holds (the handoff token''s offer deadline).';
comment on column academy.settings.main_course_credits_tripwire is
  'Whether the upgrade offer credits the tripwire''s price against the main course (said in the handoff token).';

create table private.main_course_purchases (
  purchase_id text primary key,
  -- No cascade: a student with a main-course purchase is never removed silently (money is never lost).
  student_id uuid references public.tripwire_users (user_id),
  -- The manager credited when it came (the student's granted_by): a record, not a key to follow.
  manager_id uuid,
  matched_by text,
  amount numeric(12, 2) not null,
  currency text not null,
  buyer_email text,
  purchased_at timestamptz not null,
  received_at timestamptz not null default now(),
  refund_id text,
  refunded_at timestamptz,
  refund_received_at timestamptz,
  constraint main_course_purchases_purchase_id_length check (char_length(purchase_id) between 1 and 200),
  constraint main_course_purchases_amount_positive check (amount > 0),
  constraint main_course_purchases_currency_iso_4217 check (currency ~ '^[A-Z]{3}$'),
  constraint main_course_purchases_matched_by_known check (matched_by in ('handoff', 'email')),
  constraint main_course_purchases_matched_has_student
    check ((matched_by is null) = (student_id is null)),
  -- A matched purchase keeps no e-mail: the student's own row has it (and erasure reaches it there).
  constraint main_course_purchases_email_only_unmatched check (student_id is null or buyer_email is null),
  constraint main_course_purchases_refund_whole
    check ((refund_id is null) = (refunded_at is null) and (refund_id is null) = (refund_received_at is null))
);

comment on table private.main_course_purchases is
  'Each purchase of the main course the Main platform told us of (main_course.purchased), once per purchase id, with its amount and currency as they came; matched to a tripwire student and credited to the manager who sold the tripwire, or kept unmatched for an admin. A refund (main_course.refunded) takes the credit back.';
comment on column private.main_course_purchases.matched_by is
  'How the buyer was recognised: the handoff token of the upgrade link (signed by the project), or the e-mail of a tripwire student; null while unmatched.';
comment on column private.main_course_purchases.buyer_email is
  'The buyer''s e-mail, kept only while the purchase is unmatched (so an admin can find the person).';

create index main_course_purchases_student on private.main_course_purchases (student_id);
comment on column private.main_course_purchases.refund_received_at is
  'When the refund reached us (refunded_at is when the Main platform says it happened): the conversion refresh reads changes by it.';

create index main_course_purchases_received on private.main_course_purchases (received_at);
create index main_course_purchases_refund_received on private.main_course_purchases (refund_received_at)
  where refund_received_at is not null;
create index main_course_purchases_unmatched on private.main_course_purchases (received_at desc, purchase_id)
  where student_id is null;

revoke all on table private.main_course_purchases from public, anon, authenticated, service_role;
grant insert, select, update on table private.main_course_purchases to service_role;

-- The conversion figures: sold → started → completed → bought the main course, by the tripwire sale's cohort.
-- Maintained as the leaderboard's are, so a read costs the days it covers, never the students: the minute
-- refresh (analytics.refresh_conversion) finds the students whose state changed since its last run (by the
-- base rows' own time indexes), recomputes each one's state, and moves the sums by the difference.

create table analytics.student_funnel (
  user_id uuid primary key references public.tripwire_users (user_id) on delete cascade,
  manager_id uuid not null,
  sold_on date not null,
  sold_at timestamptz not null,
  started_at timestamptz,
  completed_at timestamptz,
  bought_at timestamptz,
  revenue jsonb not null default '{}'
);
comment on table analytics.student_funnel is
  'Each student''s place in the funnel as the last conversion refresh saw it: sold (the cohort: manager and academy day of the sale), first lesson started, course completed, main course bought (the first purchase not refunded) and its revenue per currency. What the sums hold is exactly the sum of these rows.';
comment on column analytics.student_funnel.revenue is
  'The main course''s revenue from this student per currency ({"KZT": "150000.00"}): purchases not refunded.';
create index student_funnel_buyers on analytics.student_funnel (manager_id, sold_on)
  include (sold_at, completed_at, bought_at) where bought_at is not null;
create index student_funnel_buyers_by_day on analytics.student_funnel (sold_on)
  include (sold_at, completed_at, bought_at) where bought_at is not null;

create table analytics.conversion_days (
  manager_id uuid not null,
  sold_on date not null,
  sold integer not null default 0,
  started integer not null default 0,
  completed integer not null default 0,
  bought integer not null default 0,
  primary key (manager_id, sold_on)
);
comment on table analytics.conversion_days is
  'Per manager and academy day of the tripwire sale (the cohort): students sold, and how many of them started, completed and bought the main course.';

create table analytics.conversion_revenue (
  manager_id uuid not null,
  sold_on date not null,
  currency text not null,
  revenue numeric(20, 2) not null default 0,
  buyers integer not null default 0,
  primary key (manager_id, sold_on, currency)
);
comment on table analytics.conversion_revenue is
  'Per manager, sale day and currency: the main course''s revenue (purchases not refunded) from that cohort and how many of its students paid in that currency. Currencies are never added together.';

create table analytics.conversion_totals (
  manager_id uuid primary key,
  sold integer not null default 0,
  started integer not null default 0,
  completed integer not null default 0,
  bought integer not null default 0
);
comment on table analytics.conversion_totals is 'Per manager, all cohorts together: what "all time" reads.';

create table analytics.conversion_revenue_totals (
  manager_id uuid not null,
  currency text not null,
  revenue numeric(20, 2) not null default 0,
  buyers integer not null default 0,
  primary key (manager_id, currency)
);
comment on table analytics.conversion_revenue_totals is 'Per manager and currency, all cohorts together.';

revoke all on table analytics.student_funnel, analytics.conversion_days, analytics.conversion_revenue,
  analytics.conversion_totals, analytics.conversion_revenue_totals from public, anon, authenticated, service_role;
grant select on table analytics.student_funnel, analytics.conversion_days, analytics.conversion_revenue,
  analytics.conversion_totals, analytics.conversion_revenue_totals to service_role;

create table analytics.conversion_lags (
  manager_id uuid not null,
  measure text not null,
  days integer not null,
  buyers integer not null default 0,
  primary key (manager_id, measure, days),
  constraint conversion_lags_measure_known check (measure in ('sale', 'completion'))
);
comment on table analytics.conversion_lags is
  'All cohorts together: how many buyers bought the main course this many whole days after the tripwire sale (measure sale) or after completing the course (measure completion; buyers who completed first). The all-time medians read it.';
revoke all on table analytics.conversion_lags from public, anon, authenticated, service_role;
grant select on table analytics.conversion_lags to service_role;

comment on column analytics.conversion_days.manager_id is
  'The manager; the nil uuid (analytics.academy_scope()) holds the whole academy''s sums, so an admin''s read costs the days, not the managers.';

create function analytics.academy_scope()
  returns uuid
  language sql
  immutable
  set search_path = ''
as $$ select '00000000-0000-0000-0000-000000000000'::uuid $$;
comment on function analytics.academy_scope() is
  'The manager_id under which the conversion sums keep the whole academy''s figures (no manager has it).';

create function analytics.whole_days(from_time timestamptz, to_time timestamptz)
  returns integer
  language sql
  immutable
  set search_path = ''
as $$ select floor(extract(epoch from to_time - from_time) / 86400)::int $$;
comment on function analytics.whole_days(timestamptz, timestamptz) is
  'Whole days between two moments: what the medians to the purchase count in.';

-- Moves every sum by what `added` students' states bring minus what `removed` ones took: each state counts for
-- its manager and for the academy (analytics.academy_scope()); each table's rows in key order.
create function analytics.move_conversion_sums(added analytics.student_funnel[], removed analytics.student_funnel[])
  returns void
  language sql
  set search_path = ''
as $$
  with states as (
    select a.*, 1 as sign from unnest(added) a
    union all
    select r.*, -1 from unnest(removed) r
  ),
  scoped as (
    select s.*, sc.scope
    from states s cross join lateral (values (s.manager_id), (analytics.academy_scope())) as sc(scope)
  ),
  counts as (
    select c.scope as manager_id, c.sold_on, sum(c.sign)::int as sold,
           sum(c.sign * (c.started_at is not null)::int)::int as started,
           sum(c.sign * (c.completed_at is not null)::int)::int as completed,
           sum(c.sign * (c.bought_at is not null)::int)::int as bought
    from scoped c
    group by c.scope, c.sold_on
    having sum(c.sign) <> 0 or sum(c.sign * (c.started_at is not null)::int) <> 0
        or sum(c.sign * (c.completed_at is not null)::int) <> 0 or sum(c.sign * (c.bought_at is not null)::int) <> 0
  ),
  days as (
    insert into analytics.conversion_days as c (manager_id, sold_on, sold, started, completed, bought)
    select * from counts order by manager_id, sold_on
    on conflict (manager_id, sold_on) do update
      set sold = c.sold + excluded.sold, started = c.started + excluded.started,
          completed = c.completed + excluded.completed, bought = c.bought + excluded.bought
  ),
  totals as (
    insert into analytics.conversion_totals as c (manager_id, sold, started, completed, bought)
    select n.manager_id, sum(n.sold), sum(n.started), sum(n.completed), sum(n.bought)
    from counts n group by n.manager_id order by n.manager_id
    on conflict (manager_id) do update
      set sold = c.sold + excluded.sold, started = c.started + excluded.started,
          completed = c.completed + excluded.completed, bought = c.bought + excluded.bought
  ),
  money as (
    select c.scope as manager_id, c.sold_on, r.key as currency, sum(c.sign * r.value::numeric) as revenue,
           sum(c.sign)::int as buyers
    from scoped c cross join lateral jsonb_each_text(c.revenue) r
    group by c.scope, c.sold_on, r.key
    having sum(c.sign * r.value::numeric) <> 0 or sum(c.sign) <> 0
  ),
  money_days as (
    insert into analytics.conversion_revenue as c (manager_id, sold_on, currency, revenue, buyers)
    select * from money order by manager_id, sold_on, currency
    on conflict (manager_id, sold_on, currency) do update
      set revenue = c.revenue + excluded.revenue, buyers = c.buyers + excluded.buyers
  ),
  money_totals as (
    insert into analytics.conversion_revenue_totals as c (manager_id, currency, revenue, buyers)
    select m.manager_id, m.currency, sum(m.revenue), sum(m.buyers)
    from money m group by m.manager_id, m.currency order by m.manager_id, m.currency
    on conflict (manager_id, currency) do update
      set revenue = c.revenue + excluded.revenue, buyers = c.buyers + excluded.buyers
  ),
  lags as (
    select c.scope as manager_id, l.measure, l.days, sum(c.sign)::int as buyers
    from scoped c
    cross join lateral (values
      ('sale', analytics.whole_days(c.sold_at, c.bought_at)),
      ('completion', case when c.completed_at <= c.bought_at then analytics.whole_days(c.completed_at, c.bought_at) end)
    ) as l(measure, days)
    where c.bought_at is not null and l.days is not null
    group by c.scope, l.measure, l.days
    having sum(c.sign) <> 0
  )
  insert into analytics.conversion_lags as c (manager_id, measure, days, buyers)
  select * from lags order by manager_id, measure, days
  on conflict (manager_id, measure, days) do update set buyers = c.buyers + excluded.buyers
$$;
revoke all on function analytics.move_conversion_sums(analytics.student_funnel[], analytics.student_funnel[])
  from public, anon, authenticated, service_role;
comment on function analytics.move_conversion_sums(analytics.student_funnel[], analytics.student_funnel[]) is
  'Adds the added students'' states to the conversion sums and takes the removed ones'' out, for their managers and the academy.';


-- Recomputes the named students' states from the base rows and moves the sums by the difference.
create function analytics.apply_funnel_changes(touched uuid[])
  returns integer
  language plpgsql
  set search_path = ''
as $$
declare
  fresh analytics.student_funnel[];
  stale analytics.student_funnel[];
  added analytics.student_funnel[];
begin
  select coalesce(array_agg(row(t.user_id, t.granted_by,
           (t.created_at at time zone (select s.time_zone from academy.settings s))::date, t.created_at,
           (select min(sp.started_at) from public.student_progress sp where sp.user_id = t.user_id),
           c.issued_at, b.bought_at, coalesce(b.revenue, '{}'::jsonb))::analytics.student_funnel), '{}')
  into fresh
  from public.tripwire_users t
  left join public.certificates c on c.user_id = t.user_id
  left join lateral (
    select min(p.bought_at) as bought_at, jsonb_object_agg(p.currency, p.total) as revenue
    from (
      select p.currency, min(p.purchased_at) as bought_at, sum(p.amount)::text as total
      from private.main_course_purchases p
      where p.student_id = t.user_id and p.refunded_at is null
      group by p.currency
    ) p
  ) b on true
  where t.user_id = any (touched);
  select coalesce(array_agg(f), '{}') into stale
  from analytics.student_funnel f
  where f.user_id = any (touched);
  -- Only the states that changed move anything: the new ones in, the stored ones they replace out.
  select coalesce(array_agg(n), '{}') into added
  from unnest(fresh) n where not exists (select from unnest(stale) o where o = n);
  perform analytics.move_conversion_sums(
    added,
    array(select o from unnest(stale) o where not exists (select from unnest(fresh) n where n = o)));
  insert into analytics.student_funnel as f
    (user_id, manager_id, sold_on, sold_at, started_at, completed_at, bought_at, revenue)
  select (n).user_id, (n).manager_id, (n).sold_on, (n).sold_at, (n).started_at, (n).completed_at, (n).bought_at,
         (n).revenue
  from unnest(added) n order by (n).user_id
  on conflict (user_id) do update
    set manager_id = excluded.manager_id, sold_on = excluded.sold_on, sold_at = excluded.sold_at,
        started_at = excluded.started_at, completed_at = excluded.completed_at, bought_at = excluded.bought_at,
        revenue = excluded.revenue;
  return cardinality(added);
end;
$$;
revoke all on function analytics.apply_funnel_changes(uuid[]) from public, anon, authenticated, service_role;
comment on function analytics.apply_funnel_changes(uuid[]) is
  'Recomputes the named students'' funnel state from the base rows and moves the conversion sums by the difference; returns how many students'' states changed.';

-- A student removed (a smoke test) takes their share of the sums along.
create function analytics.forget_funnel_rows()
  returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  perform analytics.move_conversion_sums('{}', array(select o::analytics.student_funnel from old_rows o));
  return null;
end;
$$;
revoke all on function analytics.forget_funnel_rows() from public, anon, authenticated, service_role;
comment on function analytics.forget_funnel_rows() is
  'Takes removed students'' funnel rows out of the conversion sums (a statement''s rows at once).';
create trigger student_funnel_forgotten after delete on analytics.student_funnel
  referencing old table as old_rows for each statement execute function analytics.forget_funnel_rows();
insert into private.scheduled_jobs (name, schedule, command, calls_function, local_route, overdue_after, why) values
  ('tripwire-refresh-conversion', '* * * * *', 'select analytics.refresh_conversion()', false,
   'second-sale/refresh', '3 minutes',
   'The second sale''s figures (sold, started, completed, bought the main course), refreshed every minute.');
select private.schedule_jobs();

-- The call list: when a graduate is ready for the manager's call. A heat score from verified watching
-- (documented in docs/architecture.md, "The second sale"); the first time a student reaches the threshold the
-- CRM hears `student.ready`.
-- (student.ready itself was added to public.webhook_event_type by the migration before this one: a new enum
-- value cannot be used in the transaction that adds it.)

create table private.upgrade_link_opens (
  student_id uuid primary key references public.tripwire_users (user_id) on delete cascade,
  first_opened_at timestamptz not null default now(),
  last_opened_at timestamptz not null default now(),
  opens integer not null default 1,
  constraint upgrade_link_opens_positive check (opens > 0)
);
create index upgrade_link_opens_last on private.upgrade_link_opens (last_opened_at);
revoke all on table private.upgrade_link_opens from public, anon, authenticated, service_role;
comment on table private.upgrade_link_opens is
  'Who opened their upgrade link (the tracked link GET /second-sale/upgrade/{token} leads to the checkout): a heat signal.';

create table private.ready_notices (
  student_id uuid primary key references public.tripwire_users (user_id) on delete cascade,
  score integer not null,
  noticed_at timestamptz not null default now()
);
revoke all on table private.ready_notices from public, anon, authenticated, service_role;
comment on table private.ready_notices is
  'Students who reached the call list''s threshold, once each: student.ready was sent when the row was made.';

create function analytics.heat(students uuid[])
  returns table (user_id uuid, score integer, reasons jsonb, last_signal_at timestamptz)
  language sql
  stable
  set search_path = ''
as $$
  with signals as (
    select t.user_id, s.signal, s.points, s.at
    from public.tripwire_users t
    left join public.certificates c on c.user_id = t.user_id and c.revoked_at is null
    left join private.upgrade_link_opens o on o.student_id = t.user_id
    left join private.stall_notices n on n.student_id = t.user_id
    left join private.student_activity a on a.user_id = t.user_id
    cross join lateral (
      values
        ('completed_course', 30, c.issued_at),
        ('completed_today', 15, case when c.issued_at > pg_catalog.now() - interval '24 hours' then c.issued_at end),
        ('opened_upgrade_link', 25, o.last_opened_at),
        ('came_back', 15, case when a.last_activity_at > n.notified_at then a.last_activity_at end)
    ) as s (signal, points, at)
    where t.user_id = any (students) and s.at is not null
    union all
    -- A completed lesson watched again: heartbeats after its completion (10 points each, at most two).
    select r.user_id, 'rewatched_lesson', 10, r.at
    from (
      select v.user_id, v.last_heartbeat_at as at,
             pg_catalog.row_number() over (partition by v.user_id order by v.last_heartbeat_at desc) as nth
      from public.video_tracking v
      join public.student_progress sp on sp.user_id = v.user_id and sp.lesson_id = v.lesson_id
      where v.user_id = any (students) and sp.status = 'completed'
        and v.last_heartbeat_at > sp.completed_at + interval '5 minutes'
    ) r
    where r.nth <= 2
  )
  select s.user_id, sum(s.points)::int as score,
         pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('signal', s.signal, 'points', s.points, 'at', s.at)
                              order by s.at desc) as reasons,
         max(s.at) as last_signal_at
  from signals s
  group by s.user_id
$$;
revoke all on function analytics.heat(uuid[]) from public, anon, authenticated, service_role;
comment on function analytics.heat(uuid[]) is
  'The call list''s heat score of each named student with any signal: completed the course (30), completed it in the last 24 hours (+15), opened the upgrade link (25), came back after a stall (15), watched a completed lesson again (10 each, at most 2). Ready at 50.';

create function analytics.ready_threshold()
  returns integer
  language sql
  immutable
  set search_path = ''
as $$ select 50 $$;
comment on function analytics.ready_threshold() is 'The heat score at which a student is ready for the call.';

-- Part of the minute job: graduates not buying who showed a signal since the last run are scored; those who
-- reach the threshold for the first time get their student.ready event.
create function analytics.notice_ready_students(since timestamptz)
  returns integer
  language plpgsql
  set search_path = ''
as $$
declare
  -- The first UTC day whose activity can be new (student_activity's index is by that day).
  first_day integer := case when since = '-infinity' then -1
                            else (since at time zone 'UTC')::date - date '1970-01-01' end;
  sent integer;
begin
  with candidates as (
    select x.user_id
    from (
      select c.user_id from public.certificates c where c.issued_at >= since
      union
      select o.student_id from private.upgrade_link_opens o where o.last_opened_at >= since
      union
      select a.user_id from private.student_activity a
      where a.activity_day >= first_day and a.last_activity_at >= since
    ) x
    join public.certificates c on c.user_id = x.user_id and c.revoked_at is null
    where not exists (select from private.ready_notices r where r.student_id = x.user_id)
      and not exists (select from private.main_course_purchases p
                      where p.student_id = x.user_id and p.refunded_at is null)
  ),
  ready as (
    select h.user_id, h.score, h.reasons
    from analytics.heat(array(select user_id from candidates)) h
    where h.score >= analytics.ready_threshold()
  ),
  noticed as (
    insert into private.ready_notices (student_id, score)
    select r.user_id, r.score from ready r order by r.user_id
    on conflict (student_id) do nothing
    returning student_id, score
  ),
  events as (
    insert into private.webhook_events (event_type, student_id, data)
    select 'student.ready'::public.webhook_event_type, n.student_id,
           pg_catalog.jsonb_build_object('student', private.event_student(n.student_id), 'score', n.score,
                                         'reasons', r.reasons)
    from noticed n join ready r on r.user_id = n.student_id
    returning 1
  )
  select count(*)::int into sent from events;
  return sent;
end;
$$;
revoke all on function analytics.notice_ready_students(timestamptz) from public, anon, authenticated, service_role;
comment on function analytics.notice_ready_students(timestamptz) is
  'Sends student.ready, once per student, for graduates (not buyers) whose heat score reached the threshold with a signal since `since`.';

create function analytics.refresh_conversion(rebuild boolean default false)
  returns jsonb
  language plpgsql
  set search_path = ''
as $$
declare
  started timestamptz := pg_catalog.clock_timestamp();
  -- A quarter of an hour of overlap: a change committed late (its time taken at its transaction's start) is
  -- still found; finding one twice changes nothing, since states are compared, not counted.
  since timestamptz := case when rebuild then '-infinity'::timestamptz else coalesce(
    (select l.refreshed_at - interval '15 minutes' from analytics.refresh_log l where l.view_name = 'conversion'),
    '-infinity'::timestamptz) end;
  touched uuid[];
  changed integer;
  ready integer;
  slice integer;
begin
  if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('analytics.refresh_conversion')) then
    return jsonb_build_object('skipped', 'another conversion refresh is running');
  end if;
  select coalesce(array_agg(distinct x.user_id), '{}') into touched
  from (
    select t.user_id from public.tripwire_users t where t.created_at >= since
    union all
    select sp.user_id from public.student_progress sp where sp.started_at >= since
    union all
    select c.user_id from public.certificates c where c.issued_at >= since
    union all
    select p.student_id from private.main_course_purchases p where p.received_at >= since and p.student_id is not null
    union all
    select p.student_id from private.main_course_purchases p
    where p.refund_received_at >= since and p.student_id is not null
  ) x;
  -- In slices, so that a rebuild of a million students never holds them all in memory at once.
  changed := 0;
  for slice in 0 .. (cardinality(touched) - 1) / 20000 loop
    changed := changed + analytics.apply_funnel_changes(touched[slice * 20000 + 1 : (slice + 1) * 20000]);
  end loop;
  ready := analytics.notice_ready_students(since);
  return analytics.record_refresh_step('conversion', started, changed)
    || jsonb_build_object('students_looked_at', cardinality(touched), 'ready', ready);
end;
$$;
revoke all on function analytics.refresh_conversion(boolean) from public, anon, authenticated, service_role;
grant execute on function analytics.refresh_conversion(boolean) to service_role;
comment on function analytics.refresh_conversion(boolean) is
  'The minute job of the second sale: the students whose sale, first start, completion, main-course purchase or refund is newer than the last run (less a quarter of an hour), recomputed into the conversion sums; then student.ready for graduates who reached the call list''s threshold; rebuild: every student.';

-- Where a student leaves: each lesson's retention curve (the share of its starters who watched each second),
-- for those who bought the main course and those who did not. Computed from the stored watched ranges by a
-- job every quarter of an hour, not on the heartbeat's path.
create table analytics.lesson_retention (
  lesson_id integer not null,
  bought boolean not null,
  second integer not null,
  viewers integer not null,
  primary key (lesson_id, bought, second)
);
comment on table analytics.lesson_retention is
  'Per lesson, group (bought the main course or not) and second of the video: how many of its starters watched that second (their ranges hold second + 0.5). Rewritten by analytics.refresh_retention.';

create table analytics.lesson_starters (
  lesson_id integer not null,
  bought boolean not null,
  starters integer not null,
  computed_at timestamptz not null default now(),
  primary key (lesson_id, bought)
);
comment on table analytics.lesson_starters is
  'Per lesson and group, how many students watched any of it: the retention curve''s 100 %.';

revoke all on table analytics.lesson_retention, analytics.lesson_starters from public, anon, authenticated, service_role;
grant select on table analytics.lesson_retention, analytics.lesson_starters to service_role;

create function analytics.refresh_retention()
  returns jsonb
  language plpgsql
  set search_path = ''
as $$
declare
  started timestamptz := pg_catalog.clock_timestamp();
  written integer;
begin
  if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('analytics.refresh_retention')) then
    return jsonb_build_object('skipped', 'another retention refresh is running');
  end if;
  delete from analytics.lesson_retention;
  delete from analytics.lesson_starters;
  with viewers as (
    select v.lesson_id, v.watched_ranges,
           exists (select from private.main_course_purchases p
                   where p.student_id = v.user_id and p.refunded_at is null) as bought
    from public.video_tracking v
    where not isempty(v.watched_ranges)
  ),
  starters as (
    insert into analytics.lesson_starters (lesson_id, bought, starters)
    select w.lesson_id, w.bought, count(*) from viewers w group by w.lesson_id, w.bought
  ),
  -- Second s is watched when a range holds s + 0.5: from ceil(lower - 0.5) up to, not including, ceil(upper - 0.5).
  edges as (
    select w.lesson_id, w.bought, e.second, sum(e.delta)::int as delta
    from viewers w
    cross join lateral unnest(w.watched_ranges) as r(range)
    cross join lateral (values (ceil(lower(r.range) - 0.5)::int, 1), (ceil(upper(r.range) - 0.5)::int, -1))
      as e(second, delta)
    group by w.lesson_id, w.bought, e.second
  ),
  curve as (
    insert into analytics.lesson_retention (lesson_id, bought, second, viewers)
    select l.id, g.bought, s.second,
           coalesce(sum(e.delta) over (partition by l.id, g.bought order by s.second), 0)::int
    from public.tripwire_lessons l
    cross join (values (true), (false)) as g(bought)
    cross join lateral generate_series(0, l.video_duration_seconds - 1) as s(second)
    left join edges e on e.lesson_id = l.id and e.bought = g.bought and e.second = s.second
    where exists (select from viewers w where w.lesson_id = l.id)
    returning 1
  )
  select count(*)::int into written from curve;
  return analytics.record_refresh_step('retention', started, written);
end;
$$;
revoke all on function analytics.refresh_retention() from public, anon, authenticated, service_role;
grant execute on function analytics.refresh_retention() to service_role;
comment on function analytics.refresh_retention() is
  'Rewrites every lesson''s retention curve from the stored watched ranges (each range adds one at its first second and takes it away after its last), split by whether the student bought the main course.';

insert into private.scheduled_jobs (name, schedule, command, calls_function, local_route, overdue_after, why) values
  ('tripwire-refresh-retention', '*/15 * * * *', 'select analytics.refresh_retention()', false,
   'second-sale/refresh-retention', '45 minutes',
   'Each lesson''s retention curve (where students leave), split by who bought the main course.');
select private.schedule_jobs();
