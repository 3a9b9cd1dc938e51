/// <reference lib="dom" />
/**
 * The web app's journey in Chromium (tests/web_app_test.ts): the screens' sizes, the stack and browser a journey
 * runs on, and what a person does there — sign in, watch a lesson with the mouse or the keyboard alone, open the
 * folded menu — with `check`, every screen's accessibility and fit.
 */
import assert from "node:assert/strict";
import { localSecretKey } from "../../scripts/lib/local_stack.ts";
import { startCrm } from "./crm_server.ts";
import {
  assertAccessible,
  assertFitsNarrowScreen,
  assertNothingOverlaps,
  type Browser,
  launchChromium,
  type Page,
  type RunningStack,
  startLocalStack,
} from "./browser.ts";

export const lessonSeconds = 20;

export interface Screen {
  width: number;
  height: number;
}
export const desktop: Screen = { width: 1280, height: 800 };
/** A common phone, and a small tablet held upright. */
export const phone: Screen = { width: 390, height: 844 };
/** The narrowest phone still sold (an iPhone SE's 320 px). */
export const smallPhone: Screen = { width: 320, height: 568 };
export const tablet: Screen = { width: 768, height: 1024 };

/** The journey's own screen size, and the narrow ones every screen is also checked at. */
export interface Layout {
  screen: Screen;
  narrow: Screen[];
}

export async function openApp(browser: Browser, stack: RunningStack, language: "ru" | "en", screen: Screen) {
  const context = await browser.newContext({ viewport: screen });
  await context.addInitScript(`localStorage.setItem("tripwire.language", "${language}")`);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`${message.text()} (${message.location().url})`);
  });
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(`${stack.webUrl}/#/sign-in`);
  return { page, errors };
}

export async function signIn(page: Page, email: string, password: string) {
  await page.locator('input[name="email"]').fill(email);
  await page.locator('input[name="password"]').fill(password);
  await page.locator('input[name="password"]').press("Enter"); // the keyboard, as a user would
}

export async function refreshAnalytics(stack: RunningStack) {
  const response = await fetch(`${stack.url}/functions/v1/leaderboard/refresh`, {
    method: "POST",
    headers: { authorization: `Bearer ${localSecretKey}` },
  });
  await response.body?.cancel();
  assert.equal(response.status, 200);
}

/** Watches the lesson at 2× to the end, then completes it; returns what the page says. */
export async function watchAndComplete(page: Page, lessonId: number): Promise<string> {
  await page.goto(`${new URL(page.url()).origin}/#/lesson/${lessonId}`);
  await page.locator("video[src]").waitFor();
  const firstUrl = await page.locator("video").getAttribute("src");
  await page.locator("select").selectOption("2");
  await page.evaluate("document.querySelector('video').muted = true; document.querySelector('video').play()");
  const complete = await untilEndedAndQualified(page, firstUrl!);
  await complete.click();
  await page.locator(".success").waitFor();
  return await page.locator("main").innerText();
}

/**
 * Waits until the lesson's video has played to its end, from a renewed URL: its signed URL lasts 10 s here
 * (VIDEO_URL_SECONDS) and is renewed at 8 s, while it plays. Every second counted: "Complete the lesson" is
 * enabled (the lesson qualifies); returns that button.
 */
export async function untilEndedAndQualified(page: Page, firstUrl: string) {
  await page.waitForFunction("document.querySelector('video').ended", undefined, { timeout: 60_000 });
  const lastUrl = await page.locator("video").getAttribute("src");
  assert.notEqual(lastUrl, firstUrl, "renewed while playing");
  assert.equal(new URL(lastUrl!).pathname, new URL(firstUrl).pathname);
  const complete = page.getByRole("button", { name: "Complete the lesson" });
  await assertEnabled(complete);
  return complete;
}

/** Presses Tab until an element matching `selector` has the focus (at most 40 times). */
export async function tabTo(page: Page, selector: string) {
  for (let presses = 0; presses < 40; presses++) {
    await page.keyboard.press("Tab");
    if (await page.evaluate((wanted) => document.activeElement?.matches(wanted) ?? false, selector)) return;
  }
  throw new Error(`Tab never reached ${selector}`);
}

