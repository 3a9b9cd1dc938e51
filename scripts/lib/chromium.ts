/**
 * Debian's Chromium (`apt-get install chromium`, or CHROMIUM_PATH) driven by playwright-core, which
 * downloads no browser of its own. Used by the browser tests and `npm run screenshots`.
 */
import { type Browser, chromium } from "playwright-core";

const candidates = [Deno.env.get("CHROMIUM_PATH"), "/usr/bin/chromium", "/usr/bin/chromium-browser"];

/** The Chromium binary, or undefined when this machine has none. */
export const chromiumPath = candidates.find((path) => {
  try {
    return Boolean(path) && Deno.statSync(path!).isFile;
  } catch {
    return false;
  }
});

export async function launchChromium(): Promise<Browser> {
  if (!chromiumPath) throw new Error("No Chromium: apt-get install chromium, or set CHROMIUM_PATH");
  return await chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--disable-gpu"],
  });
}
