/**
 * The screens' acts of the web app's journey (tests/web_app_test.ts): every screen in both languages, a forgotten
 * password, and the admin's screens (payments, audit, erasure, webhooks, status, staff).
 */
import assert from "node:assert/strict";
import { standardRequest } from "../../scripts/lib/checkout.ts";
import { localSecretKey } from "../../scripts/lib/local_stack.ts";
import { seededStaffPassword } from "../../scripts/lib/local_auth/server.ts";
import { aida, saule } from "./fixtures.ts";
import type { Sale } from "./web_sale_acts.ts";
import { type Journey, openApp, openMenu, signIn } from "./web_journey.ts";

/** Every staff and student screen, in both languages, checked at every size, without a console error. */
export async function everyScreen(
  journey: Journey,
  { email, password }: Sale,
  number: string,
): Promise<void> {
  const { browser, stack, layout, checkEverywhere } = journey;
  // Every screen, in both languages, without a console error.
  for (const language of ["ru", "en"] as const) {
    const staff = await openApp(browser, stack, language, layout.screen);
    await signIn(staff.page, aida.email, seededStaffPassword);
    await staff.page.locator("table").waitFor();
    const studentId = (await stack.database.sql<{ id: string }[]>`
      select id from public.users where email = ${email}`)[0].id;
    // The second sale's figures and curves as the scheduler would have left them.
    for (const route of ["second-sale/refresh", "second-sale/refresh-retention"]) {
      const refreshed = await fetch(`${stack.url}/functions/v1/${route}`, {
        method: "POST",
        headers: { authorization: `Bearer ${localSecretKey}` },
      });
      assert.equal(refreshed.status, 200, await refreshed.text());
    }
    for (
      const screen of [
        "#/students",
        "#/new-student",
        "#/leaderboard",
        "#/second-sale",
        `#/students/${studentId}`,
      ]
    ) {
      await staff.page.goto(`${stack.webUrl}/${screen}`);
      await staff.page.locator("main h1").waitFor();
      assert.equal(await staff.page.getAttribute("html", "lang"), language);
      if (screen === "#/second-sale") {
        // The funnel counts her sale, and the first lesson's retention is drawn from what was watched.
        await staff.page.locator("ol.funnel li").first().waitFor();
        const funnel = await staff.page.locator("ol.funnel").innerText();
        assert.match(
          funnel,
          language === "ru" ? /Купили трипвайер\s+\d+ учени/ : /Bought the tripwire\s+\d+ student/,
        );
        assert.equal(
          await staff.page.locator("figure svg polyline").count() > 0,
          true,
          "the retention lines",
        );
      }
      await checkEverywhere(staff.page, `${screen} (${language})`);
    }
    const [{ code }] = await stack.database.sql<{ code: string }[]>`
      select verification_code as code from public.certificates where certificate_number = ${number}`;
    // Refunded in full, so the certificate is revoked: the public page says so, without the name.
    await staff.page.goto(`${stack.webUrl}/#/verify/${number}/${code}`);
    await staff.page.locator("section.certificate p").waitFor();
    assert.doesNotMatch(await staff.page.locator("main").innerText(), /Journey Student/);
    await checkEverywhere(staff.page, `the certificate's page (${language})`);
    assert.deepEqual(staff.errors, [], `${language}: no console errors`);
    await staff.page.context().close();
    const learner = await openApp(browser, stack, language, layout.screen);
    await signIn(learner.page, email, password);
    // Signed in (a student lands on the course) before the screens are opened one by one.
    await learner.page.getByRole("heading", { name: language === "ru" ? "Мой курс" : "My course" })
      .waitFor();
    for (const screen of ["#/course", "#/lesson/68"]) {
      await learner.page.goto(`${stack.webUrl}/${screen}`);
      await learner.page.locator("main h1").waitFor();
      assert.equal(await learner.page.getAttribute("html", "lang"), language);
      if (screen === "#/course") {
        // The course in the screen's language: on the Russian screens no English title anywhere.
        const title = learner.page.locator("main h2.course-title");
        await title.waitFor().catch(async (error) => {
          throw new Error(`${error}\n${await learner.page.locator("main").innerText()}`);
        });
        const text = await learner.page.locator("main").innerText();
        const english = [
          "Tripwire: first sales",
          "Where sales start",
          "Who buys",
          "First step",
          "Graduate",
        ];
        if (language === "ru") {
          assert.equal(await title.innerText(), "Трипвайер: первые продажи");
          for (const word of english) {
            assert.ok(!text.includes(word), `"${word}" on a Russian screen:\n${text}`);
          }
        } else {
          assert.equal(await title.innerText(), "Tripwire: first sales");
        }
      }
      await checkEverywhere(learner.page, `${screen} (${language})`);
    }
    await learner.page.goto(`${stack.webUrl}/#/sign-in`);
    await learner.page.locator("form").waitFor();
    await checkEverywhere(learner.page, `the sign-in screen (${language})`);
    assert.deepEqual(learner.errors, [], `${language}: no console errors`);
    await learner.page.context().close();
  }
}

