/** One of a manager's students in detail (docs/architecture.md, students): lessons, refunds and their feed. */
import { z } from "zod";
import { activityDetails, inReadersLanguage } from "../_domain/activity.ts";
import type { Language } from "../_domain/email.ts";
import {
  money,
  scopeOf,
  studentNotFound,
  StudentSummary,
  summaryFacts,
  summaryOf,
} from "../_domain/student_summary.ts";
import type { AuthUser } from "../_shared/auth.ts";
import { db, type Sql } from "../_shared/db.ts";
import { timestamp } from "../_shared/openapi.ts";

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
  if (!row) throw studentNotFound();
  return { ...row.detail, activity: await inReadersLanguage(row.detail.activity, language, sql) };
}
