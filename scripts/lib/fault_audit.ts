/**
 * What a fault scenario proves afterwards (fault_scenarios.ts): every acknowledged sale, heartbeat, completion,
 * refund and order found in the database, nothing half-made, every e-mail sent once, and the report's figures.
 */
import postgres from "postgres";

import { localSecretKey, signLocalToken } from "./local_stack.ts";

import {
  aida,
  deadlineGraceMs,
  type FaultReport,
  type Load,
  type LoadTarget,
  type Outcome,
  request,
  saule,
  sendOrder,
} from "./fault_load.ts";

export async function audit(stack: LoadTarget, load: Load, report: FaultReport, faultAt: number) {
  const sql = postgres(stack.databaseUrl, { max: 2, onnotice: () => {} });
  try {
    await checkAcknowledgedWork(sql, load, report);
    await retryUnansweredSales(sql, stack, load, report);
    await resendUnpaidOrders(sql, stack, load, report);
    await sweepAbandonedLogins(sql, stack, report);
    await checkWelcomeEmails(sql, stack, report);
    await checkHeartbeats(sql, load, report, faultAt);
  } finally {
    await sql.end();
  }
}

/** Sales, refunds and completions that were acknowledged are all there, whole. */
async function checkAcknowledgedWork(sql: postgres.Sql, load: Load, report: FaultReport) {
  const created = load.outcomes.filter((outcome) => outcome.kind === "create" && outcome.status === 201);
  const ids = created.map((outcome) => outcome.userId!);
  const complete = await sql<{ id: string }[]>`
    select u.id from public.users u
    join auth.users a on a.id = u.id
    join public.tripwire_users t on t.user_id = u.id
    join public.tripwire_user_profile p on p.user_id = u.id
    join public.user_statistics s on s.user_id = u.id
    where u.id = any(${ids}::uuid[])
      and exists (select 1 from public.tripwire_module_unlocks m where m.user_id = u.id)
      and exists (select 1 from public.video_tracking v where v.user_id = u.id)`;
  const lostCreations = ids.length - complete.length;
  const refunds = load.outcomes.filter((outcome) => outcome.kind === "refund" && outcome.status === 200);
  const [{ refunded }] = await sql<{ refunded: number }[]>`
    select count(distinct user_id)::int as refunded from public.student_refunds
    where user_id = any(${refunds.map((outcome) => outcome.userId!)}::uuid[])`;
  const lostRefunds = refunds.length - refunded;
  const completions = load.outcomes.filter((outcome) =>
    outcome.kind === "complete" && outcome.status === 200
  );
  const [{ completed }] = await sql<{ completed: number }[]>`
    select count(*)::int as completed from public.student_progress sp
    where sp.lesson_id = 67 and sp.status = 'completed'
      and sp.user_id = any(${completions.map((outcome) => outcome.userId!)}::uuid[])
      and exists (select 1 from public.tripwire_module_unlocks u where u.user_id = sp.user_id and u.module_id = 17)
      and exists (select 1 from public.sales_activity_log a
                  where a.student_id = sp.user_id and a.event_type = 'lesson_completed')`;
  const lostCompletions = new Set(completions.map((outcome) => outcome.userId)).size - completed;
  if (lostCompletions) report.violations.push(`${lostCompletions} acknowledged completions incomplete`);
  const [{ halfCompleted }] = await sql<{ halfCompleted: number }[]>`
    select count(*)::int as "halfCompleted" from public.student_progress sp
    where sp.lesson_id = 67 and sp.status = 'completed'
      and not exists (select 1 from public.tripwire_module_unlocks u where u.user_id = sp.user_id and u.module_id = 17)`;
  if (halfCompleted) {
    report.violations.push(`${halfCompleted} completions without the next module unlocked`);
  }
  report.lost = lostCreations + lostRefunds + Math.max(0, lostCompletions);
  if (lostCreations) report.violations.push(`${lostCreations} acknowledged students incomplete or missing`);
  if (lostRefunds) report.violations.push(`${lostRefunds} acknowledged refunds missing`);

  const [half] = await sql<{ without_rows: number; without_student: number }[]>`
    select
      (select count(*)::int from public.tripwire_users t
       where not exists (select 1 from public.tripwire_user_profile p where p.user_id = t.user_id)
          or not exists (select 1 from public.users u where u.id = t.user_id)
          or not exists (select 1 from public.tripwire_module_unlocks m where m.user_id = t.user_id)) as without_rows,
      (select count(*)::int from public.users u where u.role = 'student'
       and not exists (select 1 from public.tripwire_users t where t.user_id = u.id)) as without_student`;
  if (half.without_rows) report.violations.push(`${half.without_rows} students without all their rows`);
  if (half.without_student) {
    report.violations.push(`${half.without_student} student users without a student`);
  }
}

