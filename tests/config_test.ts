import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "smol-toml";

const supabaseDir = fileURLToPath(new URL("../supabase/", import.meta.url));
const config = parse(Deno.readTextFileSync(`${supabaseDir}config.toml`)) as {
  project_id: string;
  functions: Record<
    string,
    { verify_jwt: boolean; import_map: string; entrypoint: string; enabled: boolean }
  >;
};
const functionDirs = readdirSync(`${supabaseDir}functions`, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && entry.name !== "_shared")
  .map((entry) => entry.name)
  .sort();

Deno.test("config.toml names the project and has a block for every function folder", () => {
  assert.equal(config.project_id, "tripwire");
  assert.deepEqual(functionDirs, [
    "audit",
    "complete-lesson",
    "create-tripwire-user",
    "leaderboard",
    "student-dashboard",
    "students",
    "video-tracking",
  ]);
  assert.deepEqual(Object.keys(config.functions).sort(), functionDirs);
});

Deno.test("`supabase functions deploy` resolves the same imports as the local run", () => {
  const rootDenoJson = fileURLToPath(new URL("../deno.json", import.meta.url));
  const rootImports = JSON.parse(Deno.readTextFileSync(rootDenoJson)).imports;
  for (const [name, settings] of Object.entries(config.functions)) {
    // Paths in config.toml are relative to the supabase/ folder.
    const importMap = fileURLToPath(new URL(settings.import_map, `file://${supabaseDir}`));
    assert.equal(importMap, rootDenoJson, `${name} must use the root deno.json`);
    assert.equal(existsSync(fileURLToPath(new URL(settings.entrypoint, `file://${supabaseDir}`))), true);
    // The gateway's check knows only the legacy secret; our code verifies every token itself.
    assert.equal(settings.verify_jwt, false, name);
    assert.equal(settings.enabled, true, name);
    // No function folder carries its own deno.json that would shadow the shared one.
    assert.equal(existsSync(`${supabaseDir}functions/${name}/deno.json`), false);
  }
  // Every import is a pinned npm: specifier (JSR and deno.land are out of reach here).
  for (const [specifier, target] of Object.entries<string>(rootImports)) {
    assert.match(target, /^npm:\/?(@[a-z0-9-]+\/)?[a-z0-9.-]+@\d+\.\d+\.\d+(-[a-z0-9.]+)?\/?$/, specifier);
  }
});

Deno.test("the local server serves exactly the functions config.toml deploys", async () => {
  const { functions } = await import("../scripts/serve.ts");
  assert.deepEqual(Object.keys(functions).sort(), functionDirs);
});

Deno.test("every function's index.ts runs alone under Deno.serve, as on Supabase", async () => {
  for (const name of functionDirs) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", `${supabaseDir}functions/${name}/index.ts`],
      // Deno.serve() with no options listens where DENO_SERVE_ADDRESS says.
      env: {
        DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`,
        DATABASE_URL: "postgresql://unused@127.0.0.1:1/unused",
      },
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      let response: Response | undefined;
      for (let attempt = 0; attempt < 100 && !response; attempt++) {
        response = await fetch(`http://127.0.0.1:${port}/${name}`, { method: "OPTIONS" }).catch(() =>
          undefined
        );
        if (!response) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(response, `${name} did not start`);
      await response.body?.cancel();
      // Supabase hands the function /<name>/…; the CORS preflight proves the route is its own.
      assert.equal(response.status, 204, name);
      assert.equal(response.headers.get("access-control-allow-origin"), "*");
    } finally {
      child.kill();
      await child.status;
    }
  }
});
