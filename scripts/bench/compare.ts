/**
 * A full run against the previous one, where that means something across machines: every row's ratios to
 * its baseline measured in the same run (p50 and throughput). Absolute figures are never compared across
 * runs (the machines differ). A ratio moved beyond the runs' spread when its range over this run's rounds
 * and its range over the previous run's rounds do not overlap. Only like-for-like baselines are judged: a
 * baseline of TypeScript doing the database's work (the leaderboard's and the students' rows) moves with
 * the machine's JavaScript speed, not with the row's, so those rows are counted but not judged.
 */
import type { Figures, Row } from "./lib.ts";

/** What `npm run bench` keeps in bench/results/<date>.json (the parts compared here). */
export interface RunResults {
  date: string;
  scenarios: { name: string; machine: string; rows: Row[] }[];
}

interface Ratio {
  median: number;
  low: number;
  high: number;
}

/** The row's ratio to its baseline, with the widest range its rounds and the baseline's rounds allow. */
function ratio(rows: Row[], row: Row, pick: (figures: Figures) => number): Ratio | undefined {
  const base = rows.find((other) => other.name === row.baseline);
  if (!base) return undefined;
  const values = (row.rounds ?? [row.figures]).map(pick);
  const baseValues = (base.rounds ?? [base.figures]).map(pick);
  return {
    median: pick(row.figures) / pick(base.figures),
    low: Math.min(...values) / Math.max(...baseValues),
    high: Math.max(...values) / Math.min(...baseValues),
  };
}

export type Verdict = "within the spread" | "better" | "worse";

/** Baselines of another kind of work than their rows: their names start with this. */
export const otherWorkBaseline = "TypeScript";

/** Compares two ratios; `higherIsBetter` for throughput, not for latency. */
function judge(before: Ratio, now: Ratio, higherIsBetter: boolean): Verdict {
  if (now.low > before.high) return higherIsBetter ? "better" : "worse";
  if (now.high < before.low) return higherIsBetter ? "worse" : "better";
  return "within the spread";
}

export interface Comparison {
  scenario: string;
  row: string;
  p50: { before: Ratio; now: Ratio; verdict: Verdict };
  throughput: { before: Ratio; now: Ratio; verdict: Verdict };
  verdict: Verdict;
}

/** Every row with a like-for-like baseline in both runs, compared; `skipped` counts the others. */
export function compareRuns(
  previous: RunResults,
  current: RunResults,
): { comparisons: Comparison[]; skipped: number } {
  const comparisons: Comparison[] = [];
  let skipped = 0;
  for (const scenario of current.scenarios) {
    const before = previous.scenarios.find((other) => other.name === scenario.name);
    if (!before) continue;
    for (const row of scenario.rows) {
      const old = before.rows.find((other) => other.name === row.name);
      if (!old || !row.baseline) continue;
      if (row.baseline.startsWith(otherWorkBaseline)) {
        skipped++;
        continue;
      }
      const p50Now = ratio(scenario.rows, row, (f) => f.p50);
      const p50Before = ratio(before.rows, old, (f) => f.p50);
      const rateNow = ratio(scenario.rows, row, (f) => f.perSecond);
      const rateBefore = ratio(before.rows, old, (f) => f.perSecond);
      if (!p50Now || !p50Before || !rateNow || !rateBefore) continue;
      const p50 = { before: p50Before, now: p50Now, verdict: judge(p50Before, p50Now, false) };
      const throughput = { before: rateBefore, now: rateNow, verdict: judge(rateBefore, rateNow, true) };
      const verdicts = [p50.verdict, throughput.verdict];
      const verdict = verdicts.includes("worse")
        ? "worse"
        : verdicts.includes("better")
        ? "better"
        : "within the spread";
      comparisons.push({ scenario: scenario.name, row: row.name, p50, throughput, verdict });
    }
  }
  return { comparisons, skipped };
}

/** The comparison as a Markdown section for docs/benchmarks.md. */
export function comparisonMarkdown(previous: RunResults, current: RunResults): string {
  const { comparisons, skipped } = compareRuns(previous, current);
  const count = (verdict: Verdict) => comparisons.filter((c) => c.verdict === verdict).length;
  const shown = (r: Ratio) => `${r.median.toFixed(2)}× (${r.low.toFixed(2)}–${r.high.toFixed(2)})`;
  const machines = (run: RunResults) => [...new Set(run.scenarios.map((s) => s.machine))].join("; ");
  const worse = comparisons.filter((c) => c.verdict === "worse");
  return [
    `### Against the previous full run (${previous.date.slice(0, 16).replace("T", " ")})`,
    "",
    "Each row's ratios to its own baseline in the same run, this run against the previous one (median, and " +
    "the range its rounds and the baseline's rounds allow); absolute figures are not compared, the machines " +
    `may differ. Previous: ${machines(previous)}. This run: ${machines(current)}.`,
    "",
    `**${comparisons.length} rows compared: ${count("within the spread")} within the spread, ` +
    `${count("better")} better, ${count("worse")} worse${
      worse.length ? ` (${worse.map((c) => `${c.scenario}: ${c.row}`).join("; ")})` : ""
    }.** Not judged: ${skipped} row${
      skipped === 1 ? "" : "s"
    } against a baseline of TypeScript doing the database's work, ` +
    "whose ratio follows the machine's JavaScript speed.",
    "",
    "| scenario | row | p50 vs baseline, before → now | throughput vs baseline, before → now | verdict |",
    "|---|---|---|---|---|",
    ...comparisons.map((c) =>
      `| ${c.scenario} | ${c.row} | ${shown(c.p50.before)} → ${shown(c.p50.now)} | ` +
      `${shown(c.throughput.before)} → ${shown(c.throughput.now)} | ${c.verdict} |`
    ),
  ].join("\n");
}
