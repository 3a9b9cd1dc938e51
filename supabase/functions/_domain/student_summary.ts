/**
 * One student as staff see them (docs/architecture.md, students): the summary the list, the detail and the
 * answers of refunds and status changes all give, built in SQL, and whose students a caller may see. A manager
 * sees the students they sold, an admin everyone's; another manager's student is answered as not found, so its
 * existence is not revealed.
 */
import { z } from "zod";
import { type AuthUser, studentStatuses } from "../_shared/auth.ts";
import type { Sql, Transaction } from "../_shared/db.ts";
import { HttpError } from "../_shared/errors.ts";
import { timestamp } from "../_shared/openapi.ts";

/** A student's stage, derived from progress. */
export const stages = ["not_started", "in_progress", "completed"] as const;
/** An amount in the academy's currency, as the answers give it. */
export const money = z.number().min(0);

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

/** Whose students the caller may see: a manager their own, an admin anyone's (null: everyone's). */
export function scopeOf(caller: AuthUser, requested: string | undefined): string | null {
  if (caller.role === "admin") return requested ?? null;
  if (requested !== undefined && requested !== caller.id) {
    throw new HttpError(403, "forbidden", "A manager sees only their own students");
  }
  return caller.id;
}

/**
 * One student as the list shows them, built in SQL. `t` is the tripwire_users row; used by the list, the
 * detail and the answers of refunds and suspensions, so all of them say the same. The currency is a
 * subquery, evaluated once per statement rather than once per row.
 */
export function summaryOf(tx: Sql | Transaction) {
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

/** Another manager's student, or none: 404, so a student's existence is not revealed. */
export const studentNotFound = () => new HttpError(404, "student_not_found", "No such student among yours");

/** The student's summary as it is now, inside the transaction that changed them. */
export async function studentSummary(tx: Transaction, studentId: string): Promise<StudentSummary> {
  const [row] = await tx<{ summary: StudentSummary }[]>`
    select ${summaryOf(tx)} as summary from public.tripwire_users t ${
    summaryFacts(tx)
  } where t.user_id = ${studentId}`;
  return row.summary;
}
