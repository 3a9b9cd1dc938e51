/**
 * Any name on the certificate. Roboto draws Latin and Cyrillic, Kazakh letters included; a name with Arabic,
 * Hebrew, Chinese, Japanese, Korean or emoji characters gets them from Noto fonts. All are kept out of the
 * function (its bundle stays small): objects of the private Storage bucket `certificate-fonts`, fetched the
 * first time an isolate needs one and kept for its life. Names that need no Noto font (nearly all) fetch only
 * Roboto.
 *
 * fontkit shapes each run (Arabic joining, right-to-left order within a run); a name whose first strong letter
 * is Arabic or Hebrew puts its runs right to left. pdf-lib's own subsetting breaks the composite glyphs of the
 * CJK and emoji fonts (they draw as nothing), so those are cut to the name's characters by HarfBuzz's
 * `hb-subset` (WebAssembly, from the same bucket) and embedded whole; Arabic and Hebrew go through pdf-lib's.
 */
import type { PDFDocument, PDFFont } from "pdf-lib";
import { projectKey } from "../_shared/config.ts";
import { HttpError } from "../_shared/errors.ts";
import { log } from "../_shared/log.ts";
import { type Font, fontkit } from "./fontkit.ts";

/** The Storage bucket the fallback fonts and HarfBuzz live in (supabase/config.toml). */
export const fontBucket = "certificate-fonts";

interface Fallback {
  /** The object's name in the bucket. */
  object: string;
  /** The code points it draws, as inclusive ranges. */
  ranges: [number, number][];
  /** Who cuts it to the name's characters. */
  subsetter: "pdf-lib" | "harfbuzz";
}

/** In the order a character is looked up. */
export const fallbackFonts: Fallback[] = [
  {
    object: "NotoSansArabic-Medium.ttf",
    ranges: [[0x0600, 0x06ff], [0x0750, 0x077f], [0x0870, 0x08ff], [0xfb50, 0xfdff], [0xfe70, 0xfeff]],
    subsetter: "pdf-lib",
  },
  { object: "NotoSansHebrew-Medium.ttf", ranges: [[0x0590, 0x05ff], [0xfb1d, 0xfb4f]], subsetter: "pdf-lib" },
  {
    object: "NotoSansKR-Medium.ttf",
    ranges: [[0x1100, 0x11ff], [0x3130, 0x318f], [0xa960, 0xa97f], [0xac00, 0xd7ff]],
    subsetter: "harfbuzz",
  },
  {
    object: "NotoSansSC-Medium.ttf",
    ranges: [
      [0x2e80, 0x2fdf],
      [0x3000, 0x312f],
      [0x31a0, 0x31ff],
      [0x3200, 0x9fff],
      [0xf900, 0xfaff],
      [0xfe30, 0xfe4f],
      [0xff00, 0xffef],
      [0x20000, 0x3134f],
    ],
    subsetter: "harfbuzz",
  },
  {
    object: "NotoEmoji-Medium.ttf",
    ranges: [[0x2190, 0x21ff], [0x2300, 0x23ff], [0x2460, 0x24ff], [0x25a0, 0x27bf], [0x2b00, 0x2bff], [
      0x1f000,
      0x1faff,
    ]],
    subsetter: "harfbuzz",
  },
];
/** HarfBuzz's subsetter, compiled to WebAssembly (the harfbuzzjs package's build). */
export const harfbuzzObject = "harfbuzz-subset.wasm";

type Roboto = { regular: Uint8Array; medium: Uint8Array; coverage: Font };
let roboto: Promise<Roboto> | undefined;

/**
 * Roboto's two weights, fetched the first time a certificate is drawn and kept; `coverage` says what it has a
 * glyph for, which needs no fallback. 502 `storage_unavailable` when they cannot be fetched.
 */
