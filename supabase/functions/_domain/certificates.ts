/** The certificate's public side: where anyone verifies it, shared by the dashboard, the PDF and the events. */
import { config } from "../_shared/config.ts";

/** Where anyone verifies a certificate: the public route of complete-lesson, with the number and code. */
export function verificationUrl(certificateNumber: string, code: string): string {
  const path = `/functions/v1/complete-lesson/certificate/${encodeURIComponent(certificateNumber)}/${code}`;
  const base = config().supabaseUrl;
  return base ? new URL(path, base).toString() : path;
}
