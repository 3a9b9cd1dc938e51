/**
 * A manager's students (docs/architecture.md, students): the list with filters and search, one student
 * in detail, and what a sales team does after the sale — refunds, suspensions, a lost password. Everything is scoped to
 * the caller in SQL: a manager sees the students they sold, an admin everyone's; another manager's
 * student is answered as not found, so its existence is not revealed.
 */
import { z } from "zod";
import { activity, activityDetails, logActivity } from "../_shared/activity.ts";
import { emitEvent } from "../_shared/events.ts";
import type { PaidOrder } from "../create-tripwire-user/create_tripwire_user.ts";
import { audit, paymentProvider, secret } from "../_shared/audit.ts";
import { type AuthUser, type StudentStatus, studentStatuses } from "../_shared/auth.ts";
import { type AuthAdmin, authAdmin } from "../_shared/auth_admin.ts";
import { removeStudentCertificateFiles } from "../_shared/certificate_files.ts";
import { db, type Row, type Sql, type Transaction, withTransaction } from "../_shared/db.ts";
import {
  deliverEmail,
  emailSealContext,
  type EmailSender,
  emailSender,
  type Language,
} from "../_shared/email.ts";
import { HttpError } from "../_shared/errors.ts";
import { claimKey, completeKey, releaseKey, requestHash } from "../_shared/idempotency.ts";
import { describeError, log } from "../_shared/log.ts";
import { isStorableYear, moneyNumber, typedText } from "../_shared/input.ts";
import { timestamp } from "../_shared/openapi.ts";
import { cursorParameter, encodeCursor, pageLimit } from "../_shared/paging.ts";
import { generatePassword, sealPassword } from "../_shared/password.ts";

const stages = ["not_started", "in_progress", "completed"] as const;
const money = z.number().min(0);

// ---- The list ----------------------------------------------------------------------------------

const sorts = ["newest", "idle_longest", "recently_active"] as const;
const instant = z.iso.datetime({ offset: true, message: "a time with its offset (ISO 8601)" })
  .refine(isStorableYear, "there is no year 0000");

export const StudentsQuery = z.strictObject({
  status: z.enum(studentStatuses).optional(),
  stage: z.enum(stages).optional().meta({
    description: "Derived from progress: nothing watched yet, watching, or the certificate issued.",
  }),
  q: typedText(1, 100).optional().meta({
    description: "Part of the name or e-mail, any case.",
  }),
  inactive_since: instant.optional().meta({
    description: "Only students with no activity (watching or a completion) since this time, never-active " +
      "ones included: who stalled.",
  }),
  active_since: instant.optional().meta({
    description: "Only students active (watching or a completion) at or after this time.",
  }),
  sort: z.enum(sorts).default("newest").meta({
    description: "`newest` sale first (the default); `idle_longest`: never-active students first, then the " +
      "longest without activity; `recently_active`: the most recent activity first, never-active last.",
  }),
  after: cursorParameter(
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    "not a cursor this list gave out",
  ),
  limit: pageLimit,
  manager_id: z.uuid("a manager's id (uuid)").optional().meta({ description: "Admins only: one manager's." }),
});
export type StudentsQuery = z.output<typeof StudentsQuery>;

export const StudentSummary = z.object({
  id: z.uuid(),
  full_name: z.string(),
  email: z.string(),
  phone: z.string().nullable(),
  status: z.enum(studentStatuses),
  stage: z.enum(stages),
  manager_id: z.uuid(),
  payment_amount: money,
  refunded_amount: money,
  currency: z.string().meta({ description: "ISO 4217: the academy's currency, of every amount here." }),
  created_at: timestamp,
  welcome_email: z.enum(["sent", "queued", "failed", "skipped"]),
  modules_completed: z.number().int().min(0),
  total_modules: z.number().int().min(0),
  current_lesson: z.object({ id: z.number().int(), watch_percentage: z.number().min(0).max(100) }).nullable(),
  last_activity_at: timestamp.nullable().meta({
    description: "The last lesson watched (followed at most a minute late) or completed; null: never.",
  }),
  certificate_number: z.string().nullable(),
}).meta({ id: "StudentSummary" });
export type StudentSummary = z.output<typeof StudentSummary>;

