// The student's home screen: the course map, progress, achievements and certificate in one answer.
import { createApp, jsonWithEtag, requireRole, requireToken } from "../_shared/app.ts";
import { negotiateLanguage } from "../_shared/language.ts";
import { describe } from "../_shared/openapi.ts";
import { exportStudent, PersonExport } from "../_domain/personal_data.ts";
import { getDashboard, StudentDashboard } from "./student_dashboard.ts";

export const app = createApp("student-dashboard")
  .get(
    "/",
    describe({
      summary: "The student's dashboard",
      description: "Everything the home screen shows: every module (`locked`, `unlocked`, `completed`) " +
        "with each lesson's video and watch state, titles and descriptions in the caller's language, the student's figures, every achievement of the " +
        "catalogue and, once issued, the certificate with its public verification URL.",
      access: "student",
      ok: { status: 200, schema: StudentDashboard, description: "The dashboard." },
      etag: true,
      language: true,
    }),
    // One statement reads the caller's role and the whole dashboard: one round trip.
    requireToken(),
    negotiateLanguage,
    async (c) => jsonWithEtag(c, await getDashboard(c.get("claims"), c.get("language"))),
  )
  .get(
    "/export",
    describe({
      summary: "Everything the academy holds about me",
      description: "The signed-in student's own data as one JSON document (the same document an admin's " +
        "export gives): the account, the purchase and its refunds, progress, watching, achievements, the " +
        "certificate, the feed, e-mails and what staff did to the account.",
      access: "student",
      ok: { status: 200, schema: PersonExport, description: "The document." },
      okHeaders: {
        "cache-control": {
          description: "`no-store`: the body holds personal data.",
          schema: { type: "string" },
        },
      },
    }),
    requireRole("student"),
    async (c) => {
      c.header("cache-control", "no-store");
      const user = c.get("user");
      return c.json(await exportStudent(user, user.id));
    },
  );
