/// <reference lib="dom" />
/**
 * A lesson's retention as lines: the share of its starters still watching at each second, for everyone, for
 * buyers of the main course and for the others; the axes (0–100 % up the left, the video's time along the
 * bottom), a legend, and a one-sentence summary for screen readers.
 */
import type { Retention } from "../../supabase/functions/second-sale/retention.ts";
import { h } from "./dom.ts";
import { formatNumber, t } from "./i18n.ts";
import { svgElement } from "./sales_chart.ts";

const lines = [
  ["all", "retention-all"],
  ["bought", "retention-bought"],
  ["not_bought", "retention-not-bought"],
] as const;

/** A second of a video as its player shows it: 125 → "2:05". */
export function videoTime(seconds: number): string {
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

export function retentionChart(retention: Retention, summary: string): HTMLElement {
  const left = 84;
  const top = 12;
  const width = 600;
  const height = 160;
  const bottom = top + height;
  const span = Math.max(1, retention.duration_seconds - 1);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${bottom + 24}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", summary);
  svg.classList.add("chart");
  svgElement(svg, "line", { x1: left, y1: top, x2: left, y2: bottom, class: "axis" });
  svgElement(svg, "line", { x1: left, y1: bottom, x2: width, y2: bottom, class: "axis" });
  svgElement(svg, "text", { x: left - 6, y: top + 4, "text-anchor": "end" }, formatNumber(1, "percent"));
  svgElement(svg, "text", { x: left - 6, y: bottom, "text-anchor": "end" }, formatNumber(0, "percent"));
  svgElement(svg, "text", { x: left, y: bottom + 18, "text-anchor": "start" }, "0:00");
  svgElement(
    svg,
    "text",
    { x: width, y: bottom + 18, "text-anchor": "end" },
    videoTime(retention.duration_seconds),
  );
  for (const [group, className] of lines) {
    const share = retention[group].share;
    if (share.length === 0) continue;
    // One point every few seconds is enough for the eye; the curve's own steps stay where they are.
    const step = Math.max(1, Math.floor(share.length / 300));
    const points = share.filter((_, second) => second % step === 0 || second === share.length - 1)
      .map((value, index) => {
        const second = Math.min(index * step, share.length - 1);
        return `${(left + (second / span) * (width - left)).toFixed(1)},${
          (bottom - value * height).toFixed(1)
        }`;
      });
    svgElement(svg, "polyline", { points: points.join(" "), class: className, fill: "none" });
  }
  return h(
    "figure",
    { class: "chart-figure" },
    svg,
    h(
      "ul",
      { class: "legend" },
      lines.map(([group, className]) =>
        h(
          "li",
          {},
          h("span", { class: `swatch ${className}`, "aria-hidden": "true" }),
          `${t(`second.retention.${group}`)} (${retention[group].starters})`,
        )
      ),
    ),
    h("figcaption", {}, summary),
  );
}
