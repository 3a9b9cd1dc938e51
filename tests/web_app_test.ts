/**
 * The reference web app (web/) in a real Chromium, on its own origin, against the stack as `npm start`
 * runs it: the whole journey — sale, sign-in, watching, completion, certificate, leaderboard, refund —
 * and every screen in Russian and in English without a console error.
 */
import assert from "node:assert/strict";
import { seededStaffPassword } from "../scripts/lib/local_auth.ts";
import { startResendServer } from "../scripts/lib/resend_server.ts";
import { localSecretKey } from "../scripts/lib/local_stack.ts";
import { aida, saule } from "./support/fixtures.ts";
import {
  type Browser,
  browserTest,
  launchChromium,
  type Page,
  type RunningStack,
  startLocalStack,
} from "./support/browser.ts";

const lessonSeconds = 20;

async function openApp(browser: Browser, stack: RunningStack, language: "ru" | "en") {
  const context = await browser.newContext();
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

async function signIn(page: Page, email: string, password: string) {
  await page.locator('input[name="email"]').fill(email);
  await page.locator('input[name="password"]').fill(password);
  await page.locator('input[name="password"]').press("Enter"); // the keyboard, as a user would
}

async function refreshAnalytics(stack: RunningStack) {
  const response = await fetch(`${stack.url}/functions/v1/leaderboard/refresh`, {
    method: "POST",
    headers: { authorization: `Bearer ${localSecretKey}` },
  });
  await response.body?.cancel();
  assert.equal(response.status, 200);
}

/** Watches the lesson at 2× to the end, then completes it; returns what the page says. */
async function watchAndComplete(page: Page, lessonId: number): Promise<string> {
  await page.goto(`${new URL(page.url()).origin}/#/lesson/${lessonId}`);
  await page.locator("video").waitFor();
  await page.locator("select").selectOption("2");
  await page.evaluate("document.querySelector('video').muted = true; document.querySelector('video').play()");
  const complete = page.getByRole("button", { name: "Complete the lesson" });
  await page.waitForFunction("document.querySelector('video').ended", undefined, { timeout: 60_000 });
  await assertEnabled(complete);
  await complete.click();
  await page.locator(".success").waitFor();
  return await page.locator("main").innerText();
}

async function assertEnabled(locator: ReturnType<Page["locator"]>) {
  for (let attempt = 0; attempt < 60 && await locator.isDisabled(); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.equal(await locator.isDisabled(), false, "the lesson qualified");
}

browserTest("in Chromium: the reference web app's whole journey, and every screen in ru and en", async () => {
  // Its e-mails go to a server that answers as Resend does, where the story reads them.
  const resend = startResendServer();
  const stack = await startLocalStack({ RESEND_API_KEY: resend.apiKey, RESEND_API_URL: resend.url });
  const browser = await launchChromium();
  try {
    await stack.database.sql`
      update public.tripwire_lessons
      set video_duration_seconds = ${lessonSeconds}, video_url = ${`${stack.url}/media/sample-20s.webm`}`;

    // The manager sells the course and reads the password off the screen.
    const manager = await openApp(browser, stack, "en");
    await signIn(manager.page, aida.email, seededStaffPassword);
    await manager.page.getByRole("heading", { name: "My students" }).waitFor();
    await manager.page.getByRole("link", { name: "New student" }).click();
    const email = `journey.${crypto.randomUUID().slice(0, 8)}@example.kz`;
    await manager.page.locator('input[name="email"]').fill(email);
    await manager.page.locator('input[name="full_name"]').fill("Journey Student");
    await manager.page.locator('input[name="send_welcome_email"]').uncheck();
    await manager.page.getByRole("button", { name: "Create the student" }).click();
    const password = await manager.page.locator("code.password").innerText();
    assert.match(password, /^[A-Za-z0-9]{20}$/);

    // The student signs in with it on the app's origin and watches the course.
    const student = await openApp(browser, stack, "en");
    await signIn(student.page, email, password);
    await student.page.getByRole("heading", { name: "My course" }).waitFor();
    const first = await watchAndComplete(student.page, 67);
    assert.match(first, /Lesson completed!/);
    assert.match(first, /Next module unlocked: Module 2/);
    await watchAndComplete(student.page, 68);
    const last = await watchAndComplete(student.page, 69);
    const number = last.match(/certificate no\. (TW-\S+?)\./)?.[1];
    assert.ok(number, last);
    const tracking = await stack.database.sql<{ rejected: string }[]>`
      select sum(rejected_seconds) as rejected from public.video_tracking vt
      join public.users u on u.id = vt.user_id where u.email = ${email}`;
    assert.equal(Number(tracking[0].rejected), 0, "every heartbeat credited");
    await student.page.getByRole("link", { name: "Verification page" }).click();
    await student.page.getByText(`Certificate no. ${number} is valid.`).waitFor();
    assert.match(await student.page.locator("main").innerText(), /Issued to Journey Student/);
    await student.page.goto(`${stack.webUrl}/#/course`);
    await student.page.getByText(`Certificate no. ${number}`).waitFor();

    // The student goes back to the first lesson to watch it again…
    await student.page.goto(`${stack.webUrl}/#/lesson/67`);
    await student.page.locator("video").waitFor();

    // …while the manager sees the sale in the list, the leaderboard and the feed, and refunds it.
    await refreshAnalytics(stack);
    // Her watching shows in the list: the most recently active first.
    await manager.page.goto(`${stack.webUrl}/#/students`);
    await manager.page.locator('select[name="sort"]').selectOption("recently_active");
    await manager.page.locator("tbody tr").first().getByRole("link", { name: "Journey Student" }).waitFor();
    await manager.page.goto(`${stack.webUrl}/#/students`);
    await manager.page.getByRole("searchbox").fill("Journey");
    await manager.page.getByRole("link", { name: "Journey Student" }).click();
    await manager.page.getByRole("heading", { name: "Journey Student" }).waitFor();
    await manager.page.goto(`${stack.webUrl}/#/leaderboard`);
    await manager.page.getByRole("button", { name: "All time" }).click();
    await manager.page.locator("tr.me").waitFor();
    // The chart says what it shows in words too, with its figures as a table.
    assert.match(
      await manager.page.locator("figure.chart-figure figcaption").innerText(),
      /^Revenue from \d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2}: 490 in all, the best day \d{4}-\d{2}-\d{2} with 490\.$/,
    );
    assert.equal(await manager.page.locator("figure.chart-figure details tbody tr").count(), 30);
    await manager.page.getByText("Journey Student earned certificate").waitFor();
    await manager.page.goto(`${stack.webUrl}/#/students`);
    await manager.page.getByRole("searchbox").fill("Journey");
    await manager.page.getByRole("link", { name: "Journey Student" }).click();
    await manager.page.locator('form.action input[name="reason"]').first().fill("changed her mind");
    await manager.page.getByRole("button", { name: "Refund" }).click();
    // A refund asks first; nothing is refunded until the manager says yes.
    await manager.page.getByRole("alertdialog").getByText("Refund 490 to Journey Student?").waitFor();
    const [{ refunds }] = await stack.database.sql<{ refunds: number }[]>`
      select count(*)::int as refunds from public.student_refunds r join public.users u on u.id = r.user_id
      where u.email = ${email}`;
    assert.equal(refunds, 0, "not refunded before the confirmation");
    await manager.page.getByRole("button", { name: "Yes, refund" }).click();
    await manager.page.getByText("refunded", { exact: false }).first().waitFor({ timeout: 10_000 }).catch(
      async (error) => {
        throw new Error(`${error}\n${await manager.page.locator("main").innerText()}`);
      },
    );

    // The student's next heartbeat is refused, and the screen says why (the API's own message).
    await student.page.evaluate(
      "document.querySelector('video').currentTime = 0; document.querySelector('video').play()",
    );
    await student.page.getByText("Access to the course is closed: the payment was refunded").waitFor();
    await student.page.goto(`${stack.webUrl}/#/course`);
    await student.page.getByText("The course was refunded").first().waitFor();
    assert.deepEqual(student.errors.filter((error) => !/status of 4\d\d/.test(error)), []);
    assert.deepEqual(manager.errors, []);

    // Every screen, in both languages, without a console error.
    for (const language of ["ru", "en"] as const) {
      const staff = await openApp(browser, stack, language);
      await signIn(staff.page, aida.email, seededStaffPassword);
      await staff.page.locator("table").waitFor();
      const studentId = (await stack.database.sql<{ id: string }[]>`
        select id from public.users where email = ${email}`)[0].id;
      for (const screen of ["#/students", "#/new-student", "#/leaderboard", `#/students/${studentId}`]) {
        await staff.page.goto(`${stack.webUrl}/${screen}`);
        await staff.page.locator("main h1").waitFor();
        assert.equal(await staff.page.getAttribute("html", "lang"), language);
      }
      const [{ code }] = await stack.database.sql<{ code: string }[]>`
        select verification_code as code from public.certificates where certificate_number = ${number}`;
      // Refunded in full, so the certificate is revoked: the public page says so, without the name.
      await staff.page.goto(`${stack.webUrl}/#/verify/${number}/${code}`);
      await staff.page.locator("section.certificate p").waitFor();
      assert.doesNotMatch(await staff.page.locator("main").innerText(), /Journey Student/);
      assert.deepEqual(staff.errors, [], `${language}: no console errors`);
      await staff.page.context().close();
      const learner = await openApp(browser, stack, language);
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
      }
      await learner.page.goto(`${stack.webUrl}/#/sign-in`);
      await learner.page.locator("form").waitFor();
      assert.deepEqual(learner.errors, [], `${language}: no console errors`);
      await learner.page.context().close();
    }

    // The student forgot the password and gets back in alone, in Russian: "Forgot password?", the e-mail's
    // link, a new password, then signing in with it.
    const forgetful = await openApp(browser, stack, "ru");
    await forgetful.page.getByRole("link", { name: "Забыли пароль?" }).click();
    await forgetful.page.getByRole("heading", { name: "Восстановление пароля" }).waitFor();
    await forgetful.page.locator('input[name="email"]').fill(email);
    await forgetful.page.getByRole("button", { name: "Прислать ссылку" }).click();
    await forgetful.page.getByText("письмо со ссылкой уже в пути").waitFor();
    const recoveryMail = resend.accepted.findLast((sent) => sent.body.to.includes(email));
    assert.equal(recoveryMail?.body.subject, "Восстановление пароля к курсу Tripwire");
    const link = recoveryMail!.body.text.match(/http\S+\/auth\/v1\/verify\?\S+/)?.[0];
    assert.ok(link, recoveryMail!.body.text);
    await forgetful.page.goto(link);
    await forgetful.page.getByRole("heading", { name: "Новый пароль" }).waitFor();
    await forgetful.page.locator('input[name="password"]').fill("short");
    await forgetful.page.locator('input[name="repeat"]').fill("short");
    await forgetful.page.evaluate("document.querySelector('form').noValidate = true");
    await forgetful.page.getByRole("button", { name: "Сохранить пароль" }).click();
    await forgetful.page.getByText("Пароль слишком простой").waitFor();
    await forgetful.page.locator('input[name="password"]').fill("my-own-new-password");
    await forgetful.page.locator('input[name="repeat"]').fill("my-own-new-password");
    await forgetful.page.getByRole("button", { name: "Сохранить пароль" }).click();
    await forgetful.page.getByText("Пароль сохранён").waitFor();
    await forgetful.page.getByRole("button", { name: "Выйти" }).click();
    await signIn(forgetful.page, email, "my-own-new-password");
    await forgetful.page.getByRole("heading", { name: "Мой курс" }).waitFor();
    // The link again: used once, so the app says it is no longer valid.
    await forgetful.page.getByRole("button", { name: "Выйти" }).click();
    await forgetful.page.goto(link);
    await forgetful.page.getByText("Ссылка для восстановления недействительна или устарела").waitFor();
    assert.deepEqual(forgetful.errors.filter((error) => !/status of 4\d\d/.test(error)), []);
    await forgetful.page.context().close();

    // The admin: the audit trail in both languages, then the student's data downloaded and erased.
    const studentId = (await stack.database.sql<{ id: string }[]>`
      select id from public.users where email = ${email}`)[0].id;
    for (const language of ["ru", "en"] as const) {
      const admin = await openApp(browser, stack, language);
      await signIn(admin.page, saule.email, seededStaffPassword);
      await admin.page.locator("table").waitFor();
      await admin.page.goto(`${stack.webUrl}/#/audit`);
      await admin.page.locator("main tbody tr").first().waitFor();
      assert.equal(await admin.page.getAttribute("html", "lang"), language);
      if (language === "en") {
        await admin.page.getByRole("combobox").selectOption("student.refunded");
        await admin.page.getByText("changed her mind").first().waitFor();
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
      assert.deepEqual(admin.errors, [], `${language}: no console errors`);
      await admin.page.context().close();
    }
  } finally {
    await browser.close();
    await stack.stop();
    await resend.close();
  }
});
