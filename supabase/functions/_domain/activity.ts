/**
 * The manager's activity feed: each event type and the details it carries, defined once. The code
 * that writes events (creation, completion), the test fixtures and the scale generator are held to it
 * by tests, and the feed's OpenAPI description is built from it.
 */
import { z } from "zod";
import type postgres from "postgres";
import { Constants } from "../_generated/database.types.ts";
import type { Transaction } from "../_shared/db.ts";

const studentName = z.string().meta({ description: "The student's full name when it happened." });

/** `details` of each event type: every label of the enum `public.activity_event_type`, and no other. */
export const activityDetails = {
  user_created: z.object({
    student_email: z.string(),
    student_name: studentName,
    manager_name: z.string(),
    payment_amount: z.number().min(0),
  }),
  lesson_completed: z.object({
    student_name: studentName,
    lesson_id: z.number().int(),
    lesson_title: z.string(),
    watch_percentage: z.number().min(0).max(100),
  }),
  module_unlocked: z.object({
    student_name: studentName,
    module_id: z.number().int(),
    module_title: z.string(),
  }),
  certificate_issued: z.object({
    student_name: studentName,
    certificate_number: z.string(),
  }),
  student_refunded: z.object({
    student_name: studentName,
    amount: z.number().gt(0),
    reason: z.string(),
  }),
  student_suspended: z.object({ student_name: studentName, reason: z.string() }),
  student_reactivated: z.object({ student_name: studentName, reason: z.string() }),
  password_reset: z.object({ student_name: studentName }),
} satisfies Record<ActivityType, z.ZodType>;

/** The feed's event types, as SQL defines them (the generated types carry the enum). */
export type ActivityType = (typeof activityTypes)[number];
export const activityTypes = Constants.public.Enums.activity_event_type;

/**
 * An event's `details`, checked against its type's schema: what every insert into sales_activity_log
 * writes (`${tx.json(activity("lesson_completed", {...}))}`), so no event leaves a field out or adds one.
 */
export function activity<T extends ActivityType>(
  type: T,
  details: z.input<(typeof activityDetails)[T]>,
): { type: T; details: postgres.JSONValue } {
  return { type, details: (activityDetails[type] as z.ZodType).parse(details) as postgres.JSONValue };
}

/** Writes one event of a manager's feed (the sale's manager; none for a student nobody sold). */
export async function logActivity(
  tx: Transaction,
  managerId: string | null,
  studentId: string,
  event: { type: ActivityType; details: postgres.JSONValue },
): Promise<void> {
  await tx`
    insert into public.sales_activity_log (manager_id, student_id, event_type, details)
    values (${managerId}, ${studentId}, ${event.type}, ${tx.json(event.details)})`;
}

/**
 * The feed in its reader's language: an event that names a lesson or a module (written in the academy's language
 * when it happened) gets that title in `language`, read from the course now; anything else is as written.
 */
export async function inReadersLanguage<Event extends { details: unknown }>(
  events: Event[],
  language: string | null,
  sql: postgres.Sql,
): Promise<Event[]> {
  const named = (details: unknown) => details as { lesson_id?: number; module_id?: number };
  if (!events.some((event) => named(event.details).lesson_id || named(event.details).module_id)) {
    return events;
  }
  const [{ lessons, modules }] = await sql<
    { lessons: Record<string, string>; modules: Record<string, string> }[]
  >`
    select (select jsonb_object_agg(l.id, private.localize(l.title, private.content_language(${language})))
            from public.tripwire_lessons l) as lessons,
           (select jsonb_object_agg(m.id, private.localize(m.title, private.content_language(${language})))
            from public.tripwire_modules m) as modules`;
  return events.map((event) => {
    const { lesson_id, module_id } = named(event.details);
    const title = lesson_id !== undefined && lessons?.[lesson_id]
      ? { lesson_title: lessons[lesson_id] }
      : module_id !== undefined && modules?.[module_id]
      ? { module_title: modules[module_id] }
      : {};
    return { ...event, details: { ...(event.details as object), ...title } };
  });
}
