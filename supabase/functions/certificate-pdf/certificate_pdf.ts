/**
 * The certificate as a document (docs/architecture.md, "The certificate as a PDF"): drawn from the very answer the
 * public check gives (complete-lesson's `verifyCertificate`, sent here as it is), so the page and the PDF cannot
 * disagree — the name, the course, the date, the number, and a QR code of the verification link — in the reader's
 * language. pdf-lib draws it with Roboto (from the fonts bucket: it has Cyrillic), embedded as a subset, and the
 * name in whatever script it is written (certificate_fonts.ts), wrapped or made smaller until it fits; qrcode
 * makes the QR's modules, drawn as vector squares.
 *
 * pdf-lib and qrcode's encoder come as their packages' own builds (types from the packages), fontkit as a vendored
 * build without WOFF2 (_vendor/fontkit): the function's bundle stays small (docs/benchmarks.md, "Within the
 * platform's limits").
 */
import type * as PdfLib from "pdf-lib";
import type { PDFFont, PDFPage } from "pdf-lib";
import * as pdfLibBuild from "pdf-lib/dist/pdf-lib.esm.min.js";
import qrEncoder from "qrcode/lib/core/qrcode.js";
import { z } from "zod";
import { type Language, languages } from "../_shared/language.ts";
import { timestamp } from "../_shared/openapi.ts";
import { fontsForText, robotoFonts, type Run, type TextFonts } from "./certificate_fonts.ts";
import { pdfLibFontkit } from "./fontkit.ts";

const { PDFDocument, rgb } = pdfLibBuild as unknown as typeof PdfLib;
const QRCode = qrEncoder as { create(text: string, options: { errorCorrectionLevel: "M" }): QrCode };
interface QrCode {
  modules: { size: number; get(row: number, column: number): number | boolean };
}

/** What a certificate shows: a valid certificate's public check, its verification link, and the language. */
export const CertificateDrawing = z.object({
  certificate_number: z.string().regex(/^TW-[0-9]{4}-[0-9]{6,}$/).meta({ example: "TW-2026-000001" }),
  full_name: z.string().min(1).max(1000),
  course: z.object({ title: z.string().min(1), statement: z.string().min(1) }).meta({
    description: "The course as the check names it: its title and the certificate's sentence.",
  }),
  issued_at: timestamp,
  verification_url: z.url(),
  language: z.enum(languages),
}).meta({ id: "CertificateDrawing" });
export type CertificateDrawing = z.output<typeof CertificateDrawing>;

const labels: Record<Language, { title: string; number: string; issued: string; verify: string }> = {
  ru: { title: "Сертификат", number: "№", issued: "Выдан", verify: "Проверить подлинность:" },
  en: { title: "Certificate", number: "No.", issued: "Issued", verify: "Verify it at:" },
};

const ink = rgb(0.11, 0.13, 0.16);
const muted = rgb(0.36, 0.39, 0.42);
const accent = rgb(0.11, 0.45, 0.4);

/** The name's box: between the page's margins, from this size down to the smallest, in up to three lines. */
const name = { width: 842 - 2 * 72, largest: 34, smallest: 12, maxLines: 3, baseline: 430 };

const runsWidth = (runs: Run[], size: number) =>
  runs.reduce((sum, run) => sum + run.font.widthOfTextAtSize(run.text, size), 0);

/** `text` in lines broken at spaces, each as long as `fits` allows (a word too wide stays whole). */
function wrap(text: string, fits: (line: string) => boolean): string[] {
  const lines: string[] = [];
  for (const word of text.split(/\s+/)) {
    const last = lines.at(-1);
    if (last !== undefined && fits(`${last} ${word}`)) lines[lines.length - 1] = `${last} ${word}`;
    else lines.push(word);
  }
  return lines;
}

/**
 * The name's lines and size: one line at the largest size that fits; else wrapped at spaces into at most three
 * lines, the size going down until every line fits; a word too long for any line is cut where it must be.
 */
function layOutName(text: string, fonts: TextFonts, medium: PDFFont): { lines: Run[][]; size: number } {
  const fits = (size: number) => (line: string) => runsWidth(fonts.runs(line, medium), size) <= name.width;
  for (let size = name.largest; size >= name.smallest; size -= 1) {
    const lines = wrap(text, fits(size));
    if (lines.length <= name.maxLines && lines.every(fits(size))) {
      return { lines: lines.map((line) => fonts.runs(line, medium)), size };
    }
  }
  // No spaces to break at (or far too long): cut into pieces that fit at the smallest size.
  const pieces: string[] = [""];
  for (const character of text) {
    const last = pieces[pieces.length - 1];
    if (!last || fits(name.smallest)(last + character)) pieces[pieces.length - 1] = last + character;
    else pieces.push(character);
  }
  return { lines: pieces.map((piece) => fonts.runs(piece, medium)), size: name.smallest };
}

/** Runs drawn one after another, the whole line centred on the page. */
function drawCentredRuns(page: PDFPage, runs: Run[], y: number, size: number, color = ink) {
  let x = (page.getWidth() - runsWidth(runs, size)) / 2;
  for (const run of runs) {
    page.drawText(run.text, { x, y, size, font: run.font, color });
    x += run.font.widthOfTextAtSize(run.text, size);
  }
}