export const StudentList = z.object({
  students: z.array(StudentSummary),
  next_cursor: z.string().nullable().meta({
    description: "Pass as `after` for the next page; null at the end.",
  }),
}).meta({ id: "StudentList" });
export type StudentList = z.output<typeof StudentList>;

/** Whose students the caller may see: a manager their own, an admin anyone's (null: everyone's). */
export function scopeOf(caller: AuthUser, requested: string | undefined): string | null {
  if (caller.role === "admin") return requested ?? null;
  if (requested !== undefined && requested !== caller.id) {
    throw new HttpError(403, "forbidden", "A manager sees only their own students");
  }
  return caller.id;
}

/** A LIKE pattern that matches `text` literally anywhere. */
const containing = (text: string) => `%${text.toLowerCase().replace(/[\\%_]/g, (char) => `\\${char}`)}%`;

/**
 * One student as the list shows them, built in SQL. `t` is the tripwire_users row; used by the list, the
 * detail and the answers of refunds and suspensions, so all of them say the same. The currency is a
 * subquery, evaluated once per statement rather than once per row.
 */
function summaryOf(tx: Sql | Transaction) {
  return tx`
    jsonb_build_object(
      'id', t.user_id, 'full_name', t.full_name, 'email', t.email, 'phone', t.phone, 'status', t.status,
      'stage', f.stage, 'manager_id', t.granted_by, 'payment_amount', t.payment_amount,
      'refunded_amount', t.refunded_amount, 'currency', (select analytics.academy_currency()),
      'created_at', t.created_at, 'welcome_email', f.welcome_email,
      'modules_completed', p.modules_completed, 'total_modules', p.total_modules,
      'current_lesson', f.current_lesson, 'last_activity_at', a.last_activity_at,
      'certificate_number', f.certificate_number
    )`;
}

/** The facts a summary derives: joins on `t`, giving `p`, `s`, `a` (the last activity) and `f`. */
export function summaryFacts(tx: Sql | Transaction) {
  return tx`
    join public.tripwire_user_profile p on p.user_id = t.user_id
    join private.student_activity a on a.user_id = t.user_id
    join public.user_statistics s on s.user_id = t.user_id
    cross join lateral (
      select
        case when p.certificate_issued_at is not null then 'completed'
             when s.lessons_completed > 0 or exists (
               select 1 from public.video_tracking v where v.user_id = t.user_id and v.watched_seconds > 0
             ) then 'in_progress'
             else 'not_started' end as stage,
        coalesce((select o.status from private.email_outbox o
                  where o.user_id = t.user_id and o.template = 'welcome' order by o.id desc limit 1),
                 case when t.welcome_email_sent then 'sent' else 'skipped' end) as welcome_email,
        (select jsonb_build_object('id', l.id, 'watch_percentage', coalesce(v.watch_percentage, 0))
         from public.tripwire_lessons l
         left join public.video_tracking v on v.user_id = t.user_id and v.lesson_id = l.id
         where l.module_id = p.current_module_id
           and coalesce(v.status, 'not_started') <> 'completed'
         order by l.position limit 1) as current_lesson,
        (select c.certificate_number from public.certificates c where c.user_id = t.user_id)
          as certificate_number
    ) f`;
}

/**
 * How each sort orders the list: its keys (expressions the indexes hold, most significant first; the last is the
 * time a cursor carries) and its direction. The activity sorts go by the UTC day of the last activity first
 * (`student_activity_day`), then the exact time: the same order, read a day of the index at a time. A
 * never-active student's last activity sorts as -infinity, so one row comparison pages through every sort.
 */
const activityTime = "coalesce(a.last_activity_at, '-infinity'::timestamptz)";
const activityDay = "a.activity_day";
const orders = {
  newest: { keys: ["t.created_at"], descending: true },
  idle_longest: { keys: [activityDay, activityTime], descending: false },
  recently_active: { keys: [activityDay, activityTime], descending: true },
} as const;