/** Right after healing: every keyed sale that got no answer is retried with its key and completes, once. */
async function retryUnansweredSales(sql: postgres.Sql, stack: LoadTarget, load: Load, report: FaultReport) {
  // Right after healing, before any sweep: a keyed creation that got no answer is retried with its key and
  // completes (adopting the login its interrupted attempt made), never 409 email_exists: one student per key. Its claim
  // is taken over once 30 s have passed (sooner, the retry answers 409 request_in_progress): as if they had.
  await sql.begin(async (tx) => {
    await tx`set local session_replication_role = replica`; // past the updated_at trigger
    await tx`update private.idempotency_keys set updated_at = now() - interval '1 minute' where state = 'in_progress'`;
  });
  const unanswered = load.outcomes.filter((outcome) =>
    outcome.kind === "create" && outcome.key && outcome.status !== 201 &&
    outcome.code !== "request_in_progress"
  );
  const manager = await signLocalToken(sql, aida);
  for (const outcome of unanswered) {
    const retry = await request(`${stack.url}/functions/v1/create-tripwire-user`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${manager}`,
        "content-type": "application/json",
        "idempotency-key": outcome.key!,
      },
      body: JSON.stringify({ email: outcome.email, full_name: "Load Student", payment_amount: 490 }),
    }, { kind: "create" });
    if (retry.status !== 201) {
      report.violations.push(`a keyed retry answered ${retry.status} ${retry.code}`);
    }
  }
  const emails = load.outcomes.filter((outcome) => outcome.kind === "create" && outcome.key).map((o) =>
    o.email!
  );
  const [{ duplicated }] = await sql<{ duplicated: number }[]>`
    select count(*)::int as duplicated from (
      select email from public.tripwire_users where email = any(${emails}::text[]) group by email having count(*) > 1
    ) d`;
  if (duplicated) report.violations.push(`${duplicated} keyed sales made twice`);
  report.notes.push(
    `${unanswered.length} keyed creations without an answer retried: each made exactly once`,
  );
}

/** The providers send again every paid order they got no 200 for; then every order is recorded and the books match. */
async function resendUnpaidOrders(sql: postgres.Sql, stack: LoadTarget, load: Load, report: FaultReport) {
  // A provider sends again every paid order it got no 200 for; then every order is a student (or an order
  // attached to one) or an entry in the review queue, and the books match the providers.
  const unpaid = load.outcomes.filter((outcome) => outcome.kind === "order" && outcome.status !== 200);
  for (const outcome of unpaid) {
    const again = await sendOrder(stack, outcome.order!, outcome.email!);
    if (again.status !== 200) {
      report.violations.push(`a paid order sent again answered ${again.status} ${again.code}`);
    }
  }
  const orders = load.outcomes.filter((outcome) => outcome.kind === "order");
  const [{ unrecorded }] = await sql<{ unrecorded: number }[]>`
    select count(*)::int as unrecorded
    from unnest(${orders.map((o) => o.order!.provider)}::text[], ${orders.map((o) => o.order!.id)}::text[])
      as sent(provider, order_id)
    where not exists (select 1 from private.payment_orders p
                      where p.provider = sent.provider and p.order_id = sent.order_id)
      and not exists (select 1 from private.payment_reviews r
                      where r.provider = sent.provider and r.order_id = sent.order_id and r.kind = 'order')`;
  if (unrecorded) {
    report.violations.push(`${unrecorded} paid orders neither a student nor in the review queue`);
  }
  report.lost += unrecorded;
  const books = await request(`${stack.url}/functions/v1/payments/reconciliation`, {
    headers: { authorization: `Bearer ${await signLocalToken(sql, saule)}` },
  }, { kind: "order" });
  const unexplained = Number(books.body?.unexplained ?? -1);
  if (books.status !== 200 || unexplained !== 0) {
    report.violations.push(`reconciliation: ${books.status}, ${unexplained} unexplained differences`);
  }
  report.notes.push(
    `${orders.length} paid orders sent (${unpaid.length} sent again after no 200): every one recorded, ` +
      `the reconciliation shows ${unexplained} unexplained differences`,
  );
}

/** The scheduler's sweep, as if 30 s had passed: then no login is left without its student. */
async function sweepAbandonedLogins(sql: postgres.Sql, stack: LoadTarget, report: FaultReport) {
  // The scheduler's sweep, as if the 30 s a note lives had passed (the scheduler runs every minute: 90 s after
  // the fault at the latest): then no login may be left without its student.
  await sql`update private.pending_logins set created_at = now() - interval '31 seconds'`;
  const sweep = await fetch(`${stack.url}/functions/v1/create-tripwire-user/retry-emails`, {
    method: "POST",
    headers: { authorization: `Bearer ${localSecretKey}` },
  });
  const swept = await sweep.json();
  if (swept.abandoned_logins_deleted) {
    report.notes.push(`${swept.abandoned_logins_deleted} half-made logins swept`);
  }
  const [{ orphans }] = await sql<{ orphans: number }[]>`
    select count(*)::int as orphans from auth.users a
    where a.raw_app_meta_data ->> 'role' = 'student' and not exists (select 1 from public.users u where u.id = a.id)`;
  if (orphans) report.violations.push(`${orphans} logins without a student`);
}

/** Every queued e-mail sent: each student has had exactly one welcome e-mail. */
async function checkWelcomeEmails(sql: postgres.Sql, stack: LoadTarget, report: FaultReport) {
  // E-mails: every queued one sent by the scheduler, as if its time had come; then each student has had
  // exactly one welcome e-mail, although a crash between a send and its record makes the send go again
  // (with its Idempotency-Key, which the provider answers from the first send).
  for (let round = 0; round < 200; round++) {
    const due =
      await sql`update private.email_outbox set next_attempt_at = now() where status = 'queued' returning id`;
    if (due.length === 0) break;
    await (await fetch(`${stack.url}/functions/v1/create-tripwire-user/retry-emails`, {
      method: "POST",
      headers: { authorization: `Bearer ${localSecretKey}` },
    })).body?.cancel();
  }
  const students = await sql<{ email: string }[]>`
    select t.email from public.tripwire_users t where t.email like 'load.%'`;
  const received = new Map<string, number>();
  for (const sent of stack.resend.accepted) {
    for (const to of sent.body.to) received.set(to, (received.get(to) ?? 0) + 1);
  }
  const twice = students.filter((student) => (received.get(student.email) ?? 0) > 1).length;
  const never = students.filter((student) => !received.has(student.email)).length;
  if (twice) report.violations.push(`${twice} students got their welcome e-mail more than once`);
  if (never) report.violations.push(`${never} students never got their welcome e-mail`);
  report.notes.push(
    `${students.length} welcome e-mails, each delivered exactly once; ${stack.resend.replayed()} sends ` +
      "repeated after the fault were answered by the provider from their Idempotency-Key",
  );
}

/** Heartbeats: acknowledged minus stored; asynchronous commit may lose the last ~0.6 s before a crash. */
async function checkHeartbeats(sql: postgres.Sql, load: Load, report: FaultReport, faultAt: number) {
  // Heartbeats: acknowledged minus stored; asynchronous commit may lose the last ~0.6 s before a crash.
  let lost = 0;
  let lostOutsideWindow = 0;
  for (const [userId, acks] of load.heartbeatAcks) {
    const [row] = await sql<{ heartbeat_count: number }[]>`
      select heartbeat_count from public.video_tracking where user_id = ${userId} and lesson_id = 67`;
    const missing = Math.max(0, acks.length - (row?.heartbeat_count ?? 0));
    lost += missing;
    const beforeWindow = acks.filter((at) => at < faultAt - 1000).length;
    if ((row?.heartbeat_count ?? 0) < beforeWindow) lostOutsideWindow++;
  }
  report.lostHeartbeats = lost;
  if (lostOutsideWindow) {
    report.violations.push(
      `${lostOutsideWindow} students lost heartbeats acknowledged more than 1 s before the fault`,
    );
  }
}

/**
 * The 5xx a client may meet under a fault and retry: 503 with Retry-After, and 502 `auth_unavailable` — Supabase
 * Auth failed (here it shares the database, so a database fault reaches it as it would GoTrue's), nothing was made.
 */
function retryable(outcome: Outcome): boolean {
  return outcome.status === 503 || (outcome.status === 502 && outcome.code === "auth_unavailable");
}

/** {create: {"201": 812, "503": 4}, …}; 0 is a connection error, -1 a timeout. */
function statusesByKind(outcomes: Outcome[]): Record<string, Record<string, number>> {
  const counts: Record<string, Record<string, number>> = {};
  for (const outcome of outcomes) {
    const kind = (counts[outcome.kind] ??= {});
    const key = outcome.code ? `${outcome.status} ${outcome.code}` : String(outcome.status);
    kind[key] = (kind[key] ?? 0) + 1;
  }
  return counts;
}

export function summarize(
  fault: string,
  load: Load,
  faultAt: number,
  recoveryMs: number | null,
): FaultReport {
  const outcomes = load.outcomes;
  return {
    fault,
    requests: outcomes.length,
    inFlight: outcomes.filter((o) => o.startedAt <= faultAt && o.endedAt >= faultAt).length,
    acknowledged: outcomes.filter((o) => o.status >= 200 && o.status < 300).length,
    lost: 0,
    lostHeartbeats: 0,
    other5xx: outcomes.filter((o) => o.status >= 500 && !retryable(o)).length,
    timedOut: outcomes.filter((o) => o.status === -1).length,
    pastDeadline: outcomes.filter((o) => o.status === -1 || o.endedAt - o.startedAt > deadlineGraceMs).length,
    slowestMs: Math.round(Math.max(0, ...outcomes.map((o) => o.endedAt - o.startedAt))),
    recoveryMs,
    violations: [
      ...outcomes.filter((o) => o.status === 503 && !o.retryAfter).length
        ? ["a 503 without Retry-After"]
        : [],
    ],
    notes: [
      `${outcomes.filter((o) => o.status === 503).length} answered 503 (Retry-After), ` +
      `${outcomes.filter((o) => o.status === 502).length} 502 auth_unavailable, ` +
      `${outcomes.filter((o) => o.status === 0).length} connection errors`,
      `answers by kind: ${JSON.stringify(statusesByKind(outcomes))}`,
      ...outcomes.filter((o) => o.status === -1).map((o) =>
        `timed out: ${o.kind} started ${Math.round(o.startedAt - faultAt)} ms from the fault`
      ),
    ],
  };
}

/** SIGTERM to `npm start` mid-load: in-flight requests finish, Postgres stops cleanly; a restart finds it all. */
