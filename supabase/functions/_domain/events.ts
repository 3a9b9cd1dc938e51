/**
 * Events out (docs/architecture.md, "Events out"): what students do, for the academy's CRM. An event is a row of
 * private.webhook_events written in the transaction that causes it (the outbox), so it exists exactly when its
 * cause committed; the scheduler delivers it later (webhooks function), so a request never waits for an endpoint.
 */
import { UpgradeOfferSchema } from "./handoff.ts";
import { z } from "zod";
import type postgres from "postgres";
import type { Transaction } from "../_shared/db.ts";
import { type EventType, eventTypes } from "./event_types.ts";

export { type EventType, eventTypes };
export const EventTypeSchema = z.enum(eventTypes);

const money = z.string().regex(/^\d+\.\d{2}$/).meta({ description: 'A decimal amount, e.g. "490.00".' });

/** What every event says of its student (SQL `private.event_student`, read in the causing transaction). */
export const EventStudent = z.object({
  id: z.uuid(),
  email: z.string(),
  full_name: z.string(),
  phone: z.string().nullable(),
  status: z.enum(["active", "completed", "suspended", "refunded"]),
  manager_id: z.uuid(),
  payment_amount: z.number(),
  refunded_amount: z.number(),
  created_at: z.string(),
  last_activity_at: z.string().nullable(),
  order: z.object({ provider: z.string(), order_id: z.string() }).nullable().meta({
    description: "The paid order the student came from (payments webhook); null for a manager's sale.",
  }),
}).meta({ id: "EventStudent" });

const lesson = z.object({ id: z.number().int(), title: z.string(), module_id: z.number().int() });

/** `data` of each event type: what the endpoint receives besides `type` and `timestamp`. */
export const eventData = {
  "student.created": z.object({
    student: EventStudent,
    source: z.enum(["manager", "order"]).meta({ description: "A manager's form, or a paid order." }),
  }),
  "lesson.started": z.object({ student: EventStudent, lesson }),
  "lesson.completed": z.object({
    student: EventStudent,
    lesson,
    watch_percentage: z.number().min(0).max(100),
  }),
  "course.completed": z.object({
    student: EventStudent,
    certificate: z.object({
      number: z.string(),
      issued_at: z.string(),
      verification_url: z.string().meta({
        description: "The page where a person verifies it (CERTIFICATE_PAGE_URL), as its QR code leads.",
      }),
      pdf_url: z.string().meta({ description: "The certificate as a PDF (no token)." }),
    }),
    upgrade: UpgradeOfferSchema.nullable().meta({
      description:
        "The main course offered to the graduate: the personal link to send, its deadline and credit; " +
        "null when the academy set no checkout.",
    }),
  }),
  "student.stalled": z.object({
    student: EventStudent,
    inactive_since: z.string().meta({
      description: "The last watching, or the creation if she never watched.",
    }),
    stalled_after_days: z.number().int(),
  }),
  "student.refunded": z.object({
    student: EventStudent,
    refund: z.object({ amount: money, reason: z.string(), full: z.boolean() }),
  }),
  "student.suspended": z.object({ student: EventStudent, reason: z.string() }),
  "student.ready": z.object({
    student: EventStudent,
    score: z.number().int().meta({ description: "The heat score (ready at 50): docs/architecture.md." }),
    reasons: z.array(z.object({
      signal: z.enum([
        "completed_course",
        "completed_today",
        "opened_upgrade_link",
        "came_back",
        "rewatched_lesson",
      ]),
      points: z.number().int(),
      at: z.string(),
    })).meta({ description: "Why, newest first: each signal, its points and when it happened." }),
  }),
} satisfies Record<EventType, z.ZodType>;

/**
 * Writes one event about `studentId` in `tx`: its `data` is the student as the transaction now sees it
 * (`private.event_student`), the lesson when one is named (`private.event_lesson`), and `details`. The three
 * events SQL causes (lesson.started in the heartbeat, student.stalled and student.ready in the scheduler) are
 * written there.
 */
export async function emitEvent(
  tx: Transaction,
  type: Exclude<EventType, "lesson.started" | "student.stalled" | "student.ready">,
  studentId: string,
  details: Record<string, postgres.JSONValue>,
  lessonId: number | null = null,
): Promise<void> {
  await tx`
    insert into private.webhook_events (event_type, student_id, data)
    values (${type}, ${studentId},
            jsonb_build_object('student', private.event_student(${studentId}))
              || case when ${lessonId}::int is null then '{}'::jsonb
                      else jsonb_build_object('lesson', private.event_lesson(${lessonId}::int)) end
              || ${tx.json(details)}::jsonb)`;
}
