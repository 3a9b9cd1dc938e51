/**
 * The README's Node snippet, run as written (only its URL pointed at the test server) with the Node this
 * machine has, so a front-end engineer can paste it.
 */
import assert from "node:assert/strict";
import { baseUrl, story } from "./support/server.ts";

const repoRoot = new URL("../", import.meta.url);

story("the README's supabase-js snippet runs on this Node and reads an error's code", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", repoRoot));
  const snippet = readme.match(/```js\n(import \{ createClient, FunctionsHttpError \}[\s\S]*?)```/)?.[1];
  assert.ok(snippet, "the README has the Node snippet");
  const file = new URL(`readme-snippet-${crypto.randomUUID().slice(0, 8)}.mjs`, repoRoot);
  await Deno.writeTextFile(file, snippet.replaceAll("http://127.0.0.1:54321", baseUrl));
  try {
    const node = await new Deno.Command("node", { args: ["--version"] }).output();
    const major = Number(new TextDecoder().decode(node.stdout).match(/^v(\d+)/)?.[1]);
    // As the README says: Node 22+ as is, Node 20 with its WebSocket flag.
    const flags = major < 22 ? ["--experimental-websocket"] : [];
    const run = await new Deno.Command("node", { args: [...flags, file.pathname], cwd: repoRoot.pathname })
      .output();
    const printed = new TextDecoder().decode(run.stdout);
    assert.equal(run.success, true, new TextDecoder().decode(run.stderr));
    assert.match(printed, /^month \d+ managers ranked$/m, "the leaderboard, signed in");
    assert.match(printed, /^400 validation_failed /m, "the error's status, code and message");
  } finally {
    await Deno.remove(file);
  }
});
