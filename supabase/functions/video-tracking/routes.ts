// The video player's heartbeats: which seconds of a lesson a student really watched.
import { createApp, requireRole, requireToken, zJson, zQuery } from "../_shared/app.ts";
import { describe } from "../_shared/openapi.ts";
import { LessonVideo, lessonVideo } from "./lesson_video.ts";
import { getWatchState, Heartbeat, recordHeartbeat, WatchState, WatchStateQuery } from "./video_tracking.ts";

const accessErrors = "`forbidden`: not a student; `access_revoked`: the course was refunded or suspended " +
  "(`details.status`).";
const lessonErrors = {
  404: "`lesson_not_found`: there is no such lesson.",
  409: "`lesson_locked`: the lesson's module is not unlocked for this student.",
};

export const app = createApp("video-tracking")
  .get(
    "/",
    describe({
      summary: "A lesson's watch state",
      access: "student",
      ok: { status: 200, schema: WatchState, description: "The signed-in student's state for the lesson." },
      errors: lessonErrors,
    }),
    requireRole("student"),
    zQuery(WatchStateQuery),
    async (c) => c.json(await getWatchState(c.get("user"), c.req.valid("query").lesson_id)),
  )
  .post(
    "/",
    describe({
      summary: "A heartbeat from the player",
      description: "The ranges played since the last acknowledged heartbeat (`segments: []` when playback " +
        "starts). They are clamped to the video and merged with what is stored; new seconds are credited " +
        "only up to 2× the wall-clock time since the previous heartbeat plus 5 s (the rest is counted in " +
        "`rejected_seconds`). Re-sending ranges is harmless: overlaps count once.",
      access: "student",
      ok: { status: 200, schema: WatchState, description: "The lesson's state after this heartbeat." },
      errors: {
        ...lessonErrors,
        403: accessErrors,
        429: "`too_many_heartbeats`: more than 2 a second (after a burst of 10) for this lesson; nothing " +
          "written. Retry after `Retry-After` seconds (the watch tracker does).",
      },
    }),
    // The heartbeat statement reads the caller's role itself: one round trip per heartbeat.
    requireToken(),
    zJson(Heartbeat),
    async (c) => c.json(await recordHeartbeat(c.get("claims"), c.req.valid("json"))),
  )
  .get(
    "/video",
    describe({
      summary: "A lesson's video, signed for a while",
      description:
        "A URL of the lesson's video in the private Storage bucket, signed by Supabase Storage and " +
        "working for `expires_in_seconds` (the VIDEO_URL_SECONDS setting): only for a student whose access is " +
        "not revoked, on a lesson whose module is unlocked for her. A URL cannot be taken back once signed: a " +
        "refund or a suspension refuses every new one at once, and the one already given stops at its " +
        "expiry. The player asks again before that (the reference web app at 80 % of the lifetime).",
      access: "student",
      ok: { status: 200, schema: LessonVideo, description: "The signed URL." },
      okHeaders: {
        "cache-control": { description: "`no-store`: the URL is the caller's.", schema: { type: "string" } },
      },
      errors: {
        403: accessErrors,
        404: "`lesson_not_found`: there is no such lesson; `video_not_found`: it has no video yet.",
        409: lessonErrors[409],
        502: "`storage_unavailable`: Storage did not answer or sign; retry.",
      },
    }),
    // The statement reads the caller's role and status with the lesson: one round trip, then Storage.
    requireToken(),
    zQuery(WatchStateQuery),
    async (c) => {
      c.header("cache-control", "no-store");
      return c.json(await lessonVideo(c.get("claims"), c.req.valid("query").lesson_id));
    },
  );
