// Draws a certificate's PDF for complete-lesson, which stores it and serves it from then on: the drawing (fonts,
// shaping, pdf-lib) lives here so that the function students call on every completion stays small and quick to
// start. Only the project's own functions call it, with a secret key.
import { createApp, requireServiceRole, zJson } from "../_shared/app.ts";
import { describe } from "../_shared/openapi.ts";
import { CertificateDrawing, certificatePdf } from "./certificate_pdf.ts";

export const app = createApp("certificate-pdf")
  .post(
    "/",
    describe({
      summary: "Draw a certificate's PDF",
      description:
        "For complete-lesson, the first time a certificate is downloaded in a language: the check's " +
        "answer for a valid certificate and its verification link, drawn on an A4 page (the name in any " +
        "script, its fonts from the `certificate-fonts` bucket). complete-lesson keeps the file in the private " +
        "`certificates` bucket and serves it from there.",
      access: "service",
      ok: { status: 200, mediaType: "application/pdf", description: "An A4 page." },
      errors: { 502: "`storage_unavailable`: the fonts could not be fetched from Storage; retry." },
    }),
    requireServiceRole(),
    zJson(CertificateDrawing),
    async (c) =>
      new Response(await certificatePdf(c.req.valid("json")), {
        headers: { "content-type": "application/pdf" },
      }),
  );
