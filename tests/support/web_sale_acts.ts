/**
 * The sale's acts of the web app's journey (tests/web_app_test.ts): the admin registers the CRM, a manager sells,
 * the student graduates, the manager sees the sale and refunds it, and the CRM hears of all of it.
 */
import assert from "node:assert/strict";
import { PDFDocument } from "pdf-lib";
import { seededStaffPassword } from "../../scripts/lib/local_auth/server.ts";
import { localSecretKey } from "../../scripts/lib/local_stack.ts";
import { academyDay, addDays, defaultTimeZone } from "../../supabase/functions/_domain/academy_day.ts";
import { aida, saule } from "./fixtures.ts";
import {
  check,
  type Journey,
  mainCourseCheckout,
  openApp,
  openMenu,
  refreshAnalytics,
  signIn,
  watchAndComplete,
  watchByKeyboard,
} from "./web_journey.ts";

/** A calendar day and a range of them as the English screens write them (en-GB, Intl). */
const englishDays = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeZone: "UTC" });
const day = (iso: string) => englishDays.format(new Date(`${iso}T00:00:00Z`));
const dayRange = (from: string, to: string) =>
  englishDays.formatRange(new Date(`${from}T00:00:00Z`), new Date(`${to}T00:00:00Z`));

/** A page of the app with the console errors it logged. */
export type AppPage = Awaited<ReturnType<typeof openApp>>;

/** What the sale leaves for the later acts: the manager's page, the student's e-mail and password. */
export interface Sale {
  manager: AppPage;
  email: string;
  password: string;
}

/** The admin registers the academy's CRM on the webhooks screen: the sale's events will reach it. */
export async function registerCrm(journey: Journey): Promise<void> {
  const { browser, stack, layout, crm, checkEverywhere } = journey;
  // The admin registers the academy's CRM first, on the webhooks screen: the sale's events will reach it.
  const registrar = await openApp(browser, stack, "en", layout.screen);
  await signIn(registrar.page, saule.email, seededStaffPassword);
  await registrar.page.getByRole("link", { name: "Webhooks", includeHidden: true }).waitFor({
    state: "attached",
  });
  await registrar.page.goto(`${stack.webUrl}/#/webhooks`);
  await registrar.page.getByRole("heading", { name: "Webhooks: events for the CRM" }).waitFor();
  await registrar.page.locator('input[name="url"]').fill(crm.url);
  for (const type of ["student.created", "course.completed", "student.refunded"]) {
    await registrar.page.locator(`input[value="${type}"]`).check();
  }
  await registrar.page.getByRole("button", { name: "Add an endpoint" }).click();
  const secret = await registrar.page.locator("code").innerText();
  assert.match(secret, /^whsec_/);
  crm.state.secrets.push(secret);
  await checkEverywhere(registrar.page, "the webhooks screen with a new endpoint");
  assert.deepEqual(registrar.errors, []);
  await registrar.page.context().close();
}

