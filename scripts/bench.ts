/**
 * `npm run bench [-- <scenario>…] [--quick] [--rounds R] [--requests N] [--concurrency C] [--students N,M]
 * [--years 1,2,3] [--write]`: runs the named benchmark scenarios (all when none is named), each against a
 * fresh local stack, warm-up first, every row measured in rounds (median and spread), and prints Markdown
 * tables with ratios measured in the same run. A full run of every scenario (or `--write`) also keeps the
 * figures in `bench/results/<date>.json`, rewrites the generated part of docs/benchmarks.md (with each row's
 * ratio to its baseline against the previous kept run's, scripts/bench/compare.ts) and redraws
 * docs/leaderboard-scaling.svg. `--quick` (under a minute) is the smoke test CI runs; timings are never
 * asserted anywhere.
 */
import { chartFile, historyChart, historyChartFile, scalingChart } from "./bench/chart.ts";
import { comparisonMarkdown, type RunResults } from "./bench/compare.ts";
import type { BenchOptions, ScenarioReport } from "./bench/lib.ts";

const scenarios: Record<string, () => Promise<{ run(options: BenchOptions): Promise<ScenarioReport> }>> = {
  "create-user": () => import("./bench/create-user.ts"),
  "heartbeat": () => import("./bench/heartbeat.ts"),
  "instances": () => import("./bench/instances.ts"),
  "complete": () => import("./bench/complete.ts"),
  "leaderboard": () => import("./bench/leaderboard.ts"),
  "students": () => import("./bench/students.ts"),
  "analytics": () => import("./bench/analytics.ts"),
  "exports": () => import("./bench/exports.ts"),
  "orders": () => import("./bench/orders.ts"),
  "webhooks": () => import("./bench/webhooks.ts"),
  "figures": () => import("./bench/figures.ts"),
  "limits": () => import("./bench/limits.ts"),
  "second-sale": () => import("./bench/second-sale.ts"),
};

const generatedStart = "<!-- bench:generated:start -->";
const generatedEnd = "<!-- bench:generated:end -->";

/** Replaces the generated part of docs/benchmarks.md (between the two markers) with `body`. */
export function replaceGenerated(document: string, body: string): string {
  const start = document.indexOf(generatedStart);
  const end = document.indexOf(generatedEnd);
  const block = `${generatedStart}\n${body.trim()}\n${generatedEnd}`;
  if (start < 0 || end < start) return `${document.trimEnd()}\n\n${block}\n`;
  return document.slice(0, start) + block + document.slice(end + generatedEnd.length);
}

/** The latest full run kept in bench/results (read before this run's file may replace it), if any. */
async function latestResults(dir: URL): Promise<RunResults | undefined> {
  let latest: RunResults | undefined;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".json")) continue;
    const results = JSON.parse(await Deno.readTextFile(new URL(entry.name, dir))) as RunResults;
    if (!latest || results.date > latest.date) latest = results;
  }
  return latest;
}

function parseArguments(args: string[]): { names: string[]; options: BenchOptions; write: boolean } {
  const names: string[] = [];
  const options: BenchOptions = { quick: false };
  let write = false;
  const number = (value: string | undefined, flag: string) => {
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < 1) throw new Error(`${flag} needs a positive whole number`);
    return parsed;
  };
  for (let index = 0; index < args.length; index++) {
    const arg = args[index];
    if (arg === "--quick") options.quick = true;
    else if (arg === "--write") write = true;
    else if (arg === "--rounds") options.rounds = number(args[++index], arg);
    else if (arg === "--requests") options.requests = number(args[++index], arg);
    else if (arg === "--concurrency") options.concurrency = number(args[++index], arg);
    else if (arg === "--students") {
      options.students = (args[++index] ?? "").split(",").map((n) => number(n, arg));
    } else if (arg === "--years") {
      options.years = (args[++index] ?? "").split(",").map((n) => number(n, arg));
    } else if (arg in scenarios) names.push(arg);
    else throw new Error(`Unknown argument ${arg}. Scenarios: ${Object.keys(scenarios).join(", ")}`);
  }
  return { names, options, write };
}

if (import.meta.main) {
  let parsed: ReturnType<typeof parseArguments>;
  try {
    parsed = parseArguments(Deno.args);
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(2);
  }
  const { names, options } = parsed;
  const chosen = names.length ? names : Object.keys(scenarios);
  const started = new Date();
  const reports: { name: string; report: ScenarioReport }[] = [];
  for (const name of chosen) {
    console.log(`\n== ${name}${options.quick ? " (quick)" : ""}`);
    reports.push({ name, report: await (await scenarios[name]()).run(options) });
  }
  const markdown = reports.map(({ report }) => report.markdown).join("\n\n");
  console.log(`\n${markdown}`);

  const write = parsed.write || (!options.quick && names.length === 0);
  if (write) {
    const date = started.toISOString().slice(0, 10);
    const results = {
      date: started.toISOString(),
      seconds: (Date.now() - started.getTime()) / 1000,
      options,
      scenarios: reports.map(({ name, report }) => ({
        name,
        machine: report.machine,
        rows: report.rows,
        extra: report.extra ?? {},
      })),
    };
    const resultsDir = new URL("../bench/results/", import.meta.url);
    await Deno.mkdir(resultsDir, { recursive: true });
    const previous = await latestResults(resultsDir);
    const resultsFile = new URL(`${date}.json`, resultsDir);
    await Deno.writeTextFile(resultsFile, `${JSON.stringify(results, null, 2)}\n`);

    const docs = new URL("../docs/benchmarks.md", import.meta.url);
    const body = [
      `### Latest run: ${date}, \`npm run bench${Deno.args.length ? ` -- ${Deno.args.join(" ")}` : ""}\``,
      "",
      `Generated by the runner (figures also in \`bench/results/${date}.json\`); each figure is the median of ` +
      "its rounds, the last column their spread.",
      "",
      markdown.replaceAll(/^### /gm, "#### "),
      ...(previous ? ["", comparisonMarkdown(previous, results).replaceAll(/^### /gm, "#### ")] : []),
    ].join("\n");
    await Deno.writeTextFile(docs, replaceGenerated(await Deno.readTextFile(docs), body));
    // The tables as `deno fmt` lays them out, so `npm test`'s format check stays clean.
    await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", docs.pathname] }).output();
    const scale = reports.find(({ name }) => name === "leaderboard")?.report.extra?.scale;
    if (Array.isArray(scale) && scale.length > 1) {
      await Deno.writeTextFile(chartFile, scalingChart(scale));
    }
    const history = reports.find(({ name }) => name === "analytics")?.report.extra?.history;
    if (Array.isArray(history) && history.length > 1) {
      await Deno.writeTextFile(historyChartFile, historyChart(history));
    }
    // The charts too, as `deno fmt` lays them out.
    await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--quiet", chartFile.pathname, historyChartFile.pathname],
    }).output();
    console.log(`\nWrote bench/results/${date}.json and docs/benchmarks.md (the generated part).`);
  }
}
