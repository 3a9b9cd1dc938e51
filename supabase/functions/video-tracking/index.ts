// The video player's heartbeats: which seconds of a lesson a student really watched.
import { createApp, requireRole, zJson, zQuery } from "../_shared/app.ts";
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
    requireRole("student"),
    zJson(Heartbeat),
    async (c) => c.json(await recordHeartbeat(c.get("user"), c.req.valid("json"))),
  );

if (import.meta.main) Deno.serve(app.fetch);
