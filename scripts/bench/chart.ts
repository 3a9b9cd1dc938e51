/**
 * The leaderboard's scaling chart as a PNG (docs/leaderboard-scaling.png), drawn from a benchmark's
 * results with no drawing library: a log-log line chart on a pixel buffer, a 5×7 bitmap font, and a
 * PNG encoder (zlib from node:zlib, CRC-32 here). `deno run -A scripts/bench/chart.ts <results.json>`
 * redraws it from a saved run.
 */
import { deflateSync } from "node:zlib";
import type { ScalePoint } from "./leaderboard.ts";

type Rgb = [number, number, number];

// 5×7 glyphs, one string per row, "#" = ink. Only what the chart writes.
const glyphs: Record<string, string[]> = {
  "0": [" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "],
  "1": ["  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "],
  "2": [" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"],
  "3": ["#### ", "    #", "    #", " ### ", "    #", "    #", "#### "],
  "4": ["   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "],
  "5": ["#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "],
  "6": [" ### ", "#    ", "#    ", "#### ", "#   #", "#   #", " ### "],
  "7": ["#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "],
  "8": [" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "],
  "9": [" ### ", "#   #", "#   #", " ####", "    #", "    #", " ### "],
  "a": ["     ", "     ", " ### ", "    #", " ####", "#   #", " ####"],
  "b": ["#    ", "#    ", "#### ", "#   #", "#   #", "#   #", "#### "],
  "c": ["     ", "     ", " ### ", "#    ", "#    ", "#    ", " ### "],
  "d": ["    #", "    #", " ####", "#   #", "#   #", "#   #", " ####"],
  "e": ["     ", "     ", " ### ", "#   #", "#####", "#    ", " ### "],
  "f": ["  ## ", " #   ", "#### ", " #   ", " #   ", " #   ", " #   "],
  "g": ["     ", " ####", "#   #", "#   #", " ####", "    #", " ### "],
  "h": ["#    ", "#    ", "#### ", "#   #", "#   #", "#   #", "#   #"],
  "i": ["  #  ", "     ", " ##  ", "  #  ", "  #  ", "  #  ", " ### "],
  "j": ["   # ", "     ", "  ## ", "   # ", "   # ", "#  # ", " ##  "],
  "k": ["#    ", "#    ", "#  # ", "# #  ", "##   ", "# #  ", "#  # "],
  "l": [" ##  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "],
  "m": ["     ", "     ", "## # ", "# # #", "# # #", "# # #", "# # #"],
  "n": ["     ", "     ", "#### ", "#   #", "#   #", "#   #", "#   #"],
  "o": ["     ", "     ", " ### ", "#   #", "#   #", "#   #", " ### "],
  "p": ["     ", "#### ", "#   #", "#   #", "#### ", "#    ", "#    "],
  "r": ["     ", "     ", "# ## ", "##   ", "#    ", "#    ", "#    "],
  "s": ["     ", "     ", " ####", "#    ", " ### ", "    #", "#### "],
  "t": [" #   ", " #   ", "#### ", " #   ", " #   ", " #  #", "  ## "],
  "u": ["     ", "     ", "#   #", "#   #", "#   #", "#  ##", " ## #"],
  "v": ["     ", "     ", "#   #", "#   #", "#   #", " # # ", "  #  "],
  "w": ["     ", "     ", "#   #", "#   #", "# # #", "# # #", " # # "],
  "y": ["     ", "#   #", "#   #", " ####", "    #", "#   #", " ### "],
  "x": ["     ", "     ", "#   #", " # # ", "  #  ", " # # ", "#   #"],
  "M": ["#   #", "## ##", "# # #", "#   #", "#   #", "#   #", "#   #"],
  ".": ["     ", "     ", "     ", "     ", "     ", " ##  ", " ##  "],
  ",": ["     ", "     ", "     ", "     ", " ##  ", "  #  ", " #   "],
  ":": ["     ", " ##  ", " ##  ", "     ", " ##  ", " ##  ", "     "],
  "-": ["     ", "     ", "     ", "#####", "     ", "     ", "     "],
  "(": ["   # ", "  #  ", " #   ", " #   ", " #   ", "  #  ", "   # "],
  ")": [" #   ", "  #  ", "   # ", "   # ", "   # ", "  #  ", " #   "],
  "/": ["    #", "   # ", "   # ", "  #  ", " #   ", " #   ", "#    "],
  " ": ["     ", "     ", "     ", "     ", "     ", "     ", "     "],
};

