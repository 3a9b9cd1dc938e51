/**
 * Other projects' code carried in `supabase/functions/_vendor/` is what its README says: each copy is its npm
 * release plus the stored change, checked here against the release npm installed (devDependencies).
 */
import assert from "node:assert/strict";
import { builtinModules } from "node:module";
import {
  copyPostgresFiles,
  fontkitFile,
  fontkitText,
  installedVersion,
  postgresDiffFile,
  postgresDiffText,
  postgresFiles,
  postgresFolder,
  postgresUpstreamFolder,
} from "../scripts/lib/generated.ts";

Deno.test("the vendored fontkit is the npm package's build, as its README says (npm run gen:fontkit)", async () => {
  assert.equal(await Deno.readTextFile(fontkitFile), await fontkitText(), "stale: run npm run gen:fontkit");
});

Deno.test("postgres.js: the npm release plus upstream.diff is the vendored copy, file for file", async (t) => {
  const version = await installedVersion("postgres-upstream");
  const readme = await Deno.readTextFile(`${postgresFolder}README.md`);
  assert.match(
    readme,
    new RegExp(`^# postgres\\.js ${version.replaceAll(".", "\\.")}`),
    "the README names another release",
  );

  const work = await Deno.makeTempDir({ prefix: "tripwire-postgres-apply-" });
  try {
    await copyPostgresFiles(postgresUpstreamFolder, work);
    const applied = await new Deno.Command("git", {
      args: ["apply", "-p1", postgresDiffFile],
      cwd: work,
      stderr: "piped",
    }).output();
    assert.equal(applied.code, 0, new TextDecoder().decode(applied.stderr));
    for (const file of postgresFiles()) {
      await t.step(file, async () => {
        assert.equal(
          await Deno.readTextFile(`${work}/${file}`),
          await Deno.readTextFile(`${postgresFolder}${file}`),
          `${file} differs from ${version} + upstream.diff: run npm run gen:postgres`,
        );
      });
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
  assert.equal(
    await Deno.readTextFile(postgresDiffFile),
    await postgresDiffText(),
    "stale: run npm run gen:postgres",
  );
});

/**
 * The canary: the regression tests of the vendored fixes (tests/postgres_driver_test.ts), each in a process of
 * its own (a release that crashes on one still gets the others), run against postgres.js's newest npm release
 * (its `src/` as npm ships it, Node's built-ins named `node:…` so that Deno loads it as a local module). It says
 * which of the faults the release still has. Passing them all is not enough to drop the copy: 4.2.0 passes all
 * five yet failed the fault suite (tests/faults_test.ts) in one of two full runs — the README's upgrade steps
 * say what else a release must pass. Skipped when the npm registry cannot be reached.
 */
Deno.test("canary: which of the vendored fixes does postgres.js's newest release still need?", async (t) => {
  // POSTGRES_CANARY_VERSION tries another release (e.g. the newest of a major line).
  const newest = Deno.env.get("POSTGRES_CANARY_VERSION") ??
    await npm(["view", "postgres", "version"]).catch(() => undefined);
  if (!newest) {
    console.warn("canary skipped: npm view postgres version failed (no registry)");
    return;
  }
  const version = newest.trim();
  const work = await Deno.makeTempDir({ prefix: "tripwire-postgres-canary-" });
  try {
    await npm(["pack", `postgres@${version}`, "--pack-destination", work, "--silent"]);
    const untar = await new Deno.Command("tar", { args: ["xzf", `postgres-${version}.tgz`], cwd: work })
      .output();
    assert.ok(untar.success, "tar could not unpack the release");
    const source = `${work}/package/src/`;
    for (const entry of Deno.readDirSync(source)) {
      const path = `${source}${entry.name}`;
      const text = await Deno.readTextFile(path);
      await Deno.writeTextFile(
        path,
        text.replace(
          /from '([a-z_]+)'/g,
          (whole, name) => builtinModules.includes(name) ? `from 'node:${name}'` : whole,
        ),
      );
    }
    const names = [
      ...Deno.readTextFileSync("tests/postgres_driver_test.ts").matchAll(/^Deno\.test\("([^"]+)"/gm),
    ]
      .map((match) => match[1]);
    assert.ok(names.length >= 5, "the regression tests were not found");
    const stillFailing: string[] = [];
    for (const name of names) {
      const run = await new Deno.Command(Deno.execPath(), {
        args: ["test", "--allow-all", "--no-check", "--filter", name, "tests/postgres_driver_test.ts"],
        env: { POSTGRES_DRIVER_UNDER_TEST: `${source}index.js`, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const output = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
      assert.match(
        output,
        /running 1 test/,
        `${name} did not run against the release:\n${output.slice(-1500)}`,
      );
      if (!run.success) stillFailing.push(name);
    }
    await t.step(`postgres.js ${version}: ${stillFailing.length} of ${names.length} faults remain`, () => {
      console.log(
        stillFailing.length
          ? `postgres.js ${version} (npm's newest) still has: ${stillFailing.join("; ")}`
          : `postgres.js ${version} (npm's newest) passes every regression test: try it with the fault suite ` +
            "(supabase/functions/_vendor/postgres/README.md, upgrading)",
      );
    });
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

/** Runs npm, answering its output (npm is beside node on every machine this runs on). */
async function npm(args: string[]): Promise<string> {
  const output = await new Deno.Command("npm", { args, stdout: "piped", stderr: "piped" }).output();
  if (!output.success) throw new Error(`npm ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`);
  return new TextDecoder().decode(output.stdout);
}
