import assert from "node:assert/strict";
import { repoRoot } from "../scripts/lib/database.ts";
import { serverUrl } from "./support/database.ts";

// Proves the benchmark still runs end to end; its timings are never asserted (docs/benchmarks.md).
Deno.test("npm run bench -- create-user --quick runs and reports its table with zero errors", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "scripts/bench.ts", "create-user", "--quick", "--requests", "20"],
    cwd: repoRoot,
    env: { DATABASE_URL: serverUrl },
  }).output();
  const printed = new TextDecoder().decode(output.stdout);
  assert.equal(output.success, true, `${printed}\n${new TextDecoder().decode(output.stderr)}`);
  const rows = printed.split("\n").filter((line) => /^\| (raw SQL|POST|…)/.test(line));
  assert.equal(rows.length, 5, printed);
  for (const row of rows) assert.equal(row.split("|")[6].trim(), "0", `errors in: ${row}`);
});

Deno.test("npm run bench -- leaderboard --quick generates data, refreshes, reads, with zero errors", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "scripts/bench.ts",
      "leaderboard",
      "--quick",
      "--students",
      "2000",
      "--requests",
      "20",
    ],
    cwd: repoRoot,
    env: { DATABASE_URL: serverUrl },
  }).output();
  const printed = new TextDecoder().decode(output.stdout);
  assert.equal(output.success, true, `${printed}\n${new TextDecoder().decode(output.stderr)}`);
  const rows = printed.split("\n").filter((line) => /^\| (TypeScript|GET|…|get_sales)/.test(line));
  assert.equal(rows.length, 4, printed);
  for (const row of rows) assert.equal(row.split("|")[6].trim(), "0", `errors in: ${row}`);
  assert.match(printed, /^\| 2,000 students \| \d+ s \| \d+ ms/m, "the refresh row");
});