export function robotoFonts(): Promise<Roboto> {
  roboto ??= Promise.all([storageObject("Roboto-Regular.ttf"), storageObject("Roboto-Medium.ttf")])
    .then(([regular, medium]) => ({ regular, medium, coverage: fontkit.create(medium) }))
    .catch((error) => {
      roboto = undefined;
      log("error", "certificate_fonts_unavailable", { error: String(error) });
      throw new HttpError(502, "storage_unavailable", "The certificate's fonts could not be fetched; retry");
    });
  return roboto;
}

/** The isolate's copies of the bucket's objects, fetched once each (a failed fetch is tried again next time). */
const objects = new Map<string, Promise<Uint8Array>>();

/**
 * An object of the fonts bucket, downloaded with the secret key (Storage's `GET /object/{bucket}/{path}`, as
 * supabase-js's `download` calls it: plain fetch keeps supabase-js out of this function's bundle).
 */
function storageObject(name: string): Promise<Uint8Array> {
  let object = objects.get(name);
  if (!object) {
    object = (async () => {
      const { supabaseUrl, secretKey } = projectKey();
      const response = await fetch(new URL(`/storage/v1/object/${fontBucket}/${name}`, supabaseUrl), {
        headers: { apikey: secretKey, authorization: `Bearer ${secretKey}` },
        signal: AbortSignal.timeout(10_000),
      });
      if (!response.ok) {
        throw new Error(`${fontBucket}/${name} answered ${response.status}: ${await response.text()}`);
      }
      return new Uint8Array(await response.arrayBuffer());
    })();
    objects.set(name, object);
    object.catch(() => objects.delete(name));
  }
  return object;
}

interface HarfBuzz {
  memory: WebAssembly.Memory;
  malloc(size: number): number;
  free(pointer: number): void;
  hb_blob_create(data: number, length: number, mode: number, user: number, destroy: number): number;
  hb_blob_destroy(blob: number): void;
  hb_blob_get_data(blob: number, length: number): number;
  hb_blob_get_length(blob: number): number;
  hb_face_create(blob: number, index: number): number;
  hb_face_destroy(face: number): void;
  hb_face_reference_blob(face: number): number;
  hb_set_add(set: number, codePoint: number): void;
  hb_subset_input_create_or_fail(): number;
  hb_subset_input_destroy(input: number): void;
  hb_subset_input_unicode_set(input: number): number;
  hb_subset_or_fail(face: number, input: number): number;
}

let harfbuzz: Promise<HarfBuzz> | undefined;

/** `font` cut to the glyphs of `text` (with what OpenType layout reaches from them), cmap and layout kept. */
async function harfbuzzSubset(font: Uint8Array, text: string): Promise<Uint8Array> {
  harfbuzz ??= storageObject(harfbuzzObject)
    .then((wasm) => WebAssembly.compile(wasm as Uint8Array<ArrayBuffer>))
    .then((module) => WebAssembly.instantiate(module, {}))
    .then((instance) => instance.exports as unknown as HarfBuzz);
  harfbuzz.catch(() => harfbuzz = undefined);
  const hb = await harfbuzz;
  const at = hb.malloc(font.byteLength);
  new Uint8Array(hb.memory.buffer).set(font, at);
  const blob = hb.hb_blob_create(at, font.byteLength, 2, /* HB_MEMORY_MODE_WRITABLE */ 0, 0);
  const face = hb.hb_face_create(blob, 0);
  hb.hb_blob_destroy(blob);
  const input = hb.hb_subset_input_create_or_fail();
  const unicodes = hb.hb_subset_input_unicode_set(input);
  for (const character of text) hb.hb_set_add(unicodes, character.codePointAt(0)!);
  const subset = hb.hb_subset_or_fail(face, input);
  hb.hb_subset_input_destroy(input);
  try {
    if (!subset) throw new Error("hb-subset could not cut the font");
    const result = hb.hb_face_reference_blob(subset);
    const offset = hb.hb_blob_get_data(result, 0);
    const bytes = new Uint8Array(hb.memory.buffer).slice(offset, offset + hb.hb_blob_get_length(result));
    hb.hb_blob_destroy(result);
    return bytes;
  } finally {
    if (subset) hb.hb_face_destroy(subset);
    hb.hb_face_destroy(face);
    hb.free(at);
  }
}

