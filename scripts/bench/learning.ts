/**
 * Students for the learning-flow scenarios: created through the stack's own create-tripwire-user,
 * with tokens, and (for complete-lesson) made to have watched lesson 67 fully.
 */
import { decodeJwt } from "jose";
import postgres from "postgres";
import type { AuthUser } from "../../supabase/functions/_shared/auth.ts";
import { signLocalToken } from "../lib/local_stack.ts";
import { seedScale } from "../seed_scale.ts";
import { drive } from "./lib.ts";

const aida = { id: "a0000000-0000-4000-8000-000000000002", email: "aida.manager@tripwire.local" };

export interface BenchStudent {
  user: AuthUser;
  token: string;
  /** The session the token names (what the heartbeat statement checks is open). */
  sessionId: string;
}

/** Creates `count` students through HTTP and signs a token for each. */
export async function createStudents(
  databaseUrl: string,
  functionsUrl: string,
  count: number,
  label: string,
): Promise<BenchStudent[]> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    return await createWith(sql, functionsUrl, count, label);
  } finally {
    await sql.end();
  }
}

async function createWith(sql: postgres.Sql, functionsUrl: string, count: number, label: string) {
  const managerToken = await signLocalToken(sql, aida);
  const runId = Date.now().toString(36);
  const students: BenchStudent[] = [];
  const result = await drive(count, 16, async (index) => {
    const email = `bench.${runId}.${label}.${index}@example.kz`;
    const response = await fetch(`${functionsUrl}/create-tripwire-user`, {
      method: "POST",
      headers: { authorization: `Bearer ${managerToken}`, "content-type": "application/json" },
      body: JSON.stringify({ email, full_name: `Bench ${label} ${index}`, send_welcome_email: false }),
    });
    const body = await response.json();
    if (response.status !== 201) throw new Error(`${response.status} ${JSON.stringify(body)}`);
    const user: AuthUser = { id: body.id, email, fullName: body.full_name, role: "student" };
    const token = await signLocalToken(sql, user);
    students.push({ user, token, sessionId: decodeJwt(token).session_id as string });
  });
  if (result.errors > 0) throw new Error(`creating students failed: ${result.errorSamples.join(" | ")}`);
  return students;
}

/**
 * `count` students as a selling academy has them, written set-based by the scale seed (scripts/lib/scale_data.ts):
 * active students whose lesson 67 is reset to unwatched, each with a last activity older than a minute and a
 * token of an open session. Heartbeat benches post through thousands of them, so each student posts every few
 * seconds and the once-a-minute write fires about as often as deployed (one heartbeat in six at the tracker's
 * 10 s; in twelve at the benches' pace of about one every 5 s), not once in a thousand as with a hundred students.
 */
export async function scaleStudents(databaseUrl: string, count: number): Promise<BenchStudent[]> {
  // About two students in three of the seed are active (not completed, not refunded).
  await seedScale(databaseUrl, { students: Math.ceil(count * 1.6), managers: 50, seed: 41, quiet: true });
  return await watchingStudents(databaseUrl, count);
}

/**
 * `count` active students already in the database, lesson 67 reset to unwatched, last activity an hour old, each
 * with a token of a session opened now: ready to post heartbeats.
 */
export async function watchingStudents(databaseUrl: string, count: number): Promise<BenchStudent[]> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ id: string; email: string; full_name: string }[]>`
      select t.user_id as id, t.email, t.full_name
      from public.tripwire_users t
      join public.tripwire_module_unlocks m on m.user_id = t.user_id
        and m.module_id = (select module_id from public.tripwire_lessons where id = 67)
      where t.status = 'active'
      order by t.user_id
      limit ${count}`;
    if (rows.length < count) {
      throw new Error(`the scale seed gave ${rows.length} active students, not ${count}`);
    }
    await sql`
      update public.video_tracking
      set watched_ranges = '{}', watched_seconds = 0, watch_percentage = 0, credit_clock_at = null,
          last_heartbeat_at = null, last_position_seconds = null, heartbeat_tokens = 10
      where lesson_id = 67 and user_id in (select jsonb_array_elements_text(${
      JSON.stringify(rows.map((row) => row.id))
    }::text::jsonb)::uuid)`;
    await sql`update private.student_activity set last_activity_at = now() - interval '1 hour'
              where last_activity_at > now() - interval '1 hour'`;
    const students: BenchStudent[] = [];
    for (const row of rows) {
      const user: AuthUser = { id: row.id, email: row.email, fullName: row.full_name, role: "student" };
      const token = await signLocalToken(sql, user);
      students.push({ user, token, sessionId: decodeJwt(token).session_id as string });
    }
    return students;
  } finally {
    await sql.end();
  }
}

/** Marks lesson 67 fully watched for these students, as many heartbeats would have. */
export async function watchFirstLesson(
  sql: postgres.Sql,
  students: { user: Pick<AuthUser, "id"> }[],
): Promise<void> {
  await sql`
    update public.video_tracking
    set watched_ranges = '{[0,600)}', watched_seconds = 600, watch_percentage = 100, status = 'in_progress',
        qualified_at = now()
    where lesson_id = 67 and user_id in (select jsonb_array_elements_text(${
    JSON.stringify(students.map((student) => student.user.id))
  }::text::jsonb)::uuid)`;
}

/**
 * Each student plays lesson 67 at normal speed and, like the player, posts what it played since its previous
 * heartbeat: one contiguous segment that fits the plausibility bucket, merged into one range. (The first runs
 * sent a fixed 2 s per heartbeat, ten times what the wall clock allowed at this rate, so most of each segment
 * was refused and every row fragmented into hundreds of ranges.) Returns the segments heartbeat `index` sends.
 */
export function playheads(count: number, duration = 600): (index: number) => [number, number][] {
  const playheads = Array.from({ length: count }, () => ({ position: 0, at: performance.now() }));
  return (index) => {
    const playhead = playheads[index % count];
    const now = performance.now();
    const played = Math.max(0.01, Math.round(now - playhead.at) / 1000);
    playhead.at = now;
    if (playhead.position + played > duration) playhead.position = 0;
    const segment: [number, number] = [
      playhead.position,
      Math.round((playhead.position + played) * 1000) / 1000,
    ];
    playhead.position = segment[1];
    return [segment];
  };
}

/** POSTs one heartbeat of `student` (these segments of lesson 67) to a video-tracking URL; anything but 200 throws. */
export async function postHeartbeat(url: string, student: BenchStudent, segments: [number, number][]) {
  const response = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${student.token}`, "content-type": "application/json" },
    body: JSON.stringify({ lesson_id: 67, segments, position: 0 }),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${response.status} ${text.slice(0, 200)}`);
}