/** Signs in, opens the lesson, plays it to the end and completes it with the keyboard alone. */
export async function watchByKeyboard(
  page: Page,
  email: string,
  password: string,
  lessonId: number,
): Promise<string> {
  await tabTo(page, 'input[name="email"]');
  await page.keyboard.type(email);
  await tabTo(page, 'input[name="password"]');
  await page.keyboard.type(password);
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "My course" }).waitFor();
  await tabTo(page, `a[href="#/lesson/${lessonId}"]`);
  await page.keyboard.press("Enter");
  await page.locator("video[src]").waitFor();
  await check(page, "the lesson");
  const firstUrl = await page.locator("video").getAttribute("src");
  await tabTo(page, "video");
  await page.keyboard.press("Space");
  await page.waitForFunction("!document.querySelector('video').paused", undefined, { timeout: 10_000 });
  await untilEndedAndQualified(page, firstUrl!);
  await tabTo(page, "button:not([disabled]).complete");
  await page.keyboard.press("Enter");
  await page.locator(".success").waitFor();
  return await page.locator("main").innerText();
}

export async function assertEnabled(locator: ReturnType<Page["locator"]>) {
  for (let attempt = 0; attempt < 60 && await locator.isDisabled(); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.equal(await locator.isDisabled(), false, "the lesson qualified");
}

/**
 * What the page shows now passes axe-core (no serious or critical violation); on a narrow screen nothing
 * is wider than the screen, and the top bar is a menu button that opens and closes its links.
 */
export async function check(page: Page, where: string) {
  await assertAccessible(page, where);
  const width = page.viewportSize()!.width;
  await assertNothingOverlaps(page, `${where} at ${width} px`);
  if (width > 800) return;
  await assertFitsNarrowScreen(page, `${where} at ${width} px`);
  const toggle = page.locator("nav .menu-toggle");
  if ((await page.locator("nav .menu a").count()) === 0) return;
  assert.equal(
    await page.locator("nav .menu a").first().isVisible(),
    false,
    `${where}: the links are folded`,
  );
  await toggle.click();
  assert.equal(await toggle.getAttribute("aria-expanded"), "true");
  assert.equal(await page.locator("nav .menu a").first().isVisible(), true);
  await assertAccessible(page, `${where}, menu open`);
  await assertFitsNarrowScreen(page, `${where} at ${width} px, menu open`);
  await toggle.click();
}

/** Opens the top bar's menu when it is folded (a phone), so its links and buttons can be used. */
export async function openMenu(page: Page) {
  const toggle = page.locator("nav .menu-toggle");
  if (await toggle.isVisible() && await toggle.getAttribute("aria-expanded") === "false") {
    await toggle.click();
  }
}

/** The academy's main-course checkout in the journey (nothing answers there: the tests read the link). */
export const mainCourseCheckout = "https://main.academy.example/checkout";

/** What every act of a journey shares: the stack, the browser, the layout, the academy's CRM and e-mail. */
export interface Journey {
  browser: Browser;
  stack: RunningStack;
  layout: Layout;
  crm: ReturnType<typeof startCrm>;
  /** The checkout's Standard Webhooks secret (PAYMENTS_STANDARD_SECRET). */
  checkoutSecret: string;
  /** `check` at the journey's screen size, or at each narrow one in turn. */
  checkEverywhere(page: Page, where: string): Promise<void>;
  stop(): Promise<void>;
}

/** The local stack (its e-mails in its local inbox, 20-second lessons), a CRM and Chromium, for `layout`. */
export async function startJourney(layout: Layout): Promise<Journey> {
  const crm = startCrm();
  const checkoutSecret = `whsec_${btoa("the-journey-checkout-secret-!!!")}`;
  // Signed video URLs live 10 s, so each lesson's URL is renewed while it plays.
  const stack = await startLocalStack({
    VIDEO_URL_SECONDS: "10",
    PAYMENTS_STANDARD_SECRET: checkoutSecret,
  });
  const browser = await launchChromium();
  await stack.database.sql`
    update public.tripwire_lessons
    set video_duration_seconds = ${lessonSeconds}, video_path = 'sample-20s.webm'`;
  // The academy sells its main course at this checkout: a graduate is offered it.
  await stack.database.sql`
    update academy.settings set main_course_checkout_url = ${mainCourseCheckout}`;
  return {
    browser,
    stack,
    layout,
    crm,
    checkoutSecret,
    async checkEverywhere(page, where) {
      for (const screen of layout.narrow.length ? layout.narrow : [layout.screen]) {
        await page.setViewportSize(screen);
        await check(page, where);
      }
      await page.setViewportSize(layout.screen);
    },
    async stop() {
      await browser.close();
      await stack.stop();
      await crm.close();
    },
  };
}