/** The name, centred, its lines around the name's baseline. */
function drawName(page: PDFPage, text: string, fonts: TextFonts, medium: PDFFont) {
  const { lines, size } = layOutName(text, fonts, medium);
  const leading = size * 1.2;
  lines.forEach((runs, index) =>
    drawCentredRuns(page, runs, name.baseline + ((lines.length - 1) / 2 - index) * leading, size)
  );
}

function centered(page: PDFPage, text: string, y: number, font: PDFFont, size: number, color = ink) {
  const width = font.widthOfTextAtSize(text, size);
  page.drawText(text, { x: (page.getWidth() - width) / 2, y, size, font, color });
}

/** The QR code of `url`, its modules as squares, `size` points wide, bottom-left at (x, y). */
function drawQr(page: PDFPage, url: string, x: number, y: number, size: number) {
  const { modules } = QRCode.create(url, { errorCorrectionLevel: "M" });
  const quiet = 4; // the quiet zone a reader needs, in modules
  const cell = size / (modules.size + 2 * quiet);
  page.drawRectangle({ x, y, width: size, height: size, color: rgb(1, 1, 1) });
  for (let row = 0; row < modules.size; row++) {
    for (let column = 0; column < modules.size; column++) {
      if (!modules.get(row, column)) continue;
      page.drawRectangle({
        x: x + (column + quiet) * cell,
        y: y + size - (row + quiet + 1) * cell,
        width: cell,
        height: cell,
        color: rgb(0, 0, 0),
      });
    }
  }
}

/** The drawing under way: the next one waits for it. */
let drawing: Promise<unknown> = Promise.resolve();

/**
 * The certificate's PDF: an A4 page, landscape. One drawing at a time in an isolate: drawing is all CPU, so
 * taking them in turn is as fast, and only one document's fonts and glyphs are in memory at once (eight at once
 * took the isolate to its 256 MB).
 */
export function certificatePdf(check: CertificateDrawing): Promise<Uint8Array<ArrayBuffer>> {
  const turn = drawing.then(() => draw(check));
  drawing = turn.catch(() => {});
  return turn;
}

async function draw(check: CertificateDrawing): Promise<Uint8Array<ArrayBuffer>> {
  const { language, verification_url: verificationUrl } = check;
  const text = labels[language];
  const issuedOn = new Intl.DateTimeFormat(language === "ru" ? "ru-RU" : "en-GB", {
    day: "numeric",
    month: "long",
    year: "numeric",
    timeZone: "UTC",
  }).format(new Date(check.issued_at));

  const document = await PDFDocument.create();
  document.registerFontkit(pdfLibFontkit);
  const roboto = await robotoFonts();
  const regular = await document.embedFont(roboto.regular, { subset: true });
  const medium = await document.embedFont(roboto.medium, { subset: true });
  // The statement repeats the name: the fallbacks serve both.
  const fonts = await fontsForText(document, `${check.full_name} ${check.course.statement}`);
  // What the verification page says, in the file's properties too: readers and indexers see the same.
  document.setTitle(`${text.title} ${check.certificate_number}`);
  document.setAuthor("Tripwire");
  document.setSubject(`${check.full_name} — ${check.course.title}`);
  document.setKeywords([check.certificate_number, verificationUrl]);
  document.setLanguage(language);
  document.setCreationDate(new Date(check.issued_at));
  document.setModificationDate(new Date(check.issued_at));

  const page = document.addPage([842, 595]); // A4, landscape
  page.drawRectangle({ x: 24, y: 24, width: 794, height: 547, borderColor: accent, borderWidth: 2 });
  centered(page, text.title.toUpperCase(), 500, medium, 30, accent);
  drawName(page, check.full_name, fonts, medium);
  let y = 380;
  const statementFits = (line: string) => runsWidth(fonts.runs(line, regular), 15) <= 620;
  for (const line of wrap(check.course.statement, statementFits)) {
    drawCentredRuns(page, fonts.runs(line, regular), y, 15, muted);
    y -= 22;
  }
  centered(page, check.course.title, y - 16, medium, 20);

  page.drawText(`${text.number} ${check.certificate_number}`, {
    x: 64,
    y: 120,
    size: 13,
    font: medium,
    color: ink,
  });
  page.drawText(`${text.issued}: ${issuedOn}`, { x: 64, y: 98, size: 13, font: regular, color: ink });
  page.drawText(text.verify, { x: 64, y: 72, size: 10, font: regular, color: muted });
  // A URL has no spaces to break at: it is cut into pieces that fit.
  for (const [index, piece] of (verificationUrl.match(/.{1,90}/g) ?? []).entries()) {
    page.drawText(piece, { x: 64, y: 58 - index * 11, size: 9, font: regular, color: muted });
  }
  drawQr(page, verificationUrl, 842 - 64 - 130, 48, 130);
  // pdf-lib's bytes are a plain ArrayBuffer's view; the cast only says so to the Response's type.
  return await document.save() as Uint8Array<ArrayBuffer>;
}
