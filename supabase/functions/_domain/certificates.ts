/** The certificate's public side: where anyone verifies it, shared by the dashboard, the PDF and the events. */
import { config } from "../_shared/config.ts";

/** The certificate's check for machines: the public JSON route of complete-lesson, with the number and code. */
export function certificateApiUrl(certificateNumber: string, code: string): string {
  const path = `/functions/v1/complete-lesson/certificate/${encodeURIComponent(certificateNumber)}/${code}`;
  const base = config().supabaseUrl;
  return base ? new URL(path, base).toString() : path;
}

/**
 * Where a person verifies a certificate — what its QR code and link lead to: the academy's page
 * (CERTIFICATE_PAGE_URL; locally the web app's), else the JSON check.
 */
export function verificationUrl(certificateNumber: string, code: string): string {
  const page = config().certificatePageUrl;
  if (!page) return certificateApiUrl(certificateNumber, code);
  return page.replace("{number}", encodeURIComponent(certificateNumber)).replace("{code}", code);
}

/** The certificate as a PDF (no token): beside the JSON check. */
export function certificatePdfUrl(certificateNumber: string, code: string): string {
  return `${certificateApiUrl(certificateNumber, code)}/certificate.pdf`;
}
