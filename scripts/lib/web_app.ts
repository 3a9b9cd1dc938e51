/**
 * The reference web app (web/), served by `npm start` on its own origin, http://127.0.0.1:54323, as a
 * Vite dev server would be, so that CORS is exercised exactly as from the academy's domain. The
 * TypeScript is bundled for the browser by `deno bundle` when the server starts; nothing comes from a CDN.
 */
import { repoRoot } from "./database.ts";

/** The app's port (WEB_PORT). */
export const webPort = Number(Deno.env.get("WEB_PORT") ?? 54323);

/** web/src/app.ts (with supabase-js and the watch tracker) as one browser module. */
export async function bundleWebApp(): Promise<string> {
  const output = `${await Deno.makeTempDir({ prefix: "tripwire-web-" })}/app.js`;
  const { success, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform", "browser", "--minify", "--output", output, "web/src/app.ts"],
    cwd: repoRoot,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(`deno bundle web/src/app.ts failed:\n${new TextDecoder().decode(stderr)}`);
  const script = await Deno.readTextFile(output);
  await Deno.remove(output.replace(/\/app\.js$/, ""), { recursive: true });
  return script;
}

/** Serves the app, pointed at the stack at `apiUrl`. */
export async function serveWebApp(options: { apiUrl: string; port?: number }): Promise<Deno.HttpServer> {
  const script = await bundleWebApp();
  const html = (await Deno.readTextFile(`${repoRoot}web/index.html`))
    .replace("{{API_URL}}", options.apiUrl)
    .replace("{{API_KEY}}", "local-publishable-key")
    // The academy's country, as the functions read it: a phone without its country code is this country's.
    .replace("{{COUNTRY}}", Deno.env.get("ACADEMY_COUNTRY") || "KZ");
  const styles = await Deno.readTextFile(`${repoRoot}web/styles.css`);
  const files: Record<string, [string, string]> = {
    "/": [html, "text/html; charset=utf-8"],
    "/app.js": [script, "text/javascript; charset=utf-8"],
    "/styles.css": [styles, "text/css; charset=utf-8"],
  };
  return Deno.serve(
    { hostname: "127.0.0.1", port: options.port ?? webPort, onListen: () => {} },
    (request) => {
      const file = files[new URL(request.url).pathname];
      if (!file) return new Response("Not found", { status: 404 });
      return new Response(file[0], { headers: { "content-type": file[1], "cache-control": "no-cache" } });
    },
  );
}
