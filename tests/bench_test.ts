import assert from "node:assert/strict";
import { replaceGenerated } from "../scripts/bench.ts";
import { historyChart, scalingChart } from "../scripts/bench/chart.ts";
import { compareRuns, comparisonMarkdown, type RunResults } from "../scripts/bench/compare.ts";
import { repoRoot } from "../scripts/lib/database.ts";
import { findPgBouncer } from "../scripts/lib/pgbouncer.ts";
import { serverUrl } from "./support/database.ts";

const withPgBouncer = !("missing" in findPgBouncer());

// Proves every benchmark scenario still runs end to end; timings are never asserted (docs/benchmarks.md).
Deno.test("npm run bench -- --quick runs every scenario with zero errors, within the pool", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "scripts/bench.ts", "--quick"],
    cwd: repoRoot,
    env: { DATABASE_URL: serverUrl },
  }).output();
  const printed = new TextDecoder().decode(output.stdout);
  assert.equal(output.success, true, `${printed}\n${new TextDecoder().decode(output.stderr)}`);
  for (
    const title of [
      "### create-user",
      "### heartbeat",
      "### complete",
      "### leaderboard",
      "### students",
      "### analytics",
      "### exports",
      "### orders",
      "### figures",
      "### limits",
      "### second-sale",
      ...(withPgBouncer ? ["### instances"] : []),
    ]
  ) {
    assert.ok(printed.includes(title), `${title} is missing:\n${printed}`);
  }
  const rows = printed.split("\n").filter((line) =>
    /^\| (raw SQL|POST|…|TypeScript|GET|get_sales)/.test(line)
  );
  // create-user 5, heartbeat 5 (the baseline and 4 concurrencies), complete 4, leaderboard 4, students 15 (7 reads
  // one at a time and at concurrency 16, and the TypeScript search),
  // analytics 12 (3 reads over HTTP and straight, for each of 2 spans of history), exports 3 (the buffered
  // baseline and the two CSVs), orders 3 (the manager's creation and the two providers), figures 3 (off, off on a
  // second server, counted), second-sale 17 (the leaderboard's baseline and 8 reads one at a time and at
  // concurrency 16), instances 4 (with PgBouncer)
  assert.equal(rows.length, 5 + 5 + 4 + 4 + 15 + 12 + 3 + 3 + 3 + 17 + (withPgBouncer ? 4 : 0), printed);
  for (const row of rows) assert.equal(row.split("|")[6].trim(), "0", `errors in: ${row}`);
  // Like Supabase's pooler: the function server never holds more connections than its pool.
  const [, open, pool] = printed.match(/held open under the load: at most (\d+) \(pool (\d+)\)/) ?? [];
  assert.ok(Number(open) >= 1 && Number(open) <= Number(pool), `connections ${open} of pool ${pool}`);
  assert.match(printed, /Throughput with the figures counted: [\d.]+ % of without/);
  assert.match(
    printed,
    /^\| `GET …\/certificate\.pdf` \| complete-lesson \| [\d.]+ ms \|/m,
    "the limits table",
  );
  assert.match(printed, /function server peak RSS \(VmHWM\) after the load: \d+ MiB|not measurable here/);
  assert.match(printed, /^\| 10,000 students \| \d+ s \| \d+ ms/m, "the refresh row");
  assert.match(printed, /Peak resident memory \(VmHWM\) of the function server: (\d+ MiB|n\/a) before/);
  assert.match(
    printed,
    /^\| 3 \| [\d,]+ \| \d+ ms \(\d+–\d+\) \| [\d.]+× \| \d+ ms \|/m,
    "3 years of history",
  );
});

Deno.test("the runner rewrites only the generated part of docs/benchmarks.md", () => {
  const document =
    "# Benchmarks\n\nhand-written\n\n<!-- bench:generated:start -->\nold\n<!-- bench:generated:end -->\n\ntail\n";
  assert.equal(
    replaceGenerated(document, "new table"),
    "# Benchmarks\n\nhand-written\n\n<!-- bench:generated:start -->\nnew table\n<!-- bench:generated:end -->\n\ntail\n",
  );
  assert.equal(
    replaceGenerated("# Benchmarks\n", "first"),
    "# Benchmarks\n\n<!-- bench:generated:start -->\nfirst\n<!-- bench:generated:end -->\n",
  );
});