/** The fallback for a code point Roboto lacks, or null (it stays Roboto's, as .notdef). */
function fallbackFor(codePoint: number): Fallback | null {
  return fallbackFonts.find((font) =>
    font.ranges.some(([from, to]) => codePoint >= from && codePoint <= to)
  ) ??
    null;
}

const rightToLeft = /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]/u;
const leftToRight = /[\p{L}]/u;
/** A character that belongs to the run before it: a space, a mark, a joiner, a variation selector. */
const attached = /[\s\p{M}\u200c\u200d\ufe00-\ufe0f]/u;

/** A piece of a line drawn in one font. */
export interface Run {
  text: string;
  font: PDFFont;
}

/** How a text is drawn: its fonts embedded in a document, a line of it as runs. */
export interface TextFonts {
  /**
   * Splits a line into runs, in the order they are drawn, left to right: `base` (a Roboto) where it has the
   * glyph, a fallback elsewhere; right to left when the line's first strong letter is Arabic or Hebrew.
   */
  runs(line: string, base: PDFFont): Run[];
}

/**
 * Embeds in `document` the fallbacks `text` needs (the name, and the statement that repeats it) and answers how
 * to split its lines into runs. 502 `storage_unavailable` when a needed font cannot be fetched.
 */
export async function fontsForText(document: PDFDocument, text: string): Promise<TextFonts> {
  const robotoCoverage = (await robotoFonts()).coverage;
  const needed = new Map<Fallback, string>();
  for (const character of text) {
    const codePoint = character.codePointAt(0)!;
    if (attached.test(character) || robotoCoverage.hasGlyphForCodePoint(codePoint)) continue;
    const fallback = fallbackFor(codePoint);
    if (fallback) needed.set(fallback, (needed.get(fallback) ?? "") + character);
  }
  const embedded = new Map<Fallback, PDFFont>();
  try {
    for (const [fallback, characters] of needed) {
      const bytes = await storageObject(fallback.object);
      embedded.set(
        fallback,
        fallback.subsetter === "pdf-lib"
          ? await document.embedFont(bytes, { subset: true })
          : await document.embedFont(await harfbuzzSubset(bytes, `${characters} `), { subset: false }),
      );
    }
  } catch (error) {
    log("error", "certificate_fonts_unavailable", { error: String(error) });
    throw new HttpError(502, "storage_unavailable", "The certificate's fonts could not be fetched; retry");
  }
  const fontOf = (character: string, base: PDFFont): PDFFont => {
    const codePoint = character.codePointAt(0)!;
    if (robotoCoverage.hasGlyphForCodePoint(codePoint)) return base;
    const fallback = fallbackFor(codePoint);
    return (fallback && embedded.get(fallback)) || base;
  };
  return {
    runs(line, base) {
      const characters = [...line];
      // A mark, joiner or variation selector goes with the character before it; a space stays inside a run
      // only between two characters of that run's font (else, at a run's edge, shaping right to left would
      // carry it to the wrong side).
      const fonts: (PDFFont | null)[] = characters.map((c) => attached.test(c) ? null : fontOf(c, base));
      characters.forEach((character, index) => {
        if (fonts[index]) return;
        const before = fonts.slice(0, index).findLast((font) => font !== null) ?? base;
        if (!/\s/u.test(character)) return void (fonts[index] = before);
        const after = fonts.slice(index + 1).find((font) => font !== null) ?? base;
        fonts[index] = before === after ? before : base;
      });
      const runs: Run[] = [];
      characters.forEach((character, index) => {
        const last = runs.at(-1);
        if (last && last.font === fonts[index]) last.text += character;
        else runs.push({ text: character, font: fonts[index]! });
      });
      // Each run is shaped (and put right to left within itself) by fontkit; in a line that reads right to
      // left, the runs go right to left too.
      const firstStrong = [...line].find((character) =>
        rightToLeft.test(character) || leftToRight.test(character)
      );
      return firstStrong !== undefined && rightToLeft.test(firstStrong) ? runs.reverse() : runs;
    },
  };
}
