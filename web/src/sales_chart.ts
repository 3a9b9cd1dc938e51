/// <reference lib="dom" />
/** The sales chart: the last days as bars with their axes, a summary for screen readers and the same figures as a table. */

import type { SalesChart } from "../../supabase/functions/leaderboard/leaderboard.ts";

import { h } from "./dom.ts";
import { formatDay, formatDayRange, formatMoney, t } from "./i18n.ts";

/** Appends an SVG element with its attributes (and text). */
export function svgElement(
  parent: Element,
  tag: string,
  attributes: Record<string, string | number>,
  text?: string,
) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  parent.append(element);
  return element;
}

/**
 * The sales of the last days as bars with their axes (revenue up the left, days along the bottom, the best
 * day's value on its bar), a one-sentence summary for screen readers, and the same figures as a table.
 */
export function salesChart(chart: SalesChart): HTMLElement {
  const left = 70;
  const top = 18;
  const width = 600;
  const height = 160;
  const max = Math.max(1, ...chart.days.map((day) => day.revenue));
  const total = chart.days.reduce((sum, day) => sum + day.revenue, 0);
  const best = chart.days.reduce((top, day) => day.revenue > top.revenue ? day : top, chart.days[0]);
  const barWidth = (width - left) / chart.days.length;
  const summary = t("board.chart_summary", {
    range: formatDayRange(chart.from, chart.to),
    total: formatMoney(total, chart.currency),
    day: best?.day ? formatDay(best.day) : "",
    best: formatMoney(best?.revenue ?? 0, chart.currency),
  });
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${top + height + 24}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", summary);
  svg.classList.add("chart");
  // The axes: revenue from 0 to the best day, the first and last day.
  const bottom = top + height;
  svgElement(svg, "line", { x1: left, y1: top, x2: left, y2: bottom, class: "axis" });
  svgElement(svg, "line", { x1: left, y1: bottom, x2: width, y2: bottom, class: "axis" });
  svgElement(
    svg,
    "text",
    { x: left - 6, y: top + 4, "text-anchor": "end" },
    formatMoney(max, chart.currency),
  );
  svgElement(svg, "text", { x: left - 6, y: bottom, "text-anchor": "end" }, "0");
  chart.days.forEach((day, index) => {
    const barHeight = (day.revenue / max) * height;
    const x = left + index * barWidth + 1;
    const bar = svgElement(svg, "rect", {
      x,
      y: bottom - barHeight,
      width: Math.max(1, barWidth - 2),
      height: barHeight,
    });
    svgElement(bar, "title", {}, `${formatDay(day.day)}: ${formatMoney(day.revenue, chart.currency)}`);
    if (day === best && day.revenue > 0) {
      // The best day's value above its bar, kept inside the chart at either end.
      const nearEnd = x + barWidth / 2 > width - 40;
      svgElement(
        svg,
        "text",
        {
          x: nearEnd ? x + barWidth - 2 : x + barWidth / 2,
          y: bottom - barHeight - 4,
          "text-anchor": nearEnd ? "end" : "middle",
        },
        formatMoney(day.revenue, chart.currency),
      );
    }
  });
  const firstDay = chart.days[0]?.day;
  const lastDay = chart.days.at(-1)?.day;
  svgElement(
    svg,
    "text",
    { x: left, y: bottom + 18, "text-anchor": "start" },
    firstDay ? formatDay(firstDay) : "",
  );
  svgElement(
    svg,
    "text",
    { x: width, y: bottom + 18, "text-anchor": "end" },
    lastDay ? formatDay(lastDay) : "",
  );
  return h(
    "figure",
    { class: "chart-figure" },
    svg,
    h("figcaption", {}, summary),
    h(
      "details",
      {},
      h("summary", {}, t("board.chart_table")),
      h(
        "table",
        {},
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, t("board.day")),
            h("th", { scope: "col" }, t("board.revenue")),
          ),
        ),
        h(
          "tbody",
          {},
          chart.days.map((day) =>
            h(
              "tr",
              {},
              h("td", {}, formatDay(day.day)),
              h("td", { class: "number" }, formatMoney(day.revenue, chart.currency)),
            )
          ),
        ),
      ),
    ),
  );
}
