/**
 * The manager's activity feed: each event type and the details it carries, defined once. The code
 * that writes events (creation, completion), the test fixtures and the scale generator are held to it
 * by tests, and the feed's OpenAPI description is built from it.
 */
import { z } from "zod";
import { Constants } from "./database.types.ts";

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
