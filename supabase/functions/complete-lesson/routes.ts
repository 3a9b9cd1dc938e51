// A student completes a watched lesson; the next module unlocks, the last earns a certificate that
// anyone with its link can verify (GET /complete-lesson/certificate/<number>/<code>, no token: the function verifies JWTs
// itself, so verify_jwt = false in config.toml already lets this public route through).
import { verificationUrl } from "../_domain/certificates.ts";
import { certificateFile, removeCertificateFiles } from "../_domain/certificate_files.ts";
import { HttpError } from "../_shared/errors.ts";
import { describeError, log } from "../_shared/log.ts";
import { createApp, requireRole, zJson, zParam } from "../_shared/app.ts";
import { academyLanguage, negotiateLanguage } from "../_shared/language.ts";
import { describe } from "../_shared/openapi.ts";
import { CertificateCheck, CertificateParams, verifyCertificate } from "./certificate_check.ts";
import { CompleteLesson, completeLesson, Completion } from "./complete_lesson.ts";

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
      language: true,
    }),
    requireRole("student"),
    negotiateLanguage,
    zJson(CompleteLesson),
    async (c) => c.json(await completeLesson(c.get("user"), c.req.valid("json"), c.get("language"))),
  )
  .get(
    "/certificate/:number/:code",
    describe({
      summary: "Verify a certificate",
      description: "The public link on the student's certificate: its number and its verification code. " +
        "Without the matching code nobody's name is shown. A certificate whose course was refunded in full " +
        "answers `valid: false`, `status: revoked` with `revoked_at`, and no name.",
      access: "public",
      ok: {
        status: 200,
        schema: CertificateCheck,
        description: "The certificate exists: valid, or revoked.",
      },
      errors: {
        404: "`certificate_not_found`: no certificate matches this number and code (the same answer for " +
          "an unknown number and a wrong code).",
      },
      language: true,
    }),
    negotiateLanguage,
    zParam(CertificateParams),
    async (c) => {
      const { number, code } = c.req.valid("param");
      return c.json(await verifyCertificate(number, code, c.get("language")));
    },
  )
  .get(
    "/certificate/:number/:code/certificate.pdf",
    describe({
      summary: "The certificate as a PDF",
      description:
        "The graduate's name, the course, the date, the number and a QR code of the verification " +
        "link, in the language asked (`Accept-Language`), drawn from the same answer as the check above, so the " +
        "two cannot disagree. Drawn once (by `certificate-pdf`, on the first download in a language) and then " +
        "served from Storage. A revoked certificate has no PDF.",
      access: "public",
      ok: { status: 200, mediaType: "application/pdf", description: "An A4 page." },
      errors: {
        404: "`certificate_not_found`: no certificate matches this number and code.",
        409: "`certificate_revoked`: the course was refunded in full; `details.revoked_at` says when.",
        502: "`storage_unavailable`: the file could be neither read from Storage nor drawn; retry.",
      },
      okHeaders: {
        "content-disposition": {
          description: '`inline; filename="TW-2026-000001.pdf"`.',
          schema: { type: "string" },
        },
      },
      language: true,
    }),
    negotiateLanguage,
    zParam(CertificateParams),
    async (c) => {
      const { number, code } = c.req.valid("param");
      const language = c.get("language");
      const check = await verifyCertificate(number, code, language);
      if (!check.valid) {
        // The refund removed its files; if Storage failed then, they go now (they are never served anyway).
        removeCertificateFiles(number).catch((error) =>
          log("warn", "certificate_files_not_removed", {
            certificate_number: number,
            error: describeError(error),
          })
        );
        throw new HttpError(409, "certificate_revoked", "This certificate was revoked: it has no PDF", {
          revoked_at: check.revoked_at,
        });
      }
      const pdf = await certificateFile({
        certificate_number: number,
        full_name: check.full_name,
        course: { title: check.course.title, statement: check.course.statement },
        issued_at: check.issued_at,
        verification_url: verificationUrl(number, code),
        language: language ?? await academyLanguage(),
      });
      return new Response(pdf as Uint8Array<ArrayBuffer>, {
        headers: {
          "content-type": "application/pdf",
          "content-disposition": `inline; filename="${number}.pdf"`,
          "cache-control": "public, max-age=300",
        },
      });
    },
  );