/** The day of a time given as text, as `student_activity.activity_day` holds it (-infinity: never, -1). */
const dayOf = (sql: Sql, time: string) =>
  sql`(case when ${time}::text::timestamptz = '-infinity' then -1
            else (${time}::text::timestamptz at time zone 'UTC')::date - '1970-01-01'::date end)`;

/**
 * A sort as SQL: `time`, the value a cursor carries; `by`, the ORDER BY list; `past(after)`, the keyset
 * condition for the rows after a cursor.
 */
export function sortOf(sql: Sql, sort: keyof typeof orders) {
  const order = orders[sort];
  const direction = order.descending ? "desc" : "asc";
  const time = sql.unsafe(order.keys.at(-1)!);
  return {
    time,
    by: sql.unsafe([...order.keys, "t.user_id"].map((key) => `${key} ${direction}`).join(", ")),
    past(after: { createdAt: string; id: string }) {
      const keys = sql.unsafe(`(${order.keys.join(", ")}, t.user_id)`);
      const values = order.keys.length === 2
        ? sql`(${dayOf(sql, after.createdAt)}, ${after.createdAt}::text::timestamptz, ${after.id}::uuid)`
        : sql`(${after.createdAt}::text::timestamptz, ${after.id}::uuid)`;
      return order.descending ? sql`and ${keys} < ${values}` : sql`and ${keys} > ${values}`;
    },
  };
}

/**
 * The list's filters as conditions on `t` and `f` (the list and the CSV export share them). Only the filters
 * asked for reach the statement, so each query shape gets the plan that uses its index (a "parameter is null
 * or …" condition would make one generic plan that uses none).
 */
export function studentFilters(
  sql: Sql,
  scope: string | null,
  query: Pick<StudentsQuery, "status" | "stage" | "q" | "inactive_since" | "active_since">,
) {
  const none = sql``;
  return sql`
    ${scope ? sql`and t.granted_by = ${scope}` : none}
    ${query.status ? sql`and t.status = ${query.status}` : none}
    ${query.stage ? sql`and f.stage = ${query.stage}` : none}
    ${query.q ? sql`and lower(t.full_name) || ' ' || t.email like ${containing(query.q)}` : none}
    ${
    query.inactive_since
      ? sql`and ${sql.unsafe(activityDay)} <= ${dayOf(sql, query.inactive_since)}
            and ${sql.unsafe(activityTime)} < ${query.inactive_since}::text::timestamptz`
      : none
  }
    ${
    query.active_since
      ? sql`and ${sql.unsafe(activityDay)} >= ${dayOf(sql, query.active_since)}
            and ${sql.unsafe(activityTime)} >= ${query.active_since}::text::timestamptz`
      : none
  }`;
}

/** The caller's students in the order asked (newest first by default), filtered, a page after `after`. */
export async function listStudents(
  caller: AuthUser,
  query: StudentsQuery,
  sql: Sql = db(),
): Promise<StudentList> {
  const scope = scopeOf(caller, query.manager_id);
  const sort = sortOf(sql, query.sort);
  const rows = await sql<{ summary: StudentSummary; cursor_time: string }[]>`
    select ${summaryOf(sql)} as summary, to_jsonb(${sort.time}) #>> '{}' as cursor_time
    from public.tripwire_users t
    ${summaryFacts(sql)}
    where true ${studentFilters(sql, scope, query)} ${query.after ? sort.past(query.after) : sql``}
    order by ${sort.by}
    limit ${query.limit}`;
  const last = rows.at(-1);
  return {
    students: rows.map((row) => row.summary),
    next_cursor: last && rows.length === query.limit
      ? encodeCursor({ createdAt: last.cursor_time, id: last.summary.id })
      : null,
  };
}

// ---- One student ---------------------------------------------------------------------------------

export const StudentParams = z.object({ id: z.uuid("a student's id (uuid)") });