Deno.test("a full run is compared with the previous one by each row's ratio to its baseline, beyond the spread", () => {
  const figures = (p50: number, perSecond: number) => ({ p50, p95: p50, p99: p50, perSecond, errors: 0 });
  const run = (date: string, machine: string, rows: [string, number[], number[], string?][]): RunResults => ({
    date,
    scenarios: [{
      name: "heartbeat",
      machine,
      rows: rows.map(([name, p50s, rates, baseline]) => ({
        name,
        figures: figures(p50s[1], rates[1]),
        rounds: p50s.map((p50, i) => figures(p50, rates[i])),
        baseline,
      })),
    }],
  });
  // The previous run was on a machine twice as fast: its absolute figures are not what is compared.
  const previous = run("2026-11-23T10:00:00Z", "fast", [
    ["raw", [1.0, 1.0, 1.0], [1000, 1000, 1000]],
    ["steady", [2.0, 2.1, 2.2], [500, 480, 460], "raw"],
    ["slower", [2.0, 2.0, 2.0], [500, 500, 500], "raw"],
    ["faster", [4.0, 4.0, 4.0], [250, 250, 250], "raw"],
    ["gone", [1.0, 1.0, 1.0], [1000, 1000, 1000], "raw"],
    ["TypeScript aggregation", [10, 10, 10], [100, 100, 100]],
    ["read", [1.0, 1.0, 1.0], [1000, 1000, 1000], "TypeScript aggregation"],
  ]);
  const current = run("2026-11-30T10:00:00Z", "slow", [
    ["raw", [2.0, 2.0, 2.0], [500, 500, 500]],
    ["steady", [4.1, 4.2, 4.3], [245, 240, 235], "raw"],
    ["slower", [6.0, 6.0, 6.0], [160, 160, 160], "raw"],
    ["faster", [4.0, 4.0, 4.0], [250, 250, 250], "raw"],
    ["new", [1.0, 1.0, 1.0], [1000, 1000, 1000], "raw"],
    ["TypeScript aggregation", [5, 5, 5], [200, 200, 200]],
    ["read", [1.0, 1.0, 1.0], [1000, 1000, 1000], "TypeScript aggregation"],
  ]);
  const verdicts = Object.fromEntries(
    compareRuns(previous, current).comparisons.map((c) => [c.row, c.verdict]),
  );
  assert.deepEqual(verdicts, { steady: "within the spread", slower: "worse", faster: "better" });
  const markdown = comparisonMarkdown(previous, current);
  assert.match(markdown, /3 rows compared: 1 within the spread, 1 better, 1 worse \(heartbeat: slower\)/);
  assert.match(markdown, /Not judged: 1 row against a baseline of TypeScript/);
  assert.match(markdown, /\| heartbeat \| slower \| 2\.00× \(2\.00–2\.00\) → 3\.00× \(3\.00–3\.00\) \|/);
});

Deno.test("the scaling chart is an SVG with a line per series and every size on the axis", () => {
  const point = (students: number, scale: number) => ({
    students,
    generated_seconds: 1,
    read_p50_ms: 2,
    rpc_p50_ms: 1,
    typescript_p50_ms: 30 * scale,
    refresh_ms: [200 * scale, 250 * scale, 300 * scale],
    rebuild_ms: 500 * scale,
  });
  const svg = scalingChart([point(10_000, 1), point(100_000, 10), point(1_000_000, 100)]);
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.equal(svg.match(/<path d="M[^"]*L[^"]*L[^"]*" fill="none" stroke="#/g)?.length, 4);
  for (const label of ["10k", "100k", "1M", "GET /leaderboard p50", "refresh (minute job)", "1 s"]) {
    assert.ok(svg.includes(`>${label}<`), label);
  }
});

Deno.test("the history chart is an SVG with a line per series and every span of years on the axis", () => {
  const point = (years: number) => ({
    years,
    students: 10_000,
    history_rows: 1000 * years,
    refresh_ms: [30, 31, 32],
    closing_day_ms: [40, 41, 42],
    rebuild_ms: 300 * years,
    regroup_ms: [20 * years, 21 * years, 22 * years],
  });
  const svg = historyChart([point(1), point(2), point(3)]);
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.equal(svg.match(/<path d="M[^"]*L[^"]*L[^"]*" fill="none" stroke="#/g)?.length, 4);
  for (const label of ["1", "2", "3", "years of history", "minute refresh", "nightly rebuild", "100 ms"]) {
    assert.ok(svg.includes(`>${label}<`), label);
  }
});