/** A manager sells the course (a taken address first) and reads the password off the screen. */
export async function sell(journey: Journey): Promise<Sale> {
  const { browser, stack, layout } = journey;
  // The manager sells the course and reads the password off the screen.
  const manager = await openApp(browser, stack, "en", layout.screen);
  await signIn(manager.page, aida.email, seededStaffPassword);
  await manager.page.getByRole("heading", { name: "My students" }).waitFor();
  await check(manager.page, "the students list");
  await openMenu(manager.page);
  await manager.page.getByRole("link", { name: "New student" }).click();
  // A taken address: the error is next to the e-mail field, which it describes, and which gets the focus.
  await manager.page.locator('input[name="email"]').fill(aida.email);
  await manager.page.locator('input[name="full_name"]').fill("Journey Student");
  await manager.page.locator('input[name="send_welcome_email"]').uncheck();
  await manager.page.getByRole("button", { name: "Create the student" }).click();
  const taken = manager.page.locator('input[name="email"][aria-invalid="true"]');
  await taken.waitFor();
  const describedBy = await taken.getAttribute("aria-describedby");
  assert.equal(
    await manager.page.locator(`#${describedBy}`).innerText(),
    "A student with this e-mail exists already.",
  );
  assert.equal(await manager.page.evaluate("document.activeElement.name"), "email");
  await check(manager.page, "the new student form with an error");
  const email = `journey.${crypto.randomUUID().slice(0, 8)}@example.kz`;
  await manager.page.locator('input[name="email"]').fill(email);
  await manager.page.locator('input[name="full_name"]').fill("Journey Student");
  await manager.page.locator('input[name="send_welcome_email"]').uncheck();
  // A phone no one could call: said next to the field, what is wrong and how to write it, before anything is sent.
  await manager.page.locator('input[name="phone"]').fill("8 701 12");
  await manager.page.getByRole("button", { name: "Create the student" }).click();
  const badPhone = manager.page.locator('input[name="phone"][aria-invalid="true"]');
  await badPhone.waitFor();
  assert.match(
    await manager.page.locator(`#${await badPhone.getAttribute("aria-describedby")}`).innerText(),
    /^Phone: not a number anyone could call\. Write it as you dial it/,
  );
  // As a manager writes it, with the country's trunk 8 and dashes: kept as +77011234567.
  await manager.page.locator('input[name="phone"]').fill("8-701-123-45-67");
  await manager.page.getByRole("button", { name: "Create the student" }).click();
  const password = await manager.page.locator("code.password").innerText();
  assert.match(password, /^[A-Za-z0-9]{20}$/);
  // Her payment link for a buyer who pays online: the offer, its price with the currency, the reference.
  await manager.page.getByRole("button", { name: "Get a link" }).click();
  assert.match(await manager.page.locator("code.reference").innerText(), /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.match(
    await manager.page.getByText("Give the checkout this reference").innerText(),
    /^Tripwire, KZT\s490,/,
  );
  return { manager, email, password };
}

/** The student watches the course (the first lesson by keyboard alone), graduates and downloads the certificate. */
export async function graduate(
  journey: Journey,
  { email, password }: Sale,
): Promise<{ student: AppPage; number: string }> {
  const { browser, stack, layout } = journey;
  // The student signs in with it on the app's origin and watches the course: the first lesson with the
  // keyboard alone.
  const student = await openApp(browser, stack, "en", layout.screen);
  await check(student.page, "the sign-in screen");
  const first = await watchByKeyboard(student.page, email, password, 67);
  // The last module is still locked: its lesson's page, opened by its address, says so and has no video.
  await student.page.goto(`${stack.webUrl}/#/lesson/69`);
  await student.page.getByText("This lesson is still locked: complete the previous module first.")
    .waitFor();
  assert.equal(await student.page.locator("video").count(), 0);
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
  // The certificate as a PDF, in her language, from the course page.
  const [pdfDownload] = await Promise.all([
    student.page.waitForEvent("download"),
    student.page.getByRole("button", { name: "Download the certificate (PDF)" }).click(),
  ]);
  assert.equal(pdfDownload.suggestedFilename(), `${number}.pdf`);
  const certificatePdf = await PDFDocument.load(await Deno.readFile(await pdfDownload.path()));
  assert.equal(certificatePdf.getTitle(), `Certificate ${number}`);
  assert.ok(certificatePdf.getSubject()!.startsWith("Journey Student"));
  // Its QR code's link (the PDF names it among its keywords too) opens the web app's page for a person, who
  // need not be signed in, and who can take the PDF from there.
  const qrLink = certificatePdf.getKeywords()!.split(/\s+/).find((word) => word.startsWith("http"))!;
  assert.equal(new URL(qrLink).origin, new URL(stack.webUrl).origin, qrLink);
  const visitor = await browser.newContext({ viewport: layout.screen });
  const visit = await visitor.newPage();
  await visit.goto(qrLink);
  const verdict = await visit.locator("section.certificate .success").innerText();
  assert.ok(verdict.includes(number), verdict);
  await visit.locator("section.certificate button").waitFor();
  // The graduate's offer of the main course is on the certificate's page too, with the same personal link.
  const offered = await visit.locator("section.upgrade a.button").getAttribute("href");
  await visitor.close();

  // The course page offers the main course: the tracked link leads to the academy's checkout with her token.
  await student.page.goto(`${stack.webUrl}/#/course`);
  const offer = student.page.getByRole("link", { name: "Go to the main course" });
  await offer.waitFor();
  const link = await offer.getAttribute("href");
  assert.equal(link, offered);
  assert.match(
    await student.page.locator("section.upgrade").innerText(),
    /counts towards the main course's price/,
  );
  const opened = await fetch(link!, { redirect: "manual" });
  await opened.body?.cancel();
  assert.equal(opened.status, 302);
  assert.ok(opened.headers.get("location")!.startsWith(`${mainCourseCheckout}?handoff=`));
  await check(student.page, "the course with the main course's offer");

  // The student goes back to the first lesson to watch it again…
  await student.page.goto(`${stack.webUrl}/#/lesson/67`);
  await student.page.locator("video").waitFor();
  return { student, number };
}

/** The manager sees the sale in the list, the CSVs, the leaderboard and the feed, and refunds it: access ends. */
export async function refund(journey: Journey, { manager, email }: Sale, student: AppPage): Promise<void> {
  const { stack } = journey;
  // …while the manager sees the sale in the list, the leaderboard and the feed, and refunds it.
  await refreshAnalytics(stack);
  // Her watching shows in the list: the most recently active first.
  await manager.page.goto(`${stack.webUrl}/#/students`);
  await manager.page.locator('select[name="sort"]').selectOption("recently_active");
  await manager.page.locator("tbody tr").first().getByRole("link", { name: "Journey Student" }).waitFor();
  // When, as a person says it ("2 minutes ago"), the exact time on hover.
  const ago = manager.page.locator("tbody tr").first().locator("time");
  assert.match(await ago.innerText(), /ago|this minute|now/, await ago.innerText());
  assert.ok(await ago.getAttribute("title"));
  // She completed the course today and opened the offer (the graduate act): the home says one student is ready
  // for a call, and the call list says who, why, and how to reach her.
  await manager.page.goto(`${stack.webUrl}/#/students`);
  await manager.page.locator("p.notice").waitFor();
  assert.match(await manager.page.locator("p.notice").innerText(), /1 student is ready for a call/);
  await manager.page.locator("p.notice a").click();
  const toCall = manager.page.locator("main tbody tr", { hasText: "Journey Student" });
  await toCall.waitFor();
  const why = (await toCall.innerText()).replace(/\s/g, " ");
  for (
    const said of [
      /\b70\b/,
      /ready for a call/,
      /opened the offer/,
      /completed the course/,
      /8 \(701\) 123 4567/,
    ]
  ) {
    assert.match(why, said);
  }
  await journey.checkEverywhere(manager.page, "the second sale with a student to call");
  await manager.page.goto(`${stack.webUrl}/#/students`);
  await manager.page.getByRole("searchbox").fill("Journey");
  await manager.page.getByRole("link", { name: "Journey Student" }).waitFor();
  // The list as CSV, filtered as it is on the screen, and the books.
  const [studentsCsv] = await Promise.all([
    manager.page.waitForEvent("download"),
    manager.page.getByRole("button", { name: "Download CSV" }).click(),
  ]);
  const studentsText = await Deno.readTextFile(await studentsCsv.path());
  assert.equal(studentsText.trim().split("\r\n").length, 2, studentsText);
  assert.match(studentsText, new RegExp(`Journey Student,${email},`));
  const [salesCsv] = await Promise.all([
    manager.page.waitForEvent("download"),
    manager.page.getByRole("button", { name: "Sales and refunds, CSV" }).click(),
  ]);
  assert.match(await Deno.readTextFile(await salesCsv.path()), /,sale,490\.00,KZT,.*Journey Student/);
  await manager.page.getByRole("link", { name: "Journey Student" }).click();
  await manager.page.getByRole("heading", { name: "Journey Student" }).waitFor();
  // Her phone as people in the academy's country write it.
  assert.match(await manager.page.locator("main").innerText(), /8 \(701\) 123 4567/);
  await manager.page.goto(`${stack.webUrl}/#/leaderboard`);
  await manager.page.getByRole("button", { name: "All time" }).click();
  await manager.page.locator("tr.me").waitFor();
  // The chart says what it shows in words too, with its figures as a table: the academy's last 30 days,
  // the sale on the academy's today (in Almaty, whatever the hour in UTC).
  const today = academyDay(defaultTimeZone);
  const caption = await manager.page.locator("figure.chart-figure figcaption").innerText();
  assert.equal(
    caption.replace(/\s/g, " "),
    `Revenue, ${dayRange(addDays(today, -29), today)}: KZT 490 in all, the best day ${
      day(today)
    } with KZT 490.`,
  );
  assert.equal(await manager.page.locator("figure.chart-figure details tbody tr").count(), 30);
  await manager.page.getByText("Journey Student earned certificate").waitFor();
  await manager.page.goto(`${stack.webUrl}/#/students`);
  await manager.page.getByRole("searchbox").fill("Journey");
  await manager.page.getByRole("link", { name: "Journey Student" }).click();
  await manager.page.locator('form.action input[name="reason"]').first().fill("changed her mind");
  await manager.page.getByRole("button", { name: "Refund" }).click();
  // A refund asks first; nothing is refunded until the manager says yes.
  const refundQuestion = manager.page.getByRole("alertdialog");
  await refundQuestion.waitFor();
  assert.equal(
    (await refundQuestion.locator("p").innerText()).replace(/\s/g, " "),
    "Refund KZT 490 to Journey Student? This cannot be undone.",
  );
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

  // Her next heartbeat or her next video URL is refused, and the screen says why; the video is gone.
  await student.page.evaluate(
    "document.querySelector('video').currentTime = 0; document.querySelector('video').play().catch(() => {})",
  );
  await student.page.getByText("Access to the course is closed: the payment was refunded").waitFor();
  await student.page.waitForFunction("!document.querySelector('video[src]')", undefined, {
    timeout: 15_000,
  });
  await student.page.goto(`${stack.webUrl}/#/course`);
  await student.page.getByText("The course was refunded").first().waitFor();
  assert.deepEqual(student.errors.filter((error) => !/status of 4\d\d/.test(error)), []);
  // (The taken address's 409 is the one failed request the manager made.)
  assert.deepEqual(manager.errors.filter((error) => !/status of 409/.test(error)), []);
}

/** The scheduler's run: the CRM hears of the sale, the graduation and the refund, each verified. */
export async function crmHearsAll(journey: Journey): Promise<void> {
  const { stack, crm } = journey;
  // The scheduler's run: the CRM hears of the sale, the graduation and the refund, each verified.
  const run = await fetch(`${stack.url}/functions/v1/webhooks/deliver`, {
    method: "POST",
    headers: { authorization: `Bearer ${localSecretKey}` },
  });
  assert.equal(run.status, 200, await run.clone().text());
  await run.body?.cancel();
  assert.deepEqual(crm.received.map((event) => event.type).sort(), [
    "course.completed",
    "student.created",
    "student.refunded",
  ]);
}