const feedEvent = z.object({
  id: z.number().int(),
  event_type: z.enum(Object.keys(activityDetails) as [keyof typeof activityDetails]),
  details: z.record(z.string(), z.unknown()),
  created_at: timestamp,
});

export const StudentDetail = StudentSummary.extend({
  lessons: z.array(z.object({
    id: z.number().int(),
    module_id: z.number().int(),
    title: z.string(),
    unlocked: z.boolean(),
    status: z.enum(["not_started", "in_progress", "completed"]),
    watch_percentage: z.number().min(0).max(100),
    qualified: z.boolean(),
    completed_at: timestamp.nullable(),
  })).meta({ description: "Every lesson of the course, in order." }),
  refunds: z.array(z.object({ amount: money, reason: z.string(), created_at: timestamp })),
  activity: z.array(feedEvent).meta({ description: "This student's part of the feed, newest first (50)." }),
}).meta({ id: "StudentDetail" });
export type StudentDetail = z.output<typeof StudentDetail>;

const notFound = () => new HttpError(404, "student_not_found", "No such student among yours");

/** One of the caller's students in detail; anyone else's → 404. */
export async function getStudent(
  caller: AuthUser,
  studentId: string,
  language: Language | null = null,
  sql: Sql = db(),
): Promise<StudentDetail> {
  const scope = scopeOf(caller, undefined);
  const [row] = await sql<{ detail: StudentDetail }[]>`
    select ${summaryOf(sql)} || jsonb_build_object(
      'lessons', (
        select coalesce(jsonb_agg(jsonb_build_object(
          'id', l.id, 'module_id', l.module_id, 'title', private.localize(l.title, private.content_language(${language})),
          'unlocked', exists (select 1 from public.tripwire_module_unlocks u
                              where u.user_id = t.user_id and u.module_id = l.module_id),
          'status', coalesce(v.status, 'not_started'), 'watch_percentage', coalesce(v.watch_percentage, 0),
          'qualified', v.qualified_at is not null, 'completed_at', sp.completed_at
        ) order by m.position, l.position), '[]')
        from public.tripwire_lessons l
        join public.tripwire_modules m on m.id = l.module_id
        left join public.video_tracking v on v.user_id = t.user_id and v.lesson_id = l.id
        left join public.student_progress sp on sp.user_id = t.user_id and sp.lesson_id = l.id
      ),
      'refunds', (
        select coalesce(jsonb_agg(jsonb_build_object('amount', r.amount, 'reason', r.reason,
                                                     'created_at', r.created_at) order by r.id), '[]')
        from public.student_refunds r where r.user_id = t.user_id
      ),
      'activity', (
        select coalesce(jsonb_agg(jsonb_build_object('id', e.id, 'event_type', e.event_type, 'details', e.details,
                                                     'created_at', e.created_at)
                                  order by e.created_at desc, e.id desc), '[]')
        from (select * from public.sales_activity_log a where a.student_id = t.user_id
              order by a.created_at desc, a.id desc limit 50) e
      )
    ) as detail
    from public.tripwire_users t
    ${summaryFacts(sql)}
    where t.user_id = ${studentId} and (${scope}::uuid is null or t.granted_by = ${scope}::uuid)`;
  if (!row) throw notFound();
  return row.detail;
}

// ---- After the sale: refunds, suspensions -------------------------------------------------------------

const reason = typedText(1, 500);

export const Refund = z.strictObject({
  amount: moneyNumber.gt(0),
  reason,
}).meta({ id: "Refund" });
export type Refund = z.output<typeof Refund>;

export const StatusChange = z.strictObject({ reason }).meta({ id: "StatusChange" });
export type StatusChange = z.output<typeof StatusChange>;

interface LockedStudent {
  user_id: string;
  full_name: string;
  status: StudentStatus;
  granted_by: string;
  payment_amount: string;
  refunded_amount: string;
  certified: boolean;
}

/**
 * Locks one of the caller's students for a change; anyone else's → 404. Everything that decides the change
 * is a column of the locked row: a statement that waited for the lock sees that row as last committed, but
 * a subquery beside it would keep the statement's older snapshot (two refunds at once both passed that way).
 */
