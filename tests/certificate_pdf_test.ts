/**
 * The certificate as a PDF, read as a person and a phone would: its text extracted by poppler's pdftotext, its
 * page rendered by pdftoppm and the QR code on it decoded by zbarimg (Debian's poppler-utils and zbar-tools).
 * Without them the reading steps are skipped, saying so; TRIPWIRE_REQUIRE_PDF_TOOLS=1 (as .ci/run sets once it
 * has installed them) makes them required.
 */
import assert from "node:assert/strict";
import { PDFDocument } from "pdf-lib";
import { aida } from "./support/fixtures.ts";
import { enrol, graduate } from "./support/learning.ts";
import { expectError, expectJson } from "./support/responses.ts";
import { createClient } from "@supabase/supabase-js";
import {
  appDatabase,
  baseUrl,
  callAs,
  callFunction,
  certificateFiles,
  serviceKey,
  story,
} from "./support/server.ts";

const sql = appDatabase.sql;

async function hasTool(name: string): Promise<boolean> {
  try {
    await new Deno.Command(name, { args: ["-v"], stdout: "null", stderr: "null" }).output();
    return true;
  } catch {
    return false;
  }
}
const pdfTools = (await Promise.all(["pdftotext", "pdftoppm", "zbarimg"].map(hasTool))).every(Boolean);
if (!pdfTools) {
  const message = "No pdftotext, pdftoppm or zbarimg (apt-get install poppler-utils zbar-tools)";
  if (Deno.env.get("TRIPWIRE_REQUIRE_PDF_TOOLS") === "1") {
    throw new Error(`${message}, and they are required`);
  }
  console.warn(`${message}: the PDF's text and QR code are not read`);
}

async function run(command: string, args: string[]): Promise<string> {
  const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  if (!output.success) throw new Error(`${command}: ${new TextDecoder().decode(output.stderr)}`);
  return new TextDecoder().decode(output.stdout);
}

