/// <reference lib="dom" />
/**
 * A real Chromium for the tests (Debian's `chromium`, driven by playwright-core; no browser download),
 * the local stack as `npm start` runs it, and a page on another origin that loads supabase-js and the
 * watch tracker. Without Chromium the browser tests are skipped, saying so loudly; with
 * TRIPWIRE_REQUIRE_BROWSER=1 (as .ci/run sets once it has installed Chromium) they fail instead.
 */
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { chromiumPath, launchChromium } from "../../scripts/lib/chromium.ts";
import { repoRoot } from "../../scripts/lib/database.ts";
import { freePort, type StackProcess, startStackProcess } from "../../scripts/lib/processes.ts";
import { createMigratedDatabase, type TestDatabase } from "./database.ts";

if (!chromiumPath) {
  const message = "No Chromium (apt-get install chromium, or set CHROMIUM_PATH)";
  if (Deno.env.get("TRIPWIRE_REQUIRE_BROWSER") === "1") {
    throw new Error(`${message}, and the browser tests are required`);
  }
  console.error(`\n!!! ${message}: the browser tests are SKIPPED, not passed !!!\n`);
}

/** A browser test: skipped (and counted as ignored) without Chromium. */
export function browserTest(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  Deno.test({ name: chromiumPath ? name : `${name} (SKIPPED: no Chromium)`, ignore: !chromiumPath, fn });
}

/** The local stack (`scripts/start.ts` as a child process) on its own database and a free port. */
export interface RunningStack {
  /** Like http://127.0.0.1:54321: functions, /auth/v1 and /media. */
  url: string;
  /** The reference web app, on its own origin. */
  webUrl: string;
  /** Its local inbox: every e-mail it sent (it is given no RESEND_API_KEY of its own). */
  inboxUrl: string;
  database: TestDatabase;
  stop(): Promise<void>;
}

export async function startLocalStack(env: Record<string, string> = {}): Promise<RunningStack> {
  const database = await createMigratedDatabase();
  const port = freePort();
  let stack: StackProcess;
  try {
    stack = await startStackProcess({
      DATABASE_URL: database.url,
      FUNCTIONS_PORT: String(port),
      SCHEDULER_INTERVAL_MS: "0",
      ...env,
    });
  } catch (error) {
    await database.drop();
    throw error;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    webUrl: stack.webUrl,
    inboxUrl: stack.inboxUrl,
    database,
    async stop() {
      await stack.stop();
      await database.drop();
    },
  };
}

let bundled: Promise<string> | undefined;

/** tests/browser/page.ts bundled for the browser by `deno bundle`, once per run. */
function pageScript(): Promise<string> {
  bundled ??= (async () => {
    const output = `${await Deno.makeTempDir({ prefix: "tripwire-page-" })}/page.js`;
    const { success, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform", "browser", "--output", output, "tests/browser/page.ts"],
      cwd: repoRoot,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!success) throw new Error(`deno bundle failed:\n${new TextDecoder().decode(stderr)}`);
    return await Deno.readTextFile(output);
  })();
  return bundled;
}

/** A page origin other than the stack's (another port), as the academy's site is. */
export interface PageServer {
  origin: string;
  stop(): Promise<void>;
}

export async function servePage(): Promise<PageServer> {
  const script = await pageScript();
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tripwire test page</title>
    <script type="module" src="/page.js"></script></head>
    <body><video id="video" muted playsinline preload="auto" width="320" height="180"></video></body></html>`;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/page.js") {
      return new Response(script, { headers: { "content-type": "text/javascript; charset=utf-8" } });
    }
    if (pathname === "/favicon.ico") return new Response(null, { status: 204 });
    if (pathname === "/") {
      return new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    return new Response("Not found", { status: 404 });
  });
  return { origin: `http://127.0.0.1:${server.addr.port}`, stop: () => server.shutdown() };
}

/** Opens the test page in a fresh browser context; console errors and page errors are collected. */
export async function openPage(browser: Browser, origin: string): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`${message.text()} (${message.location().url})`);
  });
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("response", (response) => {
    if (response.status() >= 400) {
      errors.push(`${response.status()} ${response.request().method()} ${response.url()}`);
    }
  });
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => "WatchTracker" in globalThis);
  return { page, errors };
}

