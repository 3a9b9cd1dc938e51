/**
 * `npm run bench [-- <scenario>…] [--quick] [--requests N] [--concurrency C] [--students N,M]`: runs the named
 * benchmark scenarios (all when none is named) against a fresh local stack and prints Markdown
 * tables with ratios measured in the same run. Timings are never asserted; see docs/benchmarks.md.
 */
import type { BenchOptions } from "./bench/lib.ts";

const scenarios: Record<string, () => Promise<{ run(options: BenchOptions): Promise<string> }>> = {
  "create-user": () => import("./bench/create-user.ts"),
  "heartbeat": () => import("./bench/heartbeat.ts"),
  "complete": () => import("./bench/complete.ts"),
  "leaderboard": () => import("./bench/leaderboard.ts"),
};

const names: string[] = [];
const options: BenchOptions = { quick: false };
for (let index = 0; index < Deno.args.length; index++) {
  const arg = Deno.args[index];
  if (arg === "--quick") options.quick = true;
  else if (arg === "--requests") options.requests = Number(Deno.args[++index]);
  else if (arg === "--concurrency") options.concurrency = Number(Deno.args[++index]);
  else if (arg === "--students") options.students = Deno.args[++index].split(",").map(Number);
  else if (arg in scenarios) names.push(arg);
  else {
    console.error(`Unknown argument ${arg}. Scenarios: ${Object.keys(scenarios).join(", ")}`);
    Deno.exit(2);
  }
}

const reports: string[] = [];
for (const name of names.length ? names : Object.keys(scenarios)) {
  console.log(`\n== ${name}${options.quick ? " (quick)" : ""}`);
  reports.push(await (await scenarios[name]()).run(options));
}
console.log(`\n${reports.join("\n\n")}`);