/** Runs `work` with the PDF in a file of its own (`pdf`) in a temporary folder (`directory`). */
async function withPdfFile<T>(
  bytes: Uint8Array,
  work: (pdf: string, directory: string) => Promise<T>,
): Promise<T> {
  const directory = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${directory}/certificate.pdf`, bytes);
    return await work(`${directory}/certificate.pdf`, directory);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
}

/** What a person reads on the page and what a phone's camera reads from its QR code. */
function readPdf(bytes: Uint8Array): Promise<{ text: string; qr: string }> {
  return withPdfFile(bytes, async (pdf, directory) => {
    const text = await run("pdftotext", ["-layout", pdf, "-"]);
    await run("pdftoppm", ["-png", "-r", "150", "-singlefile", pdf, `${directory}/page`]);
    const qr = (await run("zbarimg", ["--quiet", "--raw", `${directory}/page.png`])).trim();
    return { text, qr };
  });
}

async function pdf(path: string, language: string): Promise<Uint8Array> {
  const response = await callFunction(path, { headers: { "accept-language": language } });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "application/pdf");
  return new Uint8Array(await response.arrayBuffer());
}

story(
  "Bolat graduates: his certificate's PDF says what its verification page says, in his language",
  async () => {
    const bolat = await enrol(`Bolat Certified ${crypto.randomUUID().slice(0, 6)}`);
    await graduate(sql, bolat);
    const dashboard = await expectJson(
      await callFunction("student-dashboard", { headers: { authorization: `Bearer ${bolat.token}` } }),
    );
    const certificate = dashboard.certificate;
    const pdfPath = new URL(certificate.pdf_url).pathname.replace("/functions/v1/", "");
    const page = await expectJson(
      await callFunction(pdfPath.replace(/\/certificate\.pdf$/, ""), {
        headers: { "accept-language": "en" },
      }),
    );
    assert.equal(page.valid, true);

    for (const language of ["en", "ru"]) {
      const bytes = await pdf(pdfPath, language);
      const document = await PDFDocument.load(bytes);
      assert.equal(document.getPageCount(), 1);
      assert.equal(
        document.getTitle(),
        `${language === "en" ? "Certificate" : "Сертификат"} ${page.certificate_number}`,
      );
      assert.ok(document.getSubject()!.startsWith(page.full_name));
      if (!pdfTools) continue;
      const { text, qr } = await readPdf(bytes);
      assert.equal(qr, certificate.verification_url, "the QR code is the verification link");
      const words = text.replace(/\s+/g, " ");
      assert.ok(words.includes(page.full_name), "the graduate's name");
      assert.ok(words.includes(page.certificate_number), "the number");
      if (language === "en") {
        assert.ok(words.includes("CERTIFICATE"));
        assert.ok(words.includes(page.course.title), "the course, as the page names it");
        const issued = new Date(page.issued_at).toLocaleDateString("en-GB", {
          day: "numeric",
          month: "long",
          year: "numeric",
          timeZone: "UTC",
        });
        assert.ok(words.includes(`Issued: ${issued}`), words);
      } else {
        assert.ok(words.includes("СЕРТИФИКАТ"));
        assert.match(words, /Выдан: \d{1,2} [а-я]+ \d{4}/);
      }
    }

    // Each language's PDF was drawn once and kept in the private bucket; the next download is that file, not a
    // new drawing (a file put in its place is what comes back).
    const files = await certificateFiles(page.certificate_number);
    assert.equal(files.length, 2, "one file a language");
    const stored = createClient(baseUrl, serviceKey, { auth: { persistSession: false } }).storage.from(
      "certificates",
    );
    const english = await pdf(pdfPath, "en");
    const [englishFile] = await Promise.all(files.map(async (name) => {
      const { data } = await stored.download(name);
      return new Uint8Array(await data!.arrayBuffer());
    })).then((bytes) =>
      bytes.filter((file) => file.length === english.length && file.every((b, i) => b === english[i]))
    );
    assert.ok(englishFile, "the English download is one of the stored files");
    const marker = new TextEncoder().encode("%PDF-1.7\n% the stored file\n");
    for (const name of files) {
      const { error } = await stored.upload(name, marker, { contentType: "application/pdf", upsert: true });
      assert.equal(error, null);
    }
    assert.deepEqual(await pdf(pdfPath, "en"), marker, "served from Storage");
    // Eight first downloads at once of a new file are one drawing and one file.
    await stored.remove(files);
    const together = await Promise.all(Array.from({ length: 8 }, () => pdf(pdfPath, "ru")));
    assert.ok(together.every((bytes) => bytes.length === together[0].length));
    assert.equal((await certificateFiles(page.certificate_number)).length, 1);

    // A wrong code finds nothing; after a full refund the certificate is revoked, has no PDF, and its files are
    // gone from Storage.
    await expectError(
      await callFunction(pdfPath.replace(certificate.verification_code, "0".repeat(20))),
      404,
      "certificate_not_found",
    );
    await expectJson(
      await callAs(aida.id, `students/${bolat.id}/refund`, { amount: 490, reason: "Refunded" }),
    );
    const revoked = await expectError(await callFunction(pdfPath), 409, "certificate_revoked");
    assert.ok(revoked.error.details.revoked_at);
    assert.deepEqual(await certificateFiles(page.certificate_number), []);
  },
);

/** The page as grey pixels (PGM from pdftoppm, 50 dpi): rows top to bottom. */
function greyPage(bytes: Uint8Array): Promise<{ width: number; height: number; pixels: Uint8Array }> {
  return withPdfFile(bytes, async (pdf, directory) => {
    await run("pdftoppm", ["-gray", "-r", "50", "-singlefile", pdf, `${directory}/page`]);
    const pgm = await Deno.readFile(`${directory}/page.pgm`);
    // P5 <width> <height> <max>\n then the pixels.
    const header = new TextDecoder().decode(pgm.subarray(0, 40)).match(/^P5\s+(\d+)\s+(\d+)\s+(\d+)\s/)!;
    return { width: Number(header[1]), height: Number(header[2]), pixels: pgm.subarray(header[0].length) };
  });
}

/** The words pdftotext finds, with their boxes in points. */
function wordBoxes(bytes: Uint8Array): Promise<{ word: string; xMin: number; xMax: number }[]> {
  return withPdfFile(bytes, async (pdf) => {
    const html = await run("pdftotext", ["-bbox", pdf, "-"]);
    const words = html.matchAll(
      /<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)<\/word>/g,
    );
    return [...words].map((match) => ({ word: match[3], xMin: Number(match[1]), xMax: Number(match[2]) }));
  });
}

const bidiMarks = /[\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

story(
  "any name prints: Kazakh, Latin, Arabic, Hebrew, Chinese, Japanese, Korean, emoji, and 200 characters that fit",
  async (t) => {
    const longName = Array.from({ length: 22 }, (_, i) => `Name${String.fromCharCode(65 + i)}abc`).join(" ")
      .slice(0, 200);
    const names = [
      "Әйгерім Қасымқызы Ңұрғалиева Өмірзақ Үсенова Һәм Іңкәр Ғалымжан Ұлан",
      "Zoë Ångström-Müller",
      "محمد عبد الله",
      "דוד כהן",
      "王小明",
      "山田 さくら",
      "김민준",
      "Aida 🎓😀",
      longName,
    ];
    for (const name of names) {
      await t.step(`${name.slice(0, 30)}${name.length > 30 ? "…" : ""}`, async () => {
        const student = await enrol(name);
        await graduate(sql, student);
        const dashboard = await expectJson(
          await callFunction("student-dashboard", { headers: { authorization: `Bearer ${student.token}` } }),
        );
        const pdfPath = new URL(dashboard.certificate.pdf_url).pathname.replace("/functions/v1/", "");
        const bytes = await pdf(pdfPath, "en");
        if (!pdfTools) return;
        // pdftotext reads the name back: each character was drawn with a glyph that says what it is.
        const { text } = await readPdf(bytes);
        const words = text.replace(bidiMarks, "").replace(/\s+/g, " ");
        for (const part of name.split(" ")) {
          // Twice: the name, and the course's statement that repeats it.
          assert.ok(words.split(part).length > 2, `${part} twice in: ${words.slice(0, 400)}`);
        }
        // And it is drawn: ink where the name goes (a glyph that draws nothing, as pdf-lib's own subset of the
        // CJK and emoji fonts did, would leave the band white).
        const page = await greyPage(bytes);
        const scale = page.height / 595;
        let ink = 0;
        for (let row = Math.floor((595 - 480) * scale); row < Math.ceil((595 - 390) * scale); row++) {
          for (let column = Math.floor(72 * scale); column < Math.ceil(770 * scale); column++) {
            if (page.pixels[row * page.width + column] < 128) ink++;
          }
        }
        assert.ok(ink > 40 * [...name].filter((c) => c.trim()).length / 10, `ink in the name's band: ${ink}`);
        // Inside the border, whatever its length.
        for (const box of await wordBoxes(bytes)) {
          assert.ok(
            box.xMin >= 24 && box.xMax <= 818,
            `${box.word} runs off the page: ${box.xMin}–${box.xMax}`,
          );
        }
      });
    }
  },
);

