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
  // A folder whose name starts with `_` is shared code, not a function (Supabase's convention).
  .filter((entry) => entry.isDirectory() && !entry.name.startsWith("_"))
  .map((entry) => entry.name)
  .sort();

Deno.test("config.toml names the project and has a block for every function folder", () => {
  assert.equal(config.project_id, "tripwire");
  assert.deepEqual(functionDirs, [
    "audit",
    "certificate-pdf",
    "complete-lesson",
    "create-tripwire-user",
    "leaderboard",
    "payments",
    "second-sale",
    "staff",
    "status",
    "student-dashboard",
    "students",
    "video-tracking",
    "webhooks",
  ]);
  assert.deepEqual(Object.keys(config.functions).sort(), functionDirs);
});

Deno.test("`supabase functions deploy` resolves the same imports as the local run, and only the functions'", () => {
  const rootImports: Record<string, string> = JSON.parse(
    Deno.readTextFileSync(fileURLToPath(new URL("../deno.json", import.meta.url))),
  ).imports;
  const functionsMapFile = `${supabaseDir}functions/import_map.json`;
  const functionsMap = JSON.parse(Deno.readTextFileSync(functionsMapFile));
  for (const [name, settings] of Object.entries(config.functions)) {
    // Paths in config.toml are relative to the supabase/ folder.
    const importMap = fileURLToPath(new URL(settings.import_map, `file://${supabaseDir}`));
    assert.equal(importMap, functionsMapFile, `${name} must use the functions' import map`);
    assert.equal(existsSync(fileURLToPath(new URL(settings.entrypoint, `file://${supabaseDir}`))), true);
    // The gateway's check knows only the legacy secret; our code verifies every token itself.
    assert.equal(settings.verify_jwt, false, name);
    assert.equal(settings.enabled, true, name);
    // No function folder carries its own deno.json that would shadow the shared map.
    assert.equal(existsSync(`${supabaseDir}functions/${name}/deno.json`), false);
  }
  // Only imports: no nodeModulesDir, which would make a bundle look for a node_modules it never has.
  assert.deepEqual(Object.keys(functionsMap), ["imports"]);
  // Each entry is the root's, at the same version, and something a function imports; and every package a
  // function imports is in it.
  const imported = new Set<string>();
  for (const entry of walkSync(`${supabaseDir}functions`)) {
    for (
      const match of Deno.readTextFileSync(entry).matchAll(/from "([^."][^"]*)"|import\("([^."][^"]*)"\)/g)
    ) {
      const specifier = match[1] ?? match[2];
      if (!specifier.startsWith("node:")) imported.add(specifier);
    }
  }
  const mapped = (specifier: string) =>
    Object.keys(functionsMap.imports).find((key) =>
      key === specifier || (key.endsWith("/") && specifier.startsWith(key))
    );
  for (const specifier of imported) assert.ok(mapped(specifier), `${specifier} is not in the functions' map`);
  // A relative target (the vendored driver) names the same file from either map.
  const resolved = (target: string, base: string) =>
    target.startsWith(".") ? new URL(target, base).href : target;
  for (const [key, target] of Object.entries<string>(functionsMap.imports)) {
    assert.equal(
      resolved(target, `file://${functionsMapFile}`),
      resolved(rootImports[key], new URL("../deno.json", import.meta.url).href),
      `${key}: the same as the root deno.json`,
    );
    assert.ok(
      [...imported].some((specifier) => mapped(specifier) === key),
      `${key} is imported by no function`,
    );
  }
  // Every import is a pinned npm: specifier (JSR and deno.land are out of reach here), but the vendored,
  // patched postgres.js (supabase/functions/_vendor/postgres/README.md).
  assert.equal(rootImports.postgres, "./supabase/functions/_vendor/postgres/src/index.js");
  for (const [specifier, target] of Object.entries<string>(rootImports)) {
    if (specifier === "postgres") continue;
    // A package's own entry point may be named after the version (`libphonenumber-js@1.13.18/max`).
    assert.match(
      target,
      /^npm:\/?(@[a-z0-9-]+\/)?[a-z0-9.-]+@\d+\.\d+\.\d+(-[a-z0-9.]+)?(\/[a-z0-9.-]*)?$/,
      specifier,
    );
  }
});

/** Every .ts file below `folder`. */
function* walkSync(folder: string): Generator<string> {
  for (const entry of Deno.readDirSync(folder)) {
    const path = `${folder}/${entry.name}`;
    if (entry.isDirectory) yield* walkSync(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

Deno.test("the local server serves exactly the functions config.toml deploys", async () => {
  const { functions } = await import("../scripts/lib/functions.ts");
  assert.deepEqual(Object.keys(functions).sort(), functionDirs);
});

Deno.test("docs/architecture.md's actors and capabilities tables name every function config.toml deploys", () => {
  const architecture = Deno.readTextFileSync(new URL("../docs/architecture.md", import.meta.url));
  const section = (title: string) => {
    const start = architecture.indexOf(`## ${title}`);
    return architecture.slice(start, architecture.indexOf("\n## ", start + 1));
  };
  const inFirstColumn = (text: string) =>
    [...text.matchAll(/^\| `([a-z-]+)` +\|/gm)].map((match) => match[1]).sort();
  assert.deepEqual(inFirstColumn(section("The capabilities")), functionDirs);
  const actors = section("Who uses it");
  for (const name of functionDirs) assert.ok(actors.includes(`\`${name}\``), `${name} has no actor`);
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
        APP_LOGIN_URL: "https://academy.example/login",
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

Deno.test("Supabase Auth is set as the local stand-in behaves: passwords, recovery e-mails, their link", async () => {
  const { minimumPasswordLength, recoveryEmailIntervalSeconds, recoveryLinkSeconds } = await import(
    "../scripts/lib/local_auth/server.ts"
  );
  const { webPort } = await import("../scripts/lib/web_app.ts");
  const auth = (config as unknown as {
    auth: {
      site_url: string;
      additional_redirect_urls: string[];
      enable_signup: boolean;
      minimum_password_length: number;
      email: {
        max_frequency: string;
        otp_expiry: number;
        template: { recovery: { content_path: string } };
      };
    };
  }).auth;
  assert.equal(auth.enable_signup, false, "students are created by managers, nobody signs up");
  assert.equal(auth.minimum_password_length, minimumPasswordLength);
  assert.equal(auth.email.max_frequency, `${recoveryEmailIntervalSeconds}s`);
  assert.equal(auth.email.otp_expiry, recoveryLinkSeconds);
  assert.equal(new URL(auth.site_url).port, String(webPort), "recovery links lead to the web app");
  const template = Deno.readTextFileSync(
    `${supabaseDir}${auth.email.template.recovery.content_path.replace("./supabase/", "")}`,
  );
  assert.match(template, /\{\{ \.ConfirmationURL \}\}/);
  assert.match(template, /«Забыли пароль\?»/);
  assert.match(template, /"Forgot password\?"/);
});

Deno.test("npm start's local inbox listens where config.toml's local mail viewer does", async () => {
  const { localInboxPort } = await import("../scripts/lib/resend_server.ts");
  const smtp = (config as unknown as { local_smtp: { port: number; enabled: boolean } }).local_smtp;
  assert.equal(smtp.port, localInboxPort);
});
