/**
 * Each certificate's PDF is drawn once and then served from the private Storage bucket `certificates`
 * (supabase/config.toml): drawing takes ~100 ms of CPU and a lot of memory (fonts parsed, glyphs shaped), serving a
 * stored file a few milliseconds. complete-lesson serves it; the certificate-pdf function draws it; a refund
 * that revokes the certificate and the holder's erasure remove it (docs/architecture.md, "The certificate as a
 * PDF").
 *
 * A file is named by its certificate's number (its folder), its language and a digest of everything drawn on it
 * and of the build that drew it: a corrected name, a new verification code (erasure changes it) or a new build
 * of the functions draws a new file, and the language's older files are removed once the new one is stored.
 */
import { build } from "../_generated/build.ts";
import { projectKey } from "../_shared/config.ts";
import type { Sql } from "../_shared/db.ts";
import { HttpError } from "../_shared/errors.ts";
import { sha256 } from "../_shared/hash.ts";
import type { Language } from "../_shared/language.ts";
import { describeError, log } from "../_shared/log.ts";
import { isMissingObject, projectStorage } from "../_shared/service_client.ts";

/** The private bucket the PDFs are kept in. */
export const certificateBucket = "certificates";

/** What a certificate's page shows: the body certificate-pdf draws from. */
export interface CertificateContent {
  certificate_number: string;
  full_name: string;
  course: { title: string; statement: string };
  issued_at: string;
  verification_url: string;
  language: Language;
}

/** The object a certificate's PDF is kept as: `<number>/<language>-<digest>.pdf`. */
export function certificateObject(content: CertificateContent): string {
  const digest = sha256(JSON.stringify([build.source, content])).slice(0, 32);
  return `${content.certificate_number}/${content.language}-${digest}.pdf`;
}

/** The drawings under way in this isolate, so that eight first downloads at once draw once. */
const drawing = new Map<string, Promise<Uint8Array>>();

/**
 * The certificate's PDF: the stored file, else drawn by certificate-pdf now, stored, and the number's older files
 * removed. A file that cannot be stored is still served (and drawn again next time). 502 `storage_unavailable`
 * when it can be neither read nor drawn.
 */
export async function certificateFile(content: CertificateContent): Promise<Uint8Array> {
  const object = certificateObject(content);
  const stored = await projectStorage().from(certificateBucket).download(object);
  if (stored.data) return new Uint8Array(await stored.data.arrayBuffer());
  if (!isMissingObject(stored.error)) {
    log("warn", "certificate_file_unreadable", { object, error: describeError(stored.error) });
  }
  let pending = drawing.get(object);
  if (!pending) {
    pending = drawAndStore(object, content).finally(() => drawing.delete(object));
    drawing.set(object, pending);
  }
  return await pending;
}

async function drawAndStore(object: string, content: CertificateContent): Promise<Uint8Array> {
  const pdf = await drawCertificate(content);
  const bucket = projectStorage().from(certificateBucket);
  const { error } = await bucket.upload(object, pdf, { contentType: "application/pdf", upsert: true });
  if (error) {
    log("warn", "certificate_file_not_stored", { object, error: describeError(error) });
    return pdf;
  }
  await removeCertificateFiles(content.certificate_number, { language: content.language, keep: object })
    .catch((
      failure,
    ) => log("warn", "certificate_files_not_removed", { object, error: describeError(failure) }));
  return pdf;
}

/** certificate-pdf's drawing, asked with the project's secret key. */
async function drawCertificate(content: CertificateContent): Promise<Uint8Array> {
  try {
    const { supabaseUrl, secretKey } = projectKey();
    const response = await fetch(new URL("/functions/v1/certificate-pdf", supabaseUrl), {
      method: "POST",
      headers: {
        apikey: secretKey,
        authorization: `Bearer ${secretKey}`,
        "content-type": "application/json",
      },
      body: JSON.stringify(content),
      signal: AbortSignal.timeout(30_000),
    });
    if (!response.ok) {
      throw new Error(`certificate-pdf answered ${response.status}: ${await response.text()}`);
    }
    return new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    log("error", "certificate_not_drawn", { error: describeError(error) });
    throw new HttpError(502, "storage_unavailable", "The certificate could not be drawn; retry");
  }
}

/**
 * Removes the stored PDFs of certificate `certificateNumber`: all of them, or those of one `language` but `keep`.
 * Throws when Storage cannot list or remove them.
 */
export async function removeCertificateFiles(
  certificateNumber: string,
  only: { language: Language; keep: string } | null = null,
): Promise<number> {
  const bucket = projectStorage().from(certificateBucket);
  const { data, error } = await bucket.list(certificateNumber, { limit: 1000 });
  if (error) throw error;
  const names = data
    .filter((entry) => entry.id !== null && (!only || entry.name.startsWith(`${only.language}-`)))
    .map((entry) => `${certificateNumber}/${entry.name}`)
    .filter((name) => name !== only?.keep);
  if (names.length === 0) return 0;
  const removed = await bucket.remove(names);
  if (removed.error) throw removed.error;
  return names.length;
}

/**
 * Removes the stored PDFs of `studentId`'s certificate, if they have one. For erasure (a failure is 502
 * `storage_unavailable`, before anything is erased: a retry goes on) and after a refund (`revokedOnly`: when it
 * revoked the certificate; `bestEffort`: a file left behind is never served, the certificate is checked first).
 */
export async function removeStudentCertificateFiles(
  sql: Sql,
  studentId: string,
  options: { bestEffort?: boolean; revokedOnly?: boolean } = {},
): Promise<void> {
  const rows = await sql<{ certificate_number: string }[]>`
    select certificate_number from public.certificates
    where user_id = ${studentId} and (revoked_at is not null or not ${options.revokedOnly ?? false})`;
  for (const { certificate_number } of rows) {
    try {
      await removeCertificateFiles(certificate_number);
    } catch (error) {
      log(options.bestEffort ? "warn" : "error", "certificate_files_not_removed", {
        certificate_number,
        error: describeError(error),
      });
      if (!options.bestEffort) {
        throw new HttpError(502, "storage_unavailable", "The certificate's file could not be removed; retry");
      }
    }
  }
}
