// Sales leaderboard and a manager's analytics, served from materialized views: issue #5.
import { createApp, notImplemented, requireRole } from "../_shared/app.ts";

const staff = requireRole("manager", "admin");
const pending = () => {
  throw notImplemented("leaderboard");
};

export const app = createApp("leaderboard")
  .get("/", staff, pending)
  .get("/chart", staff, pending)
  .get("/stats", staff, pending)
  .get("/activity", staff, pending);

if (import.meta.main) Deno.serve(app.fetch);