async function lockStudent(tx: Transaction, caller: AuthUser, studentId: string): Promise<LockedStudent> {
  const scope = scopeOf(caller, undefined);
  const [student] = await tx<LockedStudent[]>`
    select t.user_id, t.full_name, t.status, t.granted_by, t.payment_amount, t.refunded_amount,
           exists (select 1 from public.certificates c where c.user_id = t.user_id) as certified
    from public.tripwire_users t
    where t.user_id = ${studentId} and (${scope}::uuid is null or t.granted_by = ${scope}::uuid)
    for update of t`;
  if (!student) throw notFound();
  return student;
}

async function summaryAfter(tx: Transaction, studentId: string): Promise<StudentSummary> {
  const [row] = await tx<{ summary: StudentSummary }[]>`
    select ${summaryOf(tx)} as summary from public.tripwire_users t ${
    summaryFacts(tx)
  } where t.user_id = ${studentId}`;
  return row.summary;
}

/**
 * Refunds `amount` of what the student paid. A full refund ends access and revokes the certificate; a
 * partial one ends access only when the academy's setting says so (`partial_refund_ends_access`).
 * `student_refunds_add_to_sale` keeps the sale's total and its CHECK holds it to the payment on any path;
 * the answers (nothing left, too much, full) are decided in SQL too, in numeric, from the locked row.
 */
async function refundInTransaction(
  tx: Transaction,
  caller: AuthUser,
  studentId: string,
  refund: Refund,
  viaOrder: ProviderRefund | undefined,
): Promise<StudentSummary> {
  const student = await lockStudent(tx, caller, studentId);
  const [money] = await tx<
    { refundable: string; refunded_after: string; nothing_left: boolean; exceeds: boolean; full: boolean }[]
  >`
    select t.payment_amount - t.refunded_amount as refundable,
           t.refunded_amount + ${refund.amount}::numeric as refunded_after,
           t.payment_amount > 0 and t.refunded_amount >= t.payment_amount as nothing_left,
           ${refund.amount}::numeric > t.payment_amount - t.refunded_amount as exceeds,
           ${refund.amount}::numeric = t.payment_amount - t.refunded_amount as full
    from public.tripwire_users t where t.user_id = ${studentId}`;
  if (money.nothing_left) {
    throw new HttpError(409, "already_refunded", "This sale has been refunded in full", {
      refunded_amount: Number(student.refunded_amount),
    });
  }
  if (money.exceeds) {
    throw new HttpError(
      422,
      "refund_exceeds_payment",
      `At most ${money.refundable} can still be refunded`,
      { refundable: Number(money.refundable) },
    );
  }
  const full = money.full;
  const [{ partial_refund_ends_access }] = await tx<{ partial_refund_ends_access: boolean }[]>`
    with refund as (
      insert into public.student_refunds (user_id, refunded_by, amount, reason)
      values (${studentId}, ${caller.id}, ${refund.amount}, ${refund.reason})
      returning id
    ),
    from_order as (
      insert into private.payment_refunds (provider, refund_id, order_id, student_refund_id)
      select ${viaOrder?.provider ?? null}, ${viaOrder?.refundId ?? null}, ${viaOrder?.orderId ?? null}, id
      from refund where ${viaOrder !== undefined}::boolean
    )
    select s.partial_refund_ends_access from analytics.settings s`;
  const endsAccess = (full || partial_refund_ends_access) && student.status !== "refunded";
  if (endsAccess) {
    await tx`update public.tripwire_users set status = 'refunded' where user_id = ${studentId}`;
  }
  let revoked: { revoked_at: Date }[] = [];
  if (full) {
    revoked = await tx<{ revoked_at: Date }[]>`
      update public.certificates set revoked_at = now() where user_id = ${studentId} and revoked_at is null
      returning revoked_at`;
  }
  await audit(tx, {
    actor: viaOrder ? paymentProvider : caller,
    action: "student.refunded",
    studentId,
    reason: refund.reason,
    changes: {
      refunded_amount: {
        before: Number(student.refunded_amount),
        after: Number(money.refunded_after),
      },
      ...(endsAccess ? { status: { before: student.status, after: "refunded" } } : {}),
      ...(revoked.length ? { certificate_revoked_at: { before: null, after: revoked[0].revoked_at } } : {}),
    },
  });
  await logActivity(
    tx,
    student.granted_by,
    studentId,
    activity("student_refunded", {
      student_name: student.full_name,
      amount: Number(refund.amount),
      reason: refund.reason,
    }),
  );
  await emitEvent(tx, "student.refunded", studentId, {
    refund: { amount: refund.amount.toFixed(2), reason: refund.reason, full },
  });
  return await summaryAfter(tx, studentId);
}

