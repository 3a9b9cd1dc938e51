/// <reference lib="dom" />
/**
 * The reference web app (web/) in a real Chromium, on its own origin, against the stack as `npm start`
 * runs it: the whole journey — sale, sign-in, watching, completion, certificate, leaderboard, refund —
 * and every screen in Russian and in English without a console error.
 */
import assert from "node:assert/strict";
import { assertAccessible, assertFitsNarrowScreen, browserTest, launchChromium } from "./support/browser.ts";
import { seededStaffPassword } from "../scripts/lib/local_auth/server.ts";
import { aida } from "./support/fixtures.ts";
import {
  desktop,
  type Layout,
  openApp,
  phone,
  signIn,
  smallPhone,
  startJourney,
  tablet,
} from "./support/web_journey.ts";
import { crmHearsAll, graduate, refund, registerCrm, sell } from "./support/web_sale_acts.ts";
import { adminScreens, everyScreen, forgotPassword } from "./support/web_screen_acts.ts";

browserTest("in Chromium: the accessibility check fails a page with a serious violation", async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: phone });
    await page.setContent('<html lang="en"><body><main><h1>A form</h1><input name="x"></main></body></html>');
    await assert.rejects(assertAccessible(page, "an unlabelled field"), /label \(critical\)/);
    await page.setContent(
      '<html lang="en"><body><main><h1>Wide</h1><div style="width: 600px">x</div></main></body></html>',
    );
    await assert.rejects(
      assertFitsNarrowScreen(page, "a wide page"),
      /a wide page: \d+ px wide in a 390 px screen/,
    );
  } finally {
    await browser.close();
  }
});

browserTest("in Chromium: the reference web app's whole journey, and every screen in ru and en", async () => {
  await journey({ screen: desktop, narrow: [] });
});

browserTest(
  "in Chromium: the same journey on a phone (390 px), every screen also at 320 and 768 px",
  async () => {
    await journey({ screen: phone, narrow: [smallPhone, phone, tablet] });
  },
);

/** The journey in acts (tests/support/web_sale_acts.ts, web_screen_acts.ts), on one stack and browser. */
async function journey(layout: Layout) {
  const run = await startJourney(layout);
  try {
    await registerCrm(run);
    const sale = await sell(run);
    const { student, number } = await graduate(run, sale);
    await refund(run, sale, student);
    await crmHearsAll(run);
    await everyScreen(run, sale, number);
    await forgotPassword(run, sale);
    await adminScreens(run, sale);
  } finally {
    await run.stop();
  }
}

browserTest(
  "in Chromium: a phone typed five common ways is one number, shown as the country writes it",
  async () => {
    const run = await startJourney({ screen: desktop, narrow: [] });
    try {
      const manager = await openApp(run.browser, run.stack, "ru", desktop);
      await signIn(manager.page, aida.email, seededStaffPassword);
      // Signed in: the app has gone to her students (a navigation before that would be overtaken by it).
      await manager.page.getByRole("heading", { name: "Мои ученики" }).waitFor();
      const written = [
        "+7 701 123 45 67",
        "87011234567",
        "+7 (701) 123-45-67",
        "8 701 123 4567",
        "7011234567",
      ];
      for (const [index, phone] of written.entries()) {
        await manager.page.goto(`${run.stack.webUrl}/#/new-student`);
        // The form itself, not a field of the screen before it (a hash change re-renders after the event).
        await manager.page.getByRole("button", { name: "Создать ученика" }).waitFor().catch(async (error) => {
          throw new Error(
            `${error}\n${manager.page.url()}\n${await manager.page.locator("body").innerText()}`,
          );
        });
        await manager.page.locator('input[name="email"]').fill(
          `phone.${index}.${crypto.randomUUID().slice(0, 6)}@example.kz`,
        );
        await manager.page.locator('input[name="full_name"]').fill(`Телефон ${"АБВГД"[index]}`);
        await manager.page.locator('input[name="phone"]').fill(phone);
        await manager.page.locator('input[name="send_welcome_email"]').uncheck();
        await manager.page.getByRole("button", { name: "Создать ученика" }).click();
        await manager.page.locator("code.password").waitFor();
        await manager.page.locator("main a[href^='#/students/']").click();
        await manager.page.getByRole("heading", { name: `Телефон ${"АБВГД"[index]}` }).waitFor();
        assert.match(await manager.page.locator("main").innerText(), /8 \(701\) 123 4567/, phone);
      }
      const [{ phones }] = await run.stack.database.sql<{ phones: string[] }[]>`
      select array_agg(distinct phone) as phones from public.tripwire_users where full_name like 'Телефон %'`;
      assert.deepEqual(phones, ["+77011234567"]);
      assert.deepEqual(manager.errors, []);
    } finally {
      await run.stop();
    }
  },
);