story(
  "only the project's own functions have a certificate drawn: a secret key, then a valid body",
  async () => {
    const body = {
      certificate_number: "TW-2026-000777",
      full_name: "Aruzhan Drawn",
      course: { title: "Tripwire", statement: "Aruzhan Drawn has completed the course" },
      issued_at: new Date().toISOString(),
      verification_url:
        "https://example.supabase.co/functions/v1/complete-lesson/certificate/TW-2026-000777/00",
      language: "en",
    };
    const draw = (headers: Record<string, string>, sent: unknown = body) =>
      callFunction("certificate-pdf", {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(sent),
      });
    await expectError(await draw({}), 401, "missing_token");
    const student = await enrol(`Drawn ${crypto.randomUUID().slice(0, 6)}`);
    await expectError(await draw({ authorization: `Bearer ${student.token}` }), 403, "forbidden");
    const refused = await expectError(
      await draw({ apikey: serviceKey }, { ...body, language: "kk", full_name: "" }),
      400,
      "validation_failed",
    );
    assert.deepEqual(
      refused.error.details.map((issue: { path: string }) => issue.path).sort(),
      ["full_name", "language"],
    );
    const drawn = await draw({ apikey: serviceKey });
    assert.equal(drawn.status, 200);
    assert.equal(drawn.headers.get("content-type"), "application/pdf");
    const document = await PDFDocument.load(await drawn.arrayBuffer());
    assert.equal(document.getTitle(), "Certificate TW-2026-000777");
  },
);