/** A refund a payment provider told of (payments function): recorded with the refund, once per refund id. */
export interface ProviderRefund {
  provider: PaidOrder["provider"];
  orderId: string;
  refundId: string;
}

/**
 * A refund. With an `Idempotency-Key`, a retry answers the first refund and takes nothing more; two
 * refunds at once are taken one after the other (the student's row is locked), so together they never
 * exceed what was paid. `viaOrder`: the provider's refund of a paid order, taken in the name of the sale's
 * manager (`caller`) and audited as the provider's.
 */
export async function refundStudent(
  caller: AuthUser,
  studentId: string,
  refund: Refund,
  idempotencyKey?: string,
  sql: Sql = db(),
  viaOrder?: ProviderRefund,
): Promise<{ body: StudentSummary; replayed: boolean }> {
  // A full refund revokes the certificate: its stored PDFs go once the refund is committed.
  const removeFiles = () =>
    removeStudentCertificateFiles(sql, studentId, { bestEffort: true, revokedOnly: true });
  if (!idempotencyKey) {
    const body = await withTransaction(
      (tx) => refundInTransaction(tx, caller, studentId, refund, viaOrder),
      sql,
    );
    await removeFiles();
    return { body, replayed: false };
  }
  const scope = {
    managerId: caller.id,
    key: idempotencyKey,
    userId: studentId,
    hash: requestHash({ route: "refund", studentId, refund }),
  };
  const claim = await claimKey(sql, scope);
  if (claim.kind === "replay") return { body: claim.response.body as StudentSummary, replayed: true };
  try {
    const body = await withTransaction(async (tx) => {
      const summary = await refundInTransaction(tx, caller, studentId, refund, viaOrder);
      await completeKey(tx, scope, { status: 200, body: summary, sealedPassword: null });
      return summary;
    }, sql);
    await removeFiles();
    return { body, replayed: false };
  } catch (error) {
    await releaseKey(sql, scope).catch(() => {});
    throw error;
  }
}

/** Suspends access (revenue stays); only an active or completed student can be suspended. */
export function suspendStudent(caller: AuthUser, studentId: string, change: StatusChange, sql: Sql = db()) {
  return changeStatus(caller, studentId, change, {
    from: ["active", "completed"],
    becoming: "suspended",
    to: () => "suspended",
    event: "student_suspended",
  }, sql);
}

/** Gives a suspended student access again, as active (or completed, with a certificate). */
export function reactivateStudent(
  caller: AuthUser,
  studentId: string,
  change: StatusChange,
  sql: Sql = db(),
) {
  return changeStatus(caller, studentId, change, {
    from: ["suspended"],
    becoming: "reactivated",
    to: (student) => student.certified ? "completed" : "active",
    event: "student_reactivated",
  }, sql);
}

