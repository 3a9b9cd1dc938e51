/**
 * A lesson's video for the player (docs/architecture.md, "Paid videos"): the videos are objects in a private
 * Supabase Storage bucket, and a student gets a signed URL that works for `VIDEO_URL_SECONDS` — only for a
 * lesson she may watch now (a student, access not revoked, the lesson's module unlocked). The URL is signed by
 * Storage itself through supabase-js (`createSignedUrl`, with the project's secret key); the player asks again
 * before it runs out.
 */
import { z } from "zod";
import { assertAccess, assertRole, type Claims, loadCaller, type Role, sessionOf } from "../_shared/auth.ts";
import { config } from "../_shared/config.ts";
import { db, type Row, type Sql } from "../_shared/db.ts";
import { HttpError } from "../_shared/errors.ts";
import { timestamp } from "../_shared/openapi.ts";
import { isMissingObject, projectStorage } from "../_shared/service_client.ts";
import { refuse } from "./video_tracking.ts";

export const LessonVideo = z.object({
  lesson_id: z.number().int(),
  url: z.url().meta({
    description:
      "The video, signed by Supabase Storage: byte ranges work; after `expires_at` it answers 400.",
  }),
  expires_at: timestamp,
  expires_in_seconds: z.number().int().positive().meta({
    description: "The URL's lifetime (the VIDEO_URL_SECONDS setting): ask again before it runs out.",
  }),
}).meta({ id: "LessonVideo" });
export type LessonVideo = z.output<typeof LessonVideo>;

interface AccessRow {
  role: string | null;
  status: Row<"tripwire_users">["status"] | null;
  lesson_found: boolean;
  unlocked: boolean;
  video_path: string | null;
}

/**
 * A signed URL of the lesson's video for this caller, or why not: 403 `forbidden` (not a student),
 * 403 `access_revoked` (refunded or suspended), 404 `lesson_not_found`, 409 `lesson_locked`,
 * 404 `video_not_found` (no video uploaded), 502 `storage_unavailable`. One statement reads the caller and
 * the lesson; nothing is written.
 */
export async function lessonVideo(caller: Claims, lessonId: number, sql: Sql = db()): Promise<LessonVideo> {
  const [row] = await sql<AccessRow[]>`
    select u.role, t.status, l.id is not null as lesson_found,
           exists (
             select 1 from public.tripwire_module_unlocks m where m.user_id = u.id and m.module_id = l.module_id
           ) as unlocked,
           l.video_path
    from public.users u
    left join public.tripwire_users t on t.user_id = u.id
    left join public.tripwire_lessons l on l.id = ${lessonId}
    where u.id = ${caller.sub} and u.erased_at is null and private.session_live(u.id, ${sessionOf(caller)})`;
  // No row: loadCaller says why (no account, erased, the session ended).
  if (!row) await loadCaller(caller, sql);
  assertRole(row?.role as Role | null | undefined, ["student"]);
  assertAccess(row.status);
  if (!row.lesson_found || !row.unlocked) refuse(row, lessonId);
  if (!row.video_path) throw videoNotFound(lessonId);
  const { videoBucket, videoUrlSeconds } = config();
  const signedAt = Date.now();
  const { data, error } = await projectStorage().from(videoBucket).createSignedUrl(
    row.video_path,
    videoUrlSeconds,
  );
  if (error) {
    if (isMissingObject(error)) throw videoNotFound(lessonId);
    throw new HttpError(502, "storage_unavailable", "Storage did not sign the video; retry", {
      storage_status: (error as { statusCode?: string }).statusCode ?? null,
    });
  }
  return {
    lesson_id: lessonId,
    url: data.signedUrl,
    expires_at: new Date(signedAt + videoUrlSeconds * 1000).toISOString(),
    expires_in_seconds: videoUrlSeconds,
  };
}

function videoNotFound(lessonId: number): HttpError {
  return new HttpError(404, "video_not_found", "This lesson has no video yet", { lesson_id: lessonId });
}
