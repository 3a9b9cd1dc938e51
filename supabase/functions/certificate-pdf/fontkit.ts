/**
 * fontkit 2 (foliojs, the font engine pdfkit uses) as pdf-lib registers it. The build is vendored without its
 * WOFF2 decoder (supabase/functions/_vendor/fontkit/README.md: brotli's dictionary alone was 1.4 MB of the
 * function's bundle, and every font here is a TTF). pdf-lib was written against fontkit 1, whose subsets were
 * read as a stream of chunks; fontkit 2 encodes a subset at once, so `encodeStream` hands pdf-lib that one chunk.
 */
import type { PDFDocument } from "pdf-lib";
import { create as createFont } from "../_vendor/fontkit/fontkit.js";

/** What is read of a font here and by pdf-lib's embedders (fontkit 2 ships no types). */
export interface Font {
  hasGlyphForCodePoint(codePoint: number): boolean;
  createSubset(): Subset;
}

interface Subset {
  encode(): Uint8Array;
  encodeStream?(): ChunkStream;
}

/** The part of a Node stream pdf-lib listens to. */
interface ChunkStream {
  on(event: "data" | "end" | "error", listener: (value?: unknown) => void): ChunkStream;
}

/** A stream that gives `bytes` as its only chunk, then ends (or fails with what encoding threw). */
function streamOf(encode: () => Uint8Array): ChunkStream {
  const listeners = new Map<string, (value?: unknown) => void>();
  queueMicrotask(() => {
    try {
      const bytes = encode();
      listeners.get("data")?.(bytes);
      listeners.get("end")?.();
    } catch (error) {
      listeners.get("error")?.(error);
    }
  });
  const stream: ChunkStream = {
    on(event, listener) {
      listeners.set(event, listener);
      return stream;
    },
  };
  return stream;
}

/** What pdf-lib's `registerFontkit` takes (typed as pdf-lib types fontkit 1, which reads the same). */
export const fontkit = {
  create(bytes: Uint8Array): Font {
    const font = createFont(bytes) as Font;
    const createSubset = font.createSubset.bind(font);
    font.createSubset = () => {
      const subset = createSubset();
      subset.encodeStream = () => streamOf(() => subset.encode());
      return subset;
    };
    return font;
  },
};

/** `fontkit` as pdf-lib's own types name it: the fonts it reads answer the same properties in fontkit 2. */
export const pdfLibFontkit = fontkit as unknown as Parameters<PDFDocument["registerFontkit"]>[0];