/** Signs in at the stack's /auth/v1 from the test process (the password grant) and returns the token. */
export async function signIn(stackUrl: string, email: string, password: string): Promise<string> {
  const response = await fetch(`${stackUrl}/auth/v1/token?grant_type=password`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`sign-in ${email}: ${response.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

const axeSource = Deno.readTextFile(new URL("../../node_modules/axe-core/axe.min.js", import.meta.url));

interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; failureSummary?: string }[];
}

/**
 * Runs axe-core (the npm package, injected into the page) on what the page shows now and fails on any
 * serious or critical violation of WCAG 2.x A/AA, naming the rule and the elements.
 */
export async function assertAccessible(page: Page, where: string): Promise<void> {
  if (!(await page.evaluate("'axe' in globalThis"))) await page.addScriptTag({ content: await axeSource });
  const violations = await page.evaluate(async () => {
    // deno-lint-ignore no-explicit-any
    const axe = (globalThis as any).axe;
    const result = await axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
      resultTypes: ["violations"],
    });
    return result.violations as Violation[];
  }) as Violation[];
  const serious = violations.filter((violation) =>
    violation.impact === "serious" || violation.impact === "critical"
  );
  assert.deepEqual(
    serious.map((violation) =>
      `${violation.id} (${violation.impact}): ${violation.help} — ${
        violation.nodes.map((node) => node.target.join(" ")).join(", ")
      }`
    ),
    [],
    `axe-core on ${where}`,
  );
}

/** On a narrow screen nothing is wider than the viewport: no horizontal scroll. */
export async function assertFitsNarrowScreen(page: Page, where: string): Promise<void> {
  const widths = await page.evaluate(() => {
    const viewport = document.documentElement.clientWidth;
    // The element that reaches furthest right, to say what widens the page.
    let widest = "";
    let right = viewport;
    for (const element of document.querySelectorAll<HTMLElement>("body *")) {
      const box = element.getBoundingClientRect();
      if (box.right > right + 0.5) {
        right = box.right;
        widest = `${element.tagName.toLowerCase()}.${String(element.className)} "${
          element.innerText?.slice(0, 40)
        }"`;
      }
    }
    return { page: document.documentElement.scrollWidth, viewport, widest };
  });
  assert.ok(
    widths.page <= widths.viewport,
    `${where}: ${widths.page} px wide in a ${widths.viewport} px screen (${widths.widest})`,
  );
}

/**
 * No two things a person reads or presses cover each other: of the visible text, controls and media, every pair
 * that is not nested one in the other shares at most a couple of pixels (what rounding leaves). A button laid over
 * a lesson's status fails here even where nothing scrolls sideways.
 */
export async function assertNothingOverlaps(page: Page, where: string): Promise<void> {
  const overlaps = await page.evaluate(() => {
    const selector = "a, button, input, select, textarea, progress, img, video, h1, h2, h3, p, li > span, " +
      "td, th, code, label, summary";
    // What is painted: not inside a closed <details>, not clipped away as a visually hidden table head is.
    const clippedAway = (element: HTMLElement) => {
      for (let at: HTMLElement | null = element; at; at = at.parentElement) {
        if (getComputedStyle(at).clipPath !== "none") return true;
      }
      return false;
    };
    const visible = [...document.querySelectorAll<HTMLElement>(selector)].filter((element) => {
      const box = element.getBoundingClientRect();
      return box.width > 2 && box.height > 2 &&
        element.checkVisibility({
          contentVisibilityAuto: true,
          visibilityProperty: true,
          opacityProperty: true,
        }) &&
        !clippedAway(element);
    });
    const name = (element: HTMLElement) =>
      `${element.tagName.toLowerCase()}${
        element.className ? `.${String(element.className).replace(/\s+/g, ".")}` : ""
      }` +
      ` "${(element.innerText || element.getAttribute("aria-label") || "").trim().slice(0, 30)}"`;
    const found: string[] = [];
    for (let i = 0; i < visible.length && found.length < 5; i++) {
      const a = visible[i].getBoundingClientRect();
      for (let j = i + 1; j < visible.length && found.length < 5; j++) {
        if (visible[i].contains(visible[j]) || visible[j].contains(visible[i])) continue;
        const b = visible[j].getBoundingClientRect();
        const width = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const height = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (width > 2 && height > 2) found.push(`${name(visible[i])} × ${name(visible[j])}`);
      }
    }
    return found;
  });
  assert.deepEqual(overlaps, [], `${where}: elements overlap`);
}

export { launchChromium };
export type { Browser, Page };
