/**
 * Students for the learning-flow scenarios: created through the stack's own create-tripwire-user,
 * with tokens, and (for complete-lesson) made to have watched lesson 67 fully.
 */
import { decodeJwt } from "jose";
import postgres from "postgres";
import type { AuthUser } from "../../supabase/functions/_shared/auth.ts";
import { signLocalToken } from "../lib/local_stack.ts";
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

/** Marks lesson 67 fully watched for these students, as many heartbeats would have. */
export async function watchFirstLesson(sql: postgres.Sql, students: BenchStudent[]): Promise<void> {
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
