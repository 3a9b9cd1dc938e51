import assert from "node:assert/strict";
import { replaceGenerated } from "../scripts/bench.ts";
import { scalingChart } from "../scripts/bench/chart.ts";
import { repoRoot } from "../scripts/lib/database.ts";
import { serverUrl } from "./support/database.ts";

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
    const title of ["### create-user", "### heartbeat", "### complete", "### leaderboard", "### students"]
  ) {
    assert.ok(printed.includes(title), `${title} is missing:\n${printed}`);
  }
  const rows = printed.split("\n").filter((line) =>
    /^\| (raw SQL|POST|…|TypeScript|GET|get_sales)/.test(line)
  );
  assert.equal(rows.length, 5 + 2 + 4 + 4 + 5, printed);
  for (const row of rows) assert.equal(row.split("|")[6].trim(), "0", `errors in: ${row}`);
  // Like Supabase's pooler: the function server never holds more connections than its pool.
  const [, open, pool] = printed.match(/held open under the load: at most (\d+) \(pool (\d+)\)/) ?? [];
  assert.ok(Number(open) >= 1 && Number(open) <= Number(pool), `connections ${open} of pool ${pool}`);
  assert.match(printed, /function server peak RSS \(VmHWM\) after the load: \d+ MiB|not measurable here/);
  assert.match(printed, /^\| 10,000 students \| \d+ s \| \d+ ms/m, "the refresh row");
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
