/**
 * What a front end generates from docs/openapi.json compiles: openapi-typescript with its defaults (the academy's
 * engineers' usual tool) writes the types, and a client that sends only the required fields of a sale and reads
 * its answer type-checks with `deno check`.
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url).pathname;

Deno.test("a client typed by openapi-typescript (its defaults) compiles against the document", async () => {
  const folder = await Deno.makeTempDir({ prefix: "tripwire-openapi-client-" });
  try {
    const generate = await new Deno.Command("node", {
      args: [
        `${root}node_modules/openapi-typescript/bin/cli.js`,
        `${root}docs/openapi.json`,
        "-o",
        `${folder}/api.ts`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(generate.success, true, new TextDecoder().decode(generate.stderr));
    await Deno.writeTextFile(
      `${folder}/client.ts`,
      `import type { paths } from "./api.ts";

type Sale = paths["/create-tripwire-user"]["post"];
// Only what a manager must give: every field with a default (send_welcome_email, payment_amount) may be left out.
export const body: Sale["requestBody"] extends { content: { "application/json": infer B } } ? B : never = {
  email: "bolat@example.kz",
  full_name: "Bolat Nurlanov",
  phone: "8 701 123 45 67",
};
type Created = Sale["responses"][201]["content"]["application/json"];
export const shown = (created: Created): string => \`\${created.full_name}: \${created.password ?? ""}\`;
type Refused = Sale["responses"][400]["content"]["application/json"];
export const why = (refused: Refused): string => refused.error.code;
`,
    );
    const check = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--no-config", `${folder}/client.ts`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(check.success, true, new TextDecoder().decode(check.stderr));
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});
