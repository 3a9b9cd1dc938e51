// A student completes a watched lesson; the next module unlocks, the last earns a certificate that
// anyone can verify (GET /complete-lesson/certificate/<number>, no token: the function verifies JWTs
// itself, so verify_jwt = false in config.toml already lets this public route through).
import { createApp, requireRole, serve, zJson, zParam } from "../_shared/app.ts";
import { describe } from "../_shared/openapi.ts";
import {
  CertificateCheck,
  CertificateParams,
  CompleteLesson,
  completeLesson,
  Completion,
  verifyCertificate,
} from "./complete_lesson.ts";

export const app = createApp("complete-lesson")
  .post(
    "/",
    describe({
      summary: "Complete a watched lesson",
      description: "Idempotent: a repeated or concurrent call answers the same state with " +
        "`already_completed: true`. Completing a module's last lesson unlocks the next module; the last " +
        "module issues the certificate.",
      access: "student",
      ok: { status: 200, schema: Completion, description: "The lesson is completed." },
      errors: {
        403: "`forbidden`: not a student; `access_revoked`: the course was refunded or suspended " +
          "(`details.status`).",
        404: "`lesson_not_found`: there is no such lesson.",
        409: "`lesson_locked`: the lesson's module is not unlocked for this student.",
        422: "`watch_threshold_not_met`: watched less than the lesson's threshold; `details` has " +
          "`watch_percentage` and `min_watch_percentage`.",
      },
    }),
    requireRole("student"),
    zJson(CompleteLesson),
    async (c) => c.json(await completeLesson(c.get("user"), c.req.valid("json"))),
  )
  .get(
    "/certificate/:number",
    describe({
      summary: "Verify a certificate",
      access: "public",
      ok: { status: 200, schema: CertificateCheck, description: "The certificate exists." },
      errors: { 404: "`certificate_not_found`: no certificate has this number." },
    }),
    zParam(CertificateParams),
    async (c) => c.json(await verifyCertificate(c.req.valid("param").number)),
  );

if (import.meta.main) serve(app);
