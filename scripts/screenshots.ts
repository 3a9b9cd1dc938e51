/**
 * `npm run screenshots`: every screen of the reference web app, in Russian and in English, on a desktop and
 * on a phone (390 px), written to docs/screenshots/<screen>.<lang>.png and <screen>.phone.<lang>.png. Runs its own stack (`scripts/start.ts`) on a scratch database
 * (DATABASE_URL's server, or an embedded Postgres), with a few sales made through the API, in Debian's
 * Chromium.
 */
import { launchChromium } from "./lib/chromium.ts";
import { seededStaffPassword } from "./lib/local_auth/server.ts";
import { localSecretKey } from "./lib/local_stack.ts";
import { freePort, scratchDatabase, startStackProcess } from "./lib/processes.ts";

const outputDir = new URL("../docs/screenshots/", import.meta.url);
const manager = { email: "aida.manager@tripwire.local", password: seededStaffPassword };

const database = await scratchDatabase("tripwire_screens_");
const port = freePort();
const stack = await startStackProcess({
  DATABASE_URL: database.url,
  FUNCTIONS_PORT: String(port),
  SCHEDULER_INTERVAL_MS: "0",
});
const api = `http://127.0.0.1:${port}`;

async function post(path: string, token: string, body: unknown) {
  const response = await fetch(`${api}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

try {
  const { access_token: managerToken } = await post("/auth/v1/token?grant_type=password", "", manager);
  const sales = [["Bolat Nurlanov", 490], ["Dana Seitkali", 490], ["Erlan Abenov", 990]] as const;
  const students = [];
  for (const [name, amount] of sales) {
    const email = `${name.toLowerCase().replace(" ", ".")}@example.kz`;
    const created = await post("/functions/v1/create-tripwire-user", managerToken, {
      email,
      full_name: name,
      payment_amount: amount,
      send_welcome_email: false,
    });
    students.push({ id: created.id, email, password: created.password });
  }
  const { access_token: studentToken } = await post("/auth/v1/token?grant_type=password", "", {
    email: students[0].email,
    password: students[0].password,
  });
  await post("/functions/v1/video-tracking", studentToken, { lesson_id: 67, segments: [] });
  await new Promise((resolve) => setTimeout(resolve, 2000));
  await post("/functions/v1/video-tracking", studentToken, {
    lesson_id: 67,
    segments: [[0, 8]],
    position: 8,
  });
  await post(`/functions/v1/students/${students[2].id}/refund`, managerToken, {
    amount: 990,
    reason: "changed his mind",
  });
  await post("/functions/v1/leaderboard/refresh", localSecretKey, {});
  await post("/functions/v1/second-sale/refresh", localSecretKey, {});
  await post("/functions/v1/second-sale/refresh-retention", localSecretKey, {});

  await Deno.mkdir(outputDir, { recursive: true });
  const browser = await launchChromium();
  try {
    const screens = [["", { width: 1100, height: 800 }], [".phone", { width: 390, height: 844 }]] as const;
    for (const [suffix, viewport] of screens) {
      for (const language of ["ru", "en"]) {
        const context = await browser.newContext({ viewport });
        await context.addInitScript(`localStorage.setItem("tripwire.language", "${language}")`);
        const page = await context.newPage();
        const shoot = async (screen: string, hash: string, ready: string) => {
          await page.goto(`${stack.webUrl}/${hash}`);
          await page.locator(ready).first().waitFor();
          await page.waitForTimeout(300);
          const path = new URL(`${screen}${suffix}.${language}.png`, outputDir);
          await page.screenshot({ path: path.pathname, fullPage: true });
          console.log(`docs/screenshots/${screen}${suffix}.${language}.png`);
        };
        await shoot("sign-in", "#/sign-in", "form");
        const signIn = async (email: string, password: string) => {
          await page.locator('input[name="email"]').fill(email);
          await page.locator('input[name="password"]').fill(password);
          await page.locator('input[name="password"]').press("Enter");
          await page.waitForURL(/#\/(course|students)$/);
        };
        await signIn(manager.email, manager.password);
        await shoot("students", "#/students", "tbody tr");
        await shoot("student", `#/students/${students[0].id}`, "main h2");
        await page.goto(`${stack.webUrl}/#/new-student`);
        await page.locator('input[name="email"]').fill(`new${suffix}.${language}@example.kz`);
        await page.locator('input[name="full_name"]').fill(
          language === "ru" ? "Айгерим Касымова" : "Aigerim Kassymova",
        );
        await page.locator('input[name="send_welcome_email"]').uncheck();
        await page.locator('button[type="submit"]').click();
        await page.locator("code.password").waitFor();
        await page.screenshot({
          path: new URL(`new-student${suffix}.${language}.png`, outputDir).pathname,
          fullPage: true,
        });
        console.log(`docs/screenshots/new-student${suffix}.${language}.png`);
        await shoot("leaderboard", "#/leaderboard", "svg.chart");
        await shoot("second-sale", "#/second-sale", "figure svg polyline");
        // Signed out (supabase-js keeps the session under sb-… keys), then in as the student.
        await page.evaluate(
          `Object.keys(localStorage).filter((key) => key.startsWith("sb-")).forEach((key) => localStorage.removeItem(key))`,
        );
        await page.goto(`${stack.webUrl}/#/sign-in`);
        await page.locator("form").waitFor();
        await signIn(students[0].email, students[0].password);
        await shoot("course", "#/course", ".modules");
        await shoot("lesson", "#/lesson/67", "video[src]");
        await context.close();
      }
    }
  } finally {
    await browser.close();
  }
} finally {
  await stack.stop();
  await database.stop();
}
