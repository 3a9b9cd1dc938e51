/**
 * `npm run smoke -- <project URL>`: after a deploy, asks every function config.toml deploys for its OpenAPI
 * document (a public route that touches no data) and prints what answered. Exits 1 if any did not answer 200
 * with its document. For `npm start`: `npm run smoke -- http://127.0.0.1:54321`.
 */
import { deployedFunctions } from "./lib/deployed.ts";

/** One line per function: its name, the status and the document's title, or what went wrong. */
export async function smoke(projectUrl: string): Promise<{ name: string; ok: boolean; said: string }[]> {
  const base = projectUrl.replace(/\/+$/, "");
  return await Promise.all(
    Object.keys(deployedFunctions()).sort().map(async (name) => {
      try {
        const response = await fetch(`${base}/functions/v1/${name}/openapi.json`, {
          signal: AbortSignal.timeout(20_000),
        });
        const body = await response.json().catch(() => undefined);
        const title = body?.info?.title;
        return {
          name,
          ok: response.status === 200 && typeof title === "string",
          said: `${response.status} ${title ?? ""}`,
        };
      } catch (error) {
        return { name, ok: false, said: error instanceof Error ? error.message : String(error) };
      }
    }),
  );
}

if (import.meta.main) {
  const url = Deno.args[0];
  if (!url) {
    console.error("usage: npm run smoke -- https://<project-ref>.supabase.co");
    Deno.exit(2);
  }
  const answers = await smoke(url);
  for (const answer of answers) {
    console.log(`${answer.ok ? "ok  " : "FAIL"} ${answer.name.padEnd(22)} ${answer.said}`);
  }
  Deno.exit(answers.every((answer) => answer.ok) ? 0 : 1);
}
