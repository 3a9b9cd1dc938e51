// A manager (or admin) creates a complete student account after a sale: issue #3.
import { createApp, notImplemented, requireRole } from "../_shared/app.ts";

export const app = createApp("create-tripwire-user")
  .post("/", requireRole("manager", "admin"), () => {
    throw notImplemented("create-tripwire-user");
  });

if (import.meta.main) Deno.serve(app.fetch);