/** The student forgot the password and gets back in alone, in Russian. */
export async function forgotPassword(journey: Journey, { email }: Sale): Promise<void> {
  const { browser, stack, layout, checkEverywhere } = journey;
  // The student forgot the password and gets back in alone, in Russian: "Forgot password?", the e-mail's
  // link, a new password, then signing in with it.
  const forgetful = await openApp(browser, stack, "ru", layout.screen);
  await forgetful.page.getByRole("link", { name: "Забыли пароль?" }).click();
  await forgetful.page.getByRole("heading", { name: "Восстановление пароля" }).waitFor();
  await checkEverywhere(forgetful.page, "the forgotten password screen");
  await forgetful.page.locator('input[name="email"]').fill(email);
  await forgetful.page.getByRole("button", { name: "Прислать ссылку" }).click();
  await forgetful.page.getByText("письмо со ссылкой уже в пути").waitFor();
  // The answer comes before the e-mail is prepared (a known and an unknown address answer alike): it follows,
  // into the stack's local inbox, where she opens it and follows its link.
  const inbox = await forgetful.page.context().newPage();
  const mail = inbox.locator("article", { hasText: email });
  for (let tries = 0; tries < 100 && await mail.count() === 0; tries++) {
    await inbox.goto(stack.inboxUrl);
    if (await mail.count() === 0) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(await mail.first().locator("h2").innerText(), "Восстановление пароля к курсу Tripwire");
  const link = await mail.first().locator('a[href*="/auth/v1/verify?"]').getAttribute("href");
  assert.ok(link, await mail.first().innerText());
  await inbox.close();
  await forgetful.page.goto(link);
  await forgetful.page.getByRole("heading", { name: "Новый пароль" }).waitFor();
  await forgetful.page.locator('input[name="password"]').fill("short");
  await forgetful.page.locator('input[name="repeat"]').fill("short");
  await forgetful.page.evaluate("document.querySelector('form').noValidate = true");
  await forgetful.page.getByRole("button", { name: "Сохранить пароль" }).click();
  await forgetful.page.getByText("Пароль слишком простой").waitFor();
  // Next to the password field, which it describes.
  const weak = forgetful.page.locator('input[name="password"][aria-invalid="true"]');
  assert.match(
    await forgetful.page.locator(`#${await weak.getAttribute("aria-describedby")}`).innerText(),
    /^Пароль слишком простой/,
  );
  await checkEverywhere(forgetful.page, "the new password screen with an error");
  await forgetful.page.locator('input[name="password"]').fill("my-own-new-password");
  await forgetful.page.locator('input[name="repeat"]').fill("my-own-new-password");
  await forgetful.page.getByRole("button", { name: "Сохранить пароль" }).click();
  await forgetful.page.getByText("Пароль сохранён").waitFor();
  await openMenu(forgetful.page);
  await forgetful.page.getByRole("button", { name: "Выйти" }).click();
  await signIn(forgetful.page, email, "my-own-new-password");
  await forgetful.page.getByRole("heading", { name: "Мой курс" }).waitFor();
  // The link again: used once, so the app says it is no longer valid.
  await openMenu(forgetful.page);
  await forgetful.page.getByRole("button", { name: "Выйти" }).click();
  await forgetful.page.goto(link);
  await forgetful.page.getByText("Ссылка для восстановления недействительна или устарела").waitFor();
  assert.deepEqual(forgetful.errors.filter((error) => !/status of 4\d\d/.test(error)), []);
  await forgetful.page.context().close();
}

/** The admin's screens in both languages: a paid order for review, offers, the audit, erasure, webhooks, status, staff. */
export async function adminScreens(journey: Journey, { email }: Sale): Promise<void> {
  const { browser, stack, layout, checkoutSecret, checkEverywhere } = journey;
  // The admin: the audit trail in both languages, then the student's data downloaded and erased.
  const studentId = (await stack.database.sql<{ id: string }[]>`
    select id from public.users where email = ${email}`)[0].id;
  // A buyer's page paid one tenge instead of the price: the order is kept for review, not granted.
  const paid = await fetch(
    `${stack.url}/functions/v1/payments/webhook/standard`,
    standardRequest(checkoutSecret, {
      type: "order.paid",
      timestamp: new Date().toISOString(),
      data: {
        order_id: `journey-${crypto.randomUUID()}`,
        amount: "1.00",
        currency: "KZT",
        customer: {
          email: `cheap.${crypto.randomUUID().slice(0, 8)}@example.kz`,
          full_name: "Cheap Buyer",
        },
      },
    }),
  );
  assert.equal((await paid.json()).outcome, "queued");
  for (const language of ["ru", "en"] as const) {
    const admin = await openApp(browser, stack, language, layout.screen);
    await signIn(admin.page, saule.email, seededStaffPassword);
    await admin.page.locator("table").waitFor();
    // Her home says a paid order waits; the Payments screen shows it, the offers and the reconciliation.
    await admin.page.locator("p.notice").waitFor();
    await admin.page.locator("p.notice a").click();
    await admin.page.locator("main tbody tr").nth(1).waitFor();
    const screen = (await admin.page.locator("main").innerText()).replace(/\s/g, " ");
    assert.match(
      screen,
      language === "ru" ? /490 ₸/ : /KZT 490/,
      "the offer's price with its currency",
    );
    assert.match(screen, language === "ru" ? /сумма или валюта не совпадает с ценой/ : /is not the price/);
    await checkEverywhere(admin.page, `the payments screen (${language})`);
    if (language === "en") {
      await admin.page.locator('select[name="action"]').selectOption("dismiss");
      await admin.page.locator('form.inline input[name="note"]').fill("A test payment, refunded by hand");
      await admin.page.getByRole("button", { name: "Done" }).click();
      await admin.page.getByText("Nothing waits for review.").waitFor();
      // A promotion for the next hour: the price now is the promotional one; removed, the list price again.
      const local = (date: Date) =>
        new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
      await admin.page.locator('input[name="price"]').fill("390");
      await admin.page.locator('input[name="starts_at"]').fill(local(new Date(Date.now() - 3_600_000)));
      await admin.page.locator('input[name="ends_at"]').fill(local(new Date(Date.now() + 3_600_000)));
      await admin.page.getByRole("button", { name: "Add a promotion" }).click();
      await admin.page.getByRole("button", { name: "Remove" }).waitFor();
      assert.match(
        (await admin.page.locator("main tbody tr").first().innerText()).replace(/\s/g, " "),
        /KZT 390/,
      );
      await checkEverywhere(admin.page, "the payments screen with a promotion");
      await admin.page.getByRole("button", { name: "Remove" }).click();
      await admin.page.getByRole("button", { name: "Remove" }).waitFor({ state: "detached" });
      const [offer] = await stack.database
        .sql`select private.offer_price('tripwire', now())::text as price`;
      assert.equal(offer.price, "490.00");
    }
    await admin.page.goto(`${stack.webUrl}/#/audit`);
    await admin.page.locator("main tbody tr").first().waitFor();
    assert.equal(await admin.page.getAttribute("html", "lang"), language);
    await checkEverywhere(admin.page, `the audit trail (${language})`);
    if (language === "en") {
      await admin.page.getByRole("combobox").selectOption("student.refunded");
      await admin.page.getByText("changed her mind").first().waitFor();
      // The audit in words: the refund's money with its currency, what changed as amounts, not bare numbers.
      assert.match(
        (await admin.page.locator("main tbody tr", { hasText: "changed her mind" }).first().innerText())
          .replace(/\s/g, " "),
        /refund of KZT [\d,.]+ .*Refunded: KZT 0 → KZT [\d,.]+/,
      );
      await admin.page.goto(`${stack.webUrl}/#/students/${studentId}`);
      const [download] = await Promise.all([
        admin.page.waitForEvent("download"),
        admin.page.getByRole("button", { name: "Download all data (JSON)" }).click(),
      ]);
      const exported = JSON.parse(await Deno.readTextFile(await download.path()));
      assert.equal(exported.person.email, email);
      await admin.page.locator('form.action input[name="reason"]').last().fill("her written request");
      await admin.page.getByRole("button", { name: "Erase this person" }).click();
      assert.equal(await admin.page.getByText("Erased on").count(), 0, "not without the confirmation");
      await admin.page.locator('input[name="confirm"]').check();
      await admin.page.getByRole("button", { name: "Erase this person" }).click();
      await admin.page.getByText("Erased on").waitFor();
      const [person] = await stack.database.sql`select full_name from public.users where id = ${studentId}`;
      assert.equal(person.full_name, "Erased person");
    }
    // The webhooks screen: the endpoint registered at the start, and its deliveries.
    await admin.page.goto(`${stack.webUrl}/#/webhooks`);
    // (In English the person was erased just now, and with her the events and their deliveries.)
    await admin.page.locator("main tbody tr").first().waitFor();
    await checkEverywhere(admin.page, `the webhooks (${language})`);
    // The Status screen: healthy or not and why, the jobs npm start runs, the queues, the hour's requests.
    await admin.page.goto(`${stack.webUrl}/#/status`);
    const verdict = await admin.page.locator('main [role="status"]').first().innerText();
    assert.match(
      verdict,
      language === "ru" ? /Всё работает|Требует внимания/ : /Everything works|Needs attention/,
    );
    await admin.page.getByText(
      language === "ru" ? "задания выполняет npm start" : "npm start runs the jobs",
    )
      .waitFor();
    await checkEverywhere(admin.page, `the status (${language})`);
    // The Second sale as an admin sees it: every manager ranked, and the main-course purchases nobody matched.
    await admin.page.goto(`${stack.webUrl}/#/second-sale`);
    await admin.page.getByRole("heading", {
      name: language === "ru"
        ? "Покупки основного курса без ученика"
        : "Main course purchases with no student",
    }).waitFor();
    await admin.page.locator("ol.funnel li").first().waitFor();
    await checkEverywhere(admin.page, `the second sale, an admin's (${language})`);
    // The Staff screen: the seeded managers; in English Saule hires one (the password shown once) and lets her go.
    await admin.page.goto(`${stack.webUrl}/#/staff`);
    await admin.page.getByText("Aida Manager").waitFor();
    await checkEverywhere(admin.page, `the staff (${language})`);
    if (language === "en") {
      const hired = `kamila.${crypto.randomUUID().slice(0, 8)}@academy.kz`;
      await admin.page.locator('input[name="email"]').fill(hired);
      await admin.page.locator('input[name="full_name"]').fill("Kamila Hired");
      await admin.page.getByRole("button", { name: "Create" }).click();
      assert.match(await admin.page.locator("code.password").innerText(), /^[A-Za-z0-9]{20}$/);
      const row = admin.page.locator("main tbody tr", { hasText: "Kamila Hired" });
      await row.getByRole("button", { name: "Deactivate" }).click();
      await row.getByRole("alertdialog").getByRole("button", { name: "Deactivate" }).click();
      await row.getByText("deactivated").waitFor();
      const [member] = await stack.database
        .sql`select deactivated_at from public.users where email = ${hired}`;
      assert.ok(member.deactivated_at, "deactivated in the database");
    }
    assert.deepEqual(admin.errors, [], `${language}: no console errors`);
    await admin.page.context().close();
  }
}
