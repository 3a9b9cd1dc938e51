/**
 * `npm test`: the one gate. Starts a throwaway embedded Postgres (or uses DATABASE_URL), then runs
 * `deno fmt --check`, `deno lint`, `deno check` and `deno test` against it, and closes with
 * `N passed, N failed`.
 */
import postgres from "postgres";
import { prepareCertificateFonts } from "./lib/certificate_fonts.ts";
import { startScratchPostgres } from "./lib/processes.ts";

const deno = Deno.execPath();

async function run(args: string[], env: Record<string, string> = {}, capture = false) {
  const command = new Deno.Command(deno, {
    args,
    env,
    stdout: capture ? "piped" : "inherit",
    stderr: "inherit",
  });
  if (!capture) return { success: (await command.output()).success, text: "" };
  const child = command.spawn();
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    const part = decoder.decode(chunk, { stream: true });
    text += part;
    await Deno.stdout.write(chunk);
  }
  return { success: (await child.status).success, text };
}

let failedChecks = 0;
for (const check of [["fmt", "--check"], ["lint"], ["check", "."]]) {
  console.log(`\n$ deno ${check.join(" ")}`);
  if (!(await run(check)).success) failedChecks++;
}

/** The tests make throwaway databases (tripwire_t_…) and templates; drop what a run left behind. */
async function dropTestDatabases(url: string) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const leftovers = await sql<{ name: string }[]>`
      select datname as name from pg_database where datname like 'tripwire\_t\_%'`;
    for (const { name } of leftovers) await sql.unsafe(`drop database if exists "${name}" with (force)`);
  } finally {
    await sql.end();
  }
}

// The certificate's fonts in the local Storage's bucket, as `npm start` has them.
await prepareCertificateFonts();

let databaseUrl = Deno.env.get("DATABASE_URL");
let stopDatabase = () => dropTestDatabases(databaseUrl!);
if (!databaseUrl) {
  const database = await startScratchPostgres("tripwire-test-pg-");
  databaseUrl = database.url;
  stopDatabase = database.stop;
  console.log(`\nEmbedded Postgres 17 for the tests on ${new URL(databaseUrl).host}`);
}

let passed = 0;
let failed = 0;
try {
  console.log("\n$ deno test");
  const result = await run(["test", "--allow-all", "tests/"], { TEST_DATABASE_URL: databaseUrl }, true);
  // Deno's own summary: "ok | 12 passed (40 steps) | 0 failed (3s)".
  const summary = result.text.match(/(\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/g)?.at(-1);
  const numbers = summary?.match(/(\d+) passed.*\| (\d+) failed/);
  passed = Number(numbers?.[1] ?? 0);
  failed = Number(numbers?.[2] ?? 0);
  if (!result.success && failed === 0) failed = 1;
  const ignored = Number(result.text.match(/\| (\d+) ignored/g)?.at(-1)?.match(/\d+/)?.[0] ?? 0);
  if (ignored > 0) console.error(`\n!!! ${ignored} test(s) SKIPPED (see "SKIPPED" above: no Chromium?) !!!`);
} finally {
  await stopDatabase();
}

// Lint, format and type checks count as tests of the gate.
console.log(`\n${passed} passed, ${failed + failedChecks} failed`);
Deno.exit(failed + failedChecks === 0 && passed > 0 ? 0 : 1);