/** One status change: allowed only from `from`, with its feed entry, in one transaction. */
function changeStatus(
  caller: AuthUser,
  studentId: string,
  change: StatusChange,
  rule: {
    from: LockedStudent["status"][];
    becoming: string;
    to: (student: LockedStudent) => LockedStudent["status"];
    event: "student_suspended" | "student_reactivated";
  },
  sql: Sql,
): Promise<StudentSummary> {
  return withTransaction(async (tx) => {
    const student = await lockStudent(tx, caller, studentId);
    if (!rule.from.includes(student.status)) throw illegal(student, rule.becoming);
    await tx`update public.tripwire_users set status = ${rule.to(student)} where user_id = ${studentId}`;
    await audit(tx, {
      actor: caller,
      action: rule.event === "student_suspended" ? "student.suspended" : "student.reactivated",
      studentId,
      reason: change.reason,
      changes: { status: { before: student.status, after: rule.to(student) } },
    });
    await logActivity(
      tx,
      student.granted_by,
      studentId,
      activity(rule.event, { student_name: student.full_name, reason: change.reason }),
    );
    if (rule.event === "student_suspended") {
      await emitEvent(tx, "student.suspended", studentId, { reason: change.reason });
    }
    return await summaryAfter(tx, studentId);
  }, sql);
}

function illegal(student: LockedStudent, becoming: string): HttpError {
  return new HttpError(409, "illegal_transition", `A ${student.status} student cannot be ${becoming}`, {
    status: student.status,
  });
}

// ---- A lost password ------------------------------------------------------------------------------------

export const PasswordReset = z.object({
  id: z.uuid(),
  password: z.string().meta({ description: "The new password, shown once (and e-mailed to the student)." }),
  email: z.enum(["sent", "queued", "not_configured"]).meta({
    description: "`queued`: the provider refused for now; retried. `not_configured`: no e-mail provider " +
      "(RESEND_API_KEY); the e-mail waits until one is set up.",
  }),
}).meta({ id: "PasswordReset" });
export type PasswordReset = z.output<typeof PasswordReset>;

export interface ResetDependencies {
  sql: Sql;
  authAdmin: AuthAdmin;
  emailSender: EmailSender;
}

/**
 * A new generated password for one of the caller's students: the login gets it first (the old one stops
 * working), then the e-mail is queued sealed with the feed entry in one transaction, and sent after commit.
 * Never stored in plain text.
 */
export async function resetPassword(
  caller: AuthUser,
  studentId: string,
  deps: ResetDependencies = { sql: db(), authAdmin: authAdmin(), emailSender: emailSender() },
): Promise<PasswordReset> {
  const scope = scopeOf(caller, undefined);
  const [student] = await deps.sql<
    Pick<Row<"tripwire_users">, "user_id" | "email" | "full_name" | "granted_by">[]
  >`
    select t.user_id, t.email, t.full_name, t.granted_by from public.tripwire_users t
    where t.user_id = ${studentId} and (${scope}::uuid is null or t.granted_by = ${scope}::uuid)`;
  if (!student) throw notFound();

  const password = generatePassword();
  await deps.authAdmin.setPassword(studentId, password);
  const sealed = await sealPassword(password, emailSealContext("password_reset", studentId));
  const queued = await withTransaction(async (tx) => {
    const [row] = await tx<{ outbox_id: string; language: Language }[]>`
      insert into private.email_outbox (user_id, recipient, template, payload, sealed_password)
      select ${studentId}, ${student.email}, 'password_reset',
             jsonb_build_object('full_name', ${student.full_name}::text, 'language', a.language), ${sealed}
      from analytics.settings a
      returning id::text as outbox_id, payload ->> 'language' as language`;
    await logActivity(
      tx,
      student.granted_by,
      studentId,
      activity("password_reset", { student_name: student.full_name }),
    );
    await audit(tx, {
      actor: caller,
      action: "student.password_reset",
      studentId,
      changes: { password: { before: secret, after: secret } },
    });
    return row;
  }, deps.sql);

  let email: "sent" | "queued" | "not_configured" = "queued";
  try {
    const outcome = await deliverEmail(
      {
        outboxId: queued.outbox_id,
        userId: studentId,
        email: student.email,
        fullName: student.full_name,
        template: "password_reset",
        language: queued.language,
      },
      password,
      deps.emailSender,
      deps.sql,
    );
    email = outcome === "sent" || outcome === "not_configured" ? outcome : "queued";
  } catch (error) {
    log("warn", "reset_email_not_recorded", { user_id: studentId, error: describeError(error) });
  }
  return { id: studentId, password, email };
}
