// The video player's heartbeats: which seconds of a lesson a student really watched.
import { createApp, requireRole, requireToken, zJson, zQuery } from "../_shared/app.ts";
import { getWatchState, Heartbeat, recordHeartbeat, WatchStateQuery } from "./video_tracking.ts";

export const app = createApp("video-tracking")
  .get(
    "/",
    requireRole("student"),
    zQuery(WatchStateQuery),
    async (c) => c.json(await getWatchState(c.get("user"), c.req.valid("query").lesson_id)),
  )
  .post(
    "/",
    // The heartbeat statement reads the caller's role itself: one round trip per heartbeat.
    requireToken(),
    zJson(Heartbeat),
    async (c) => c.json(await recordHeartbeat(c.get("claims").sub, c.req.valid("json"))),
  );

if (import.meta.main) Deno.serve(app.fetch);
