/**
 * A certificate as anyone checks it (docs/architecture.md, complete-lesson): the public answer for a number and
 * its code, which the verification page, the PDF and the QR code all show.
 */
import { upgradeOffer, UpgradeOfferSchema } from "../_domain/handoff.ts";
import { z } from "zod";

import { db, type Row, type Sql } from "../_shared/db.ts";

import { HttpError } from "../_shared/errors.ts";
import type { Language } from "../_shared/language.ts";
import { timestamp } from "../_shared/openapi.ts";

/** The course as printed on a certificate: its modules and their lessons, in order. */
export const CertificateCourse = z.object({
  title: z.string(),
  statement: z.string().meta({
    description: "The certificate's sentence, naming the graduate and the course.",
  }),
  modules: z.array(z.object({
    id: z.number().int(),
    position: z.number().int(),
    title: z.string(),
    lessons: z.array(z.object({ id: z.number().int(), title: z.string() })),
  })),
});

const verificationCode = z.string().meta({
  example: "3f9c1a7be20d46c8a915",
  description: "80 random bits: with the number, what the public verification link needs.",
});

export const Certificate = z.object({
  certificate_number: z.string().meta({ example: "TW-2026-000001" }),
  verification_code: verificationCode,
  full_name: z.string(),
  course: CertificateCourse,
  issued_at: timestamp,
}).meta({ id: "Certificate" });
export type Certificate = z.output<typeof Certificate>;

/** The public answer for a certificate number: valid with the graduate's name, or revoked without it. */
export const CertificateCheck = z.discriminatedUnion("valid", [
  z.object({
    valid: z.literal(true),
    certificate_number: z.string(),
    full_name: z.string(),
    course: CertificateCourse,
    issued_at: timestamp,
    upgrade: UpgradeOfferSchema.nullable().meta({
      description: "The graduate's offer of the main course (a personal link to its checkout), while it " +
        "stands: null when the academy set no checkout or the course was bought.",
    }),
  }),
  z.object({
    valid: z.literal(false),
    status: z.literal("revoked").meta({ description: "The course was refunded in full." }),
    certificate_number: z.string(),
    issued_at: timestamp,
    revoked_at: timestamp,
  }),
]).meta({ id: "CertificateCheck" });
export type CertificateCheck = z.output<typeof CertificateCheck>;

export const CertificateParams = z.object({ number: z.string().max(64), code: z.string().max(64) });

/**
 * Anyone with the link may check a certificate: its number and its code. A wrong code, an unknown number
 * and a malformed one get the same 404, so numbers cannot be walked to list graduates' names.
 */
export async function verifyCertificate(
  certificateNumber: string,
  code: string,
  language: Language | null = null,
  sql: Sql = db(),
): Promise<CertificateCheck> {
  const notFound = new HttpError(404, "certificate_not_found", "No certificate matches this number and code");
  if (!/^TW-[0-9]{4}-[0-9]{6,}$/.test(certificateNumber) || !/^[0-9a-f]{20}$/.test(code)) throw notFound;
  const [certificate] = await sql<
    Pick<Row<"certificates">, "user_id" | "full_name" | "course" | "issued_at" | "revoked_at">[]
  >`
    select user_id, full_name, issued_at, revoked_at,
           private.certificate_course(course, full_name, private.content_language(${language})) as course
    from public.certificates
    where certificate_number = ${certificateNumber} and verification_code = ${code}`;
  if (!certificate) throw notFound;
  if (certificate.revoked_at) {
    return {
      valid: false,
      status: "revoked",
      certificate_number: certificateNumber,
      issued_at: certificate.issued_at.toISOString(),
      revoked_at: certificate.revoked_at.toISOString(),
    };
  }
  return {
    valid: true,
    certificate_number: certificateNumber,
    full_name: certificate.full_name,
    course: certificate.course as z.output<typeof CertificateCourse>,
    issued_at: certificate.issued_at.toISOString(),
    upgrade: await upgradeOffer(sql, certificate.user_id),
  };
}
