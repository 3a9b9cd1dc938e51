// The video player's heartbeats: which seconds of a lesson a student really watched: issue #4.
import { createApp, notImplemented, requireRole } from "../_shared/app.ts";

export const app = createApp("video-tracking")
  .get("/", requireRole("student"), () => {
    throw notImplemented("video-tracking");
  })
  .post("/", requireRole("student"), () => {
    throw notImplemented("video-tracking");
  });

if (import.meta.main) Deno.serve(app.fetch);
