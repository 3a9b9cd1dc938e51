// A student completes a watched lesson; the next module unlocks, the last earns a certificate: issue #4.
import { createApp, notImplemented, requireRole } from "../_shared/app.ts";

export const app = createApp("complete-lesson")
  .post("/", requireRole("student"), () => {
    throw notImplemented("complete-lesson");
  });

if (import.meta.main) Deno.serve(app.fetch);
