/** Helpers for the learning-flow stories: a student made through HTTP, heartbeats, simulated time. */
import type postgres from "postgres";
import type { Completion } from "../../supabase/functions/complete-lesson/complete_lesson.ts";
import { aida } from "./fixtures.ts";
import { callFunction, tokenFor } from "./server.ts";
import { newStudentBody, postStudent } from "./students.ts";

export interface TestStudent {
  id: string;
  token: string;
}

/** Manager Aida sells the course to `name`; returns the new student's id and token. */
export async function enrol(name: string): Promise<TestStudent> {
  const response = await postStudent(aida.id, newStudentBody(name, { send_welcome_email: false }));
  const body = await response.json();
  if (response.status !== 201) throw new Error(`enrol ${name}: ${response.status} ${JSON.stringify(body)}`);
  return { id: body.id, token: await tokenFor(body.id) };
}

/** POSTs a heartbeat as the student. */
export function heartbeat(student: TestStudent, body: unknown): Promise<Response> {
  return callFunction("video-tracking", {
    method: "POST",
    headers: { authorization: `Bearer ${student.token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/**
 * Moves a student's last watching back by `interval` (Postgres interval text): the last activity managers see
 * and the tracking rows' note of when heartbeats last wrote it, as if that time had passed.
 */
export async function ageLastActivity(sql: postgres.Sql, studentId: string, interval: string) {
  await sql.begin(async (tx) => {
    await tx`update private.student_activity set last_activity_at = last_activity_at - ${interval}::interval
             where user_id = ${studentId}`;
    await tx`update public.video_tracking set activity_noted_at = activity_noted_at - ${interval}::interval
             where user_id = ${studentId}`;
  });
}

/**
 * Lets `seconds` of wall-clock time pass for a student's lesson without sleeping: the stored
 * heartbeat time and the plausibility bucket move back (the database clock is the only clock).
 */
export async function letTimePass(
  sql: postgres.Sql,
  student: TestStudent,
  lessonId: number,
  seconds: number,
) {
  await sql`
    update public.video_tracking
    set last_heartbeat_at = last_heartbeat_at - make_interval(secs => ${seconds}),
        credit_clock_at = coalesce(credit_clock_at, now()) - make_interval(secs => ${seconds})
    where user_id = ${student.id} and lesson_id = ${lessonId}`;
}

/**
 * Watches `from`–`to` of a lesson as a real player would: a heartbeat every `step` seconds of video,
 * with that much wall-clock time passing between them at normal speed.
 */
export async function watch(
  sql: postgres.Sql,
  student: TestStudent,
  lessonId: number,
  from: number,
  to: number,
  step = 10,
) {
  let last: Record<string, unknown> = {};
  for (let start = from; start < to; start += step) {
    const end = Math.min(start + step, to);
    await letTimePass(sql, student, lessonId, end - start);
    const response = await heartbeat(student, {
      lesson_id: lessonId,
      segments: [[start, end]],
      position: end,
    });
    last = await response.json();
    if (response.status !== 200) throw new Error(`heartbeat ${start}–${end}: ${JSON.stringify(last)}`);
  }
  return last;
}

/** POSTs a completion of `lessonId` as the student. */
export function complete(student: TestStudent, lessonId: number): Promise<Response> {
  return callFunction("complete-lesson", {
    method: "POST",
    headers: { authorization: `Bearer ${student.token}`, "content-type": "application/json" },
    body: JSON.stringify({ lesson_id: lessonId }),
  });
}

/**
 * The student watches every lesson of the course to its threshold and completes it, in order; returns the
 * last completion's answer, which carries the certificate.
 */
export async function graduate(sql: postgres.Sql, student: TestStudent): Promise<Completion> {
  const lessons = await sql<{ id: number; needed: number }[]>`
    select l.id, ceil(l.video_duration_seconds * l.min_watch_percentage / 100)::int as needed
    from public.tripwire_lessons l join public.tripwire_modules m on m.id = l.module_id
    order by m.position, l.position`;
  let last = {} as Completion;
  for (const lesson of lessons) {
    await watch(sql, student, lesson.id, 0, lesson.needed, 20);
    const response = await complete(student, lesson.id);
    last = await response.json();
    if (response.status !== 200) throw new Error(`complete ${lesson.id}: ${JSON.stringify(last)}`);
  }
  return last;
}

/** A student's tracking row for a lesson, as the watching stories check it. */
export async function trackingRow(sql: postgres.Sql, studentId: string, lessonId: number) {
  const [row] = await sql`
    select watched_ranges::text as ranges, watched_seconds, watch_percentage, status, qualified_at,
           rejected_seconds, heartbeat_count, last_position_seconds
    from public.video_tracking where user_id = ${studentId} and lesson_id = ${lessonId}`;
  return row;
}
