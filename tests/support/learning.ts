/** Helpers for the learning-flow stories: a student made through HTTP, heartbeats, simulated time. */
import type postgres from "postgres";
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
  return { id: body.user_id, token: await tokenFor(body.user_id) };
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