class Canvas {
  readonly pixels: Uint8Array;
  constructor(readonly width: number, readonly height: number) {
    this.pixels = new Uint8Array(width * height * 3).fill(255);
  }
  dot(x: number, y: number, color: Rgb) {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    this.pixels.set(color, (y * this.width + x) * 3);
  }
  rect(x: number, y: number, w: number, h: number, color: Rgb) {
    for (let i = 0; i < w; i++) for (let j = 0; j < h; j++) this.dot(x + i, y + j, color);
  }
  line(x0: number, y0: number, x1: number, y1: number, color: Rgb, thickness = 1) {
    const steps = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
    for (let i = 0; i <= steps; i++) {
      const x = x0 + (x1 - x0) * i / steps;
      const y = y0 + (y1 - y0) * i / steps;
      this.rect(x - (thickness - 1) / 2, y - (thickness - 1) / 2, thickness, thickness, color);
    }
  }
  text(x: number, y: number, text: string, color: Rgb, scale = 2) {
    for (const [index, char] of [...text].entries()) {
      const glyph = glyphs[char] ?? glyphs[" "];
      glyph.forEach((row, j) =>
        [...row].forEach((ink, i) => {
          if (ink === "#") this.rect(x + (index * 6 + i) * scale, y + j * scale, scale, scale, color);
        })
      );
    }
  }
  textWidth(text: string, scale = 2) {
    return text.length * 6 * scale;
  }
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = crcTable[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** An RGB canvas as PNG bytes. */
export function encodePng(canvas: Canvas): Uint8Array {
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, canvas.width);
  view.setUint32(4, canvas.height);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB, deflate, no filter method, no interlace
  const stride = canvas.width * 3;
  const raw = new Uint8Array((stride + 1) * canvas.height);
  for (let y = 0; y < canvas.height; y++) {
    raw[y * (stride + 1)] = 0; // filter: none
    raw.set(canvas.pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", new Uint8Array(deflateSync(raw))),
    chunk("IEND", new Uint8Array()),
  ];
  const png = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    png.set(part, offset);
    offset += part.length;
  }
  return png;
}

function studentsLabel(students: number): string {
  return students >= 1_000_000 ? `${students / 1_000_000}M` : `${Math.round(students / 1000)}k`;
}

function msLabel(ms: number): string {
  return ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`;
}

/** Read p50, minute refresh, nightly rebuild and the TypeScript aggregation against students, log-log. */
export function scalingChart(points: ScalePoint[]): Uint8Array {
  const canvas = new Canvas(760, 460);
  const left = 90, right = 20, top = 50, bottom = 60;
  const plotW = canvas.width - left - right, plotH = canvas.height - top - bottom;
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const series: { name: string; color: Rgb; values: number[] }[] = [
    { name: "get /leaderboard p50", color: [31, 119, 180], values: points.map((p) => p.read_p50_ms) },
    { name: "refresh (minute job)", color: [214, 39, 40], values: points.map((p) => median(p.refresh_ms)) },
    { name: "rebuild (nightly)", color: [148, 103, 189], values: points.map((p) => p.rebuild_ms) },
    {
      name: "typescript aggregation p50",
      color: [127, 127, 127],
      values: points.map((p) => p.typescript_p50_ms),
    },
  ];
  const all = series.flatMap((s) => s.values).filter((v) => v > 0);
  const yMin = Math.floor(Math.log10(Math.min(...all)));
  const yMax = Math.ceil(Math.log10(Math.max(...all)));
  const xs = points.map((p) => Math.log10(p.students));
  const xMin = Math.min(...xs) - 0.25, xMax = Math.max(...xs) + 0.25;
  const px = (students: number) => left + (Math.log10(students) - xMin) / (xMax - xMin) * plotW;
  const py = (ms: number) => top + plotH - (Math.log10(ms) - yMin) / (yMax - yMin) * plotH;
  const ink: Rgb = [40, 40, 40], grid: Rgb = [225, 225, 225];

  canvas.text(left, 14, "leaderboard cost vs students (log-log)", ink);
  for (let decade = yMin; decade <= yMax; decade++) {
    const y = py(10 ** decade);
    canvas.line(left, y, left + plotW, y, grid);
    const label = msLabel(Number((10 ** decade).toPrecision(1)));
    canvas.text(left - 8 - canvas.textWidth(label), y - 7, label, ink);
  }
  for (const point of points) {
    const x = px(point.students);
    canvas.line(x, top, x, top + plotH, grid);
    const label = studentsLabel(point.students);
    canvas.text(x - canvas.textWidth(label) / 2, top + plotH + 10, label, ink);
  }
  canvas.text(left + plotW / 2 - canvas.textWidth("students") / 2, top + plotH + 34, "students", ink);
  canvas.line(left, top, left, top + plotH, ink);
  canvas.line(left, top + plotH, left + plotW, top + plotH, ink);

  for (const s of series) {
    points.forEach((point, i) => {
      const x = px(point.students), y = py(s.values[i]);
      canvas.rect(x - 3, y - 3, 7, 7, s.color);
      if (i > 0) canvas.line(px(points[i - 1].students), py(s.values[i - 1]), x, y, s.color, 2);
    });
  }
  series.forEach((s, i) => {
    const y = top + 8 + i * 20;
    canvas.rect(left + 12, y + 2, 12, 10, s.color);
    canvas.text(left + 30, y, s.name, ink);
  });
  return encodePng(canvas);
}

if (import.meta.main) {
  const file = Deno.args[0];
  if (!file) {
    console.error("usage: deno run -A scripts/bench/chart.ts bench/results/<date>.json");
    Deno.exit(2);
  }
  const results = JSON.parse(await Deno.readTextFile(file));
  const points = results.scenarios.find((s: { name: string }) => s.name === "leaderboard")?.extra?.scale;
  if (!points?.length) throw new Error(`${file} has no leaderboard scale points`);
  await Deno.writeFile(new URL("../../docs/leaderboard-scaling.png", import.meta.url), scalingChart(points));
  console.log("wrote docs/leaderboard-scaling.png");
}
