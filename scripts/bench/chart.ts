/**
 * The leaderboard's scaling chart as SVG (docs/leaderboard-scaling.svg), drawn from a benchmark's
 * results: a log-log line chart, text as text. `deno run -A scripts/bench/chart.ts <results.json>` redraws
 * it from a saved run.
 */
import type { HistoryPoint } from "./analytics.ts";
import type { ScalePoint } from "./leaderboard.ts";

function studentsLabel(students: number): string {
  return students >= 1_000_000 ? `${students / 1_000_000}M` : `${Math.round(students / 1000)}k`;
}

function msLabel(ms: number): string {
  return ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
}

const escapeXml = (text: string) =>
  text.replace(/[&<>"]/g, (char) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[char]!);

const round = (value: number) => Math.round(value * 10) / 10;

interface Series {
  name: string;
  color: string;
  values: number[];
}

/**
 * A line chart, text as text: one tick per point on the x axis (placed by `x`, labelled by `label`), time on
 * a log scale with a line per decade, a line of squares per series and the legend at the top left.
 */
function lineChart(options: {
  title: string;
  axis: string;
  ticks: { x: number; label: string }[];
  xRange: [number, number];
  series: Series[];
}): string {
  const width = 760, height = 460;
  const left = 90, right = 20, top = 50, bottom = 60;
  const plotW = width - left - right, plotH = height - top - bottom;
  const all = options.series.flatMap((s) => s.values).filter((v) => v > 0);
  const yMin = Math.floor(Math.log10(Math.min(...all)));
  const yMax = Math.ceil(Math.log10(Math.max(...all)));
  const [xMin, xMax] = options.xRange;
  const px = (x: number) => round(left + (x - xMin) / (xMax - xMin) * plotW);
  const py = (ms: number) =>
    round(top + plotH - (Math.log10(Math.max(ms, 10 ** yMin)) - yMin) / (yMax - yMin) * plotH);

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="24" font-size="14">${escapeXml(options.title)}</text>`,
  ];
  for (let decade = yMin; decade <= yMax; decade++) {
    const y = py(10 ** decade);
    parts.push(`<line x1="${left}" y1="${y}" x2="${left + plotW}" y2="${y}" stroke="#e1e1e1"/>`);
    const label = msLabel(Number((10 ** decade).toPrecision(1)));
    parts.push(`<text x="${left - 8}" y="${y + 4}" text-anchor="end">${escapeXml(label)}</text>`);
  }
  for (const tick of options.ticks) {
    const x = px(tick.x);
    parts.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${top + plotH}" stroke="#e1e1e1"/>`);
    parts.push(`<text x="${x}" y="${top + plotH + 20}" text-anchor="middle">${escapeXml(tick.label)}</text>`);
  }
  parts.push(
    `<text x="${left + plotW / 2}" y="${top + plotH + 44}" text-anchor="middle">${
      escapeXml(options.axis)
    }</text>`,
  );
  parts.push(`<path d="M${left} ${top}V${top + plotH}H${left + plotW}" fill="none" stroke="#282828"/>`);
  for (const s of options.series) {
    const path = options.ticks.map((tick, i) => `${i ? "L" : "M"}${px(tick.x)} ${py(s.values[i])}`).join("");
    parts.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const [i, tick] of options.ticks.entries()) {
      parts.push(
        `<rect x="${px(tick.x) - 3}" y="${py(s.values[i]) - 3}" width="7" height="7" fill="${s.color}"/>`,
      );
    }
  }
  options.series.forEach((s, i) => {
    const y = top + 8 + i * 20;
    parts.push(`<rect x="${left + 12}" y="${y + 2}" width="12" height="10" fill="${s.color}"/>`);
    parts.push(`<text x="${left + 30}" y="${y + 11}">${escapeXml(s.name)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** Read p50, minute refresh, nightly rebuild and the TypeScript aggregation against students, log-log. */
export function scalingChart(points: ScalePoint[]): string {
  const xs = points.map((p) => Math.log10(p.students));
  return lineChart({
    title: "Leaderboard cost against students (log-log)",
    axis: "students",
    ticks: points.map((p) => ({ x: Math.log10(p.students), label: studentsLabel(p.students) })),
    xRange: [Math.min(...xs) - 0.25, Math.max(...xs) + 0.25],
    series: [
      { name: "GET /leaderboard p50", color: "#1f77b4", values: points.map((p) => p.read_p50_ms) },
      { name: "refresh (minute job)", color: "#d62728", values: points.map((p) => median(p.refresh_ms)) },
      { name: "rebuild (nightly)", color: "#9467bd", values: points.map((p) => p.rebuild_ms) },
      {
        name: "TypeScript aggregation p50",
        color: "#7f7f7f",
        values: points.map((p) => p.typescript_p50_ms),
      },
    ],
  });
}

export const chartFile = new URL("../../docs/leaderboard-scaling.svg", import.meta.url);

/** The analytics' cost against years of history (docs/analytics-history.svg): linear years, log time. */
export function historyChart(points: HistoryPoint[]): string {
  return lineChart({
    title: "Analytics cost against years of history (time: log scale)",
    axis: "years of history",
    ticks: points.map((p) => ({ x: p.years, label: String(p.years) })),
    xRange: [0, Math.max(...points.map((p) => p.years)) + 0.5],
    series: [
      { name: "minute refresh", color: "#d62728", values: points.map((p) => median(p.refresh_ms)) },
      {
        name: "refresh that closes a day",
        color: "#ff7f0e",
        values: points.map((p) => median(p.closing_day_ms)),
      },
      {
        name: "regrouping the whole history (before)",
        color: "#7f7f7f",
        values: points.map((p) => median(p.regroup_ms)),
      },
      { name: "nightly rebuild", color: "#9467bd", values: points.map((p) => p.rebuild_ms) },
    ],
  });
}

export const historyChartFile = new URL("../../docs/analytics-history.svg", import.meta.url);

if (import.meta.main) {
  const file = Deno.args[0];
  if (!file) {
    console.error("usage: deno run -A scripts/bench/chart.ts bench/results/<date>.json");
    Deno.exit(2);
  }
  const results = JSON.parse(await Deno.readTextFile(file));
  const points = results.scenarios.find((s: { name: string }) => s.name === "leaderboard")?.extra?.scale;
  if (!points?.length) throw new Error(`${file} has no leaderboard scale points`);
  await Deno.writeTextFile(chartFile, scalingChart(points));
  console.log("wrote docs/leaderboard-scaling.svg");
}
