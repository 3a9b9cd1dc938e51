// The student's home screen: the course map, progress, achievements and certificate in one answer.
import { createApp, jsonWithEtag, requireToken, serve } from "../_shared/app.ts";
import { describe } from "../_shared/openapi.ts";
import { getDashboard, StudentDashboard } from "./student_dashboard.ts";

export const app = createApp("student-dashboard")
  .get(
    "/",
    describe({
      summary: "The student's dashboard",
      description: "Everything the home screen shows: every module (`locked`, `unlocked`, `completed`) " +
        "with each lesson's video and watch state, the student's figures, every achievement of the " +
        "catalogue and, once issued, the certificate with its public verification URL.",
      access: "student",
      ok: { status: 200, schema: StudentDashboard, description: "The dashboard." },
      etag: true,
    }),
    // One statement reads the caller's role and the whole dashboard: one round trip.
    requireToken(),
    async (c) => jsonWithEtag(c, await getDashboard(c.get("claims").sub)),
  );

if (import.meta.main) serve(app);
