/**
 * `npm run bench -- limits [--students 100000]`: every function as Supabase runs it — its deploy bundle alone in
 * its own process, a pool of 3 — over a database of scale-seeded students (10,000 by default, 1,000 with
 * --quick), and each route's cost against the platform's limits: the function's CPU per request (2 s allowed),
 * its process's peak memory (256 MB) and its bundle's size (5 MB bundled server-side; the goal 2.5 MB).
 * Requests go one at a time after a warm-up, and a route's CPU is that process's CPU over its requests divided
 * by their number (/proc counts in 10 ms ticks: one request of a cheap route is below the tick). The first
 * request each function answers is timed on its own: the cold start's share a user waits for.
 *
 * Certificates are drawn once and then served from Storage: 1,000 PDF downloads at concurrency 8 over 50
 * certificates in two languages (100 files, each drawn on its first download) report complete-lesson's CPU per
 * download and its memory as they go, and certificate-pdf's CPU per drawing.
 */
import postgres from "postgres";
import { prepareDatabase } from "../lib/database.ts";
import { deployedFunctions, startDeployedStack } from "../lib/deployed.ts";
import { localJwtSecret, localSecretKey, signLocalToken } from "../lib/local_stack.ts";
import { startLocalStorage } from "../lib/local_storage.ts";
import { scratchDatabase } from "../lib/processes.ts";
import { seedScale } from "../seed_scale.ts";
import { watchFirstLesson } from "./learning.ts";
import { type BenchOptions, deployedBenchEnv, type ScenarioReport } from "./lib.ts";
import { cpuTally, machine, peakMemoryMiB, residentMemoryMiB } from "./host.ts";

const saule = { id: "a0000000-0000-4000-8000-000000000001", email: "saule.admin@tripwire.local" };
const aida = { id: "a0000000-0000-4000-8000-000000000002", email: "aida.manager@tripwire.local" };

/** Supabase's documented limits for an Edge Function. */
const platformLimits = { cpuMs: 2_000, memoryMiB: 256, bundleMB: 5 };

interface Route {
  name: string;
  /** The function that answers it. */
  function: string;
  requests: number;
  /** One request (the `index`-th); anything but the expected status throws. */
  call(index: number): Promise<void>;
}

interface Measured {
  route: string;
  function: string;
  requests: number;
  cpuMsPerRequest: number;
  wallP50Ms: number;
  wallMaxMs: number;
}

export async function run(options: BenchOptions): Promise<ScenarioReport> {
  const size = options.students?.[0] ?? (options.quick ? 1_000 : 10_000);
  const requests = options.quick ? 20 : 200;
  const database = await scratchDatabase("tripwire_bench_limits_");
  await prepareDatabase(database.url);
  const sql = postgres(database.url, { max: 2, onnotice: () => {} });
  await sql`update academy.settings set student_creations_per_minute = 1000000`;
  console.log(`data: ${size.toLocaleString("en")} students`);
  await seedScale(database.url, {
    students: size,
    managers: Math.max(10, size / 1000),
    seed: 17,
    quiet: true,
  });
  await sql`analyze`;
  const stack = await startDeployedStack({
    env: deployedBenchEnv(database.url, 3),
    authDatabaseUrl: database.url,
    storage: startLocalStorage({
      jwtSecret: localJwtSecret,
      secretKeys: [localSecretKey],
      writtenObjects: await Deno.makeTempDir({ prefix: "tripwire-storage-" }),
    }).fetch,
  });
  try {
    const token = (user: { id: string; email: string }) => signLocalToken(sql, user);
    const admin = await token(saule);
    const manager = await token(aida);
    const call = async (path: string, bearer: string | null, body?: unknown, expect = 200) => {
      const response = await fetch(`${stack.url}/functions/v1/${path}`, {
        method: body === undefined ? "GET" : "POST",
        headers: {
          ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      if (response.status !== expect) throw new Error(`${path}: ${response.status} ${text.slice(0, 300)}`);
      return text;
    };
    const runId = Date.now().toString(36);
    // Students sold now, through the route itself: their tokens post heartbeats, read dashboards, complete.
    const created: { id: string; email: string; token: string }[] = [];
    const createOne = async (index: number) => {
      const email = `limits.${runId}.${created.length}.${index}@example.kz`;
      const body = JSON.parse(
        await call("create-tripwire-user", manager, {
          email,
          full_name: `Limits ${index}`,
          send_welcome_email: false,
        }, 201),
      );
      created.push({ id: body.id, email, token: await token({ id: body.id, email }) });
    };
    const certificates = await sql<{ certificate_number: string; verification_code: string }[]>`
      select certificate_number, verification_code from public.certificates where revoked_at is null
      order by certificate_number limit 51`;
    const pathOf = (each: (typeof certificates)[number]) =>
      `complete-lesson/certificate/${each.certificate_number}/${each.verification_code}`;
    const certificatePath = pathOf(certificates[0]);
    // What complete-lesson sends certificate-pdf: the check's answer, the link and the language (the check is
    // read once the cold starts are timed).
    let drawing: Record<string, unknown> = {};
    const student = (index: number) => created[index % created.length];
    let position = 0;
    const routes: Route[] = [
      { name: "POST /create-tripwire-user", function: "create-tripwire-user", requests, call: createOne },
      {
        name: "POST /video-tracking (a heartbeat)",
        function: "video-tracking",
        requests: requests * 5,
        call: async (index) => {
          position += 0.5;
          await call("video-tracking", student(index).token, {
            lesson_id: 67,
            segments: [[position, position + 0.5]],
            position: position + 0.5,
          });
        },
      },
      {
        name: "GET /video-tracking?lesson_id=67",
        function: "video-tracking",
        requests,
        call: (index) => call("video-tracking?lesson_id=67", student(index).token).then(() => {}),
      },
      {
        name: "GET /student-dashboard",
        function: "student-dashboard",
        requests,
        call: (index) => call("student-dashboard", student(index).token).then(() => {}),
      },
      {
        name: "POST /complete-lesson",
        function: "complete-lesson",
        requests,
        call: () => call("complete-lesson", created[completed++].token, { lesson_id: 67 }).then(() => {}),
      },
      {
        name: "GET /complete-lesson/certificate/{number}/{code}",
        function: "complete-lesson",
        requests,
        call: () => call(certificatePath, null).then(() => {}),
      },
      {
        name: "GET …/certificate.pdf",
        function: "complete-lesson",
        requests: Math.max(10, requests / 4),
        call: () => call(`${certificatePath}/certificate.pdf`, null).then(() => {}),
      },
      {
        name: "POST /certificate-pdf (a drawing)",
        function: "certificate-pdf",
        requests: Math.max(10, requests / 4),
        call: async () => {
          const response = await fetch(`${stack.url}/functions/v1/certificate-pdf`, {
            method: "POST",
            headers: { apikey: localSecretKey, "content-type": "application/json" },
            body: JSON.stringify(drawing),
          });
          await response.arrayBuffer();
          if (response.status !== 200) throw new Error(`certificate-pdf: ${response.status}`);
        },
      },
      {
        name: "GET /students (a manager's first page)",
        function: "students",
        requests,
        call: () => call("students", manager).then(() => {}),
      },
      {
        name: "GET /students?sort=recently_active (the admin's)",
        function: "students",
        requests,
        call: () => call("students?sort=recently_active", admin).then(() => {}),
      },
      {
        name: `GET /students/export.csv (the admin's, all ${size.toLocaleString("en")})`,
        function: "students",
        requests: 3,
        call: () => call("students/export.csv", admin).then(() => {}),
      },
      {
        name: "GET /leaderboard",
        function: "leaderboard",
        requests,
        call: () => call("leaderboard", manager).then(() => {}),
      },
      {
        name: "GET /leaderboard/stats",
        function: "leaderboard",
        requests,
        call: () => call("leaderboard/stats", manager).then(() => {}),
      },
      {
        name: "GET /second-sale/figures (the admin's, all time)",
        function: "second-sale",
        requests,
        call: () => call("second-sale/figures", admin).then(() => {}),
      },
      {
        name: "GET /second-sale/managers",
        function: "second-sale",
        requests,
        call: () => call("second-sale/managers", admin).then(() => {}),
      },
      {
        name: "GET /second-sale/cohorts",
        function: "second-sale",
        requests,
        call: () => call("second-sale/cohorts", admin).then(() => {}),
      },
      {
        name: "GET /second-sale/call-list (a manager's)",
        function: "second-sale",
        requests,
        call: () => call("second-sale/call-list", manager).then(() => {}),
      },
      {
        name: "GET /second-sale/retention/67",
        function: "second-sale",
        requests,
        call: () => call("second-sale/retention/67", admin).then(() => {}),
      },
      { name: "GET /staff", function: "staff", requests, call: () => call("staff", admin).then(() => {}) },
      { name: "GET /audit", function: "audit", requests, call: () => call("audit", admin).then(() => {}) },
      {
        name: "GET /webhooks/endpoints",
        function: "webhooks",
        requests,
        call: () => call("webhooks/endpoints", admin).then(() => {}),
      },
      { name: "GET /status", function: "status", requests, call: () => call("status", null).then(() => {}) },
      {
        name: "GET /status/report",
        function: "status",
        requests,
        call: () => call("status/report", admin).then(() => {}),
      },
    ];
    // Cold: the first request each function answers, before anything else reaches it.
    const cold: Record<string, number> = {};
    const firstOf = async (name: string, request: () => Promise<unknown>) => {
      const began = performance.now();
      await request();
      cold[name] = performance.now() - began;
    };
    await firstOf("create-tripwire-user", () => createOne(-1));
    // Enough students for every route that needs its own (a completion takes one each), all with lesson 67
    // watched: the route's own requests then make more.
    for (let index = 0; index < requests + 10; index++) await createOne(index);
    await watchFirstLesson(sql, created.map((each) => ({ user: { id: each.id } })));
    let completed = 0;
    await firstOf("video-tracking", () => call("video-tracking?lesson_id=67", created[0].token));
    await firstOf("student-dashboard", () => call("student-dashboard", created[0].token));
    await firstOf("complete-lesson", () => call(certificatePath, null));
    const check = JSON.parse(await call(certificatePath, null));
    drawing = {
      certificate_number: check.certificate_number,
      full_name: check.full_name,
      course: { title: check.course.title, statement: check.course.statement },
      issued_at: check.issued_at,
      verification_url: `https://example.supabase.co/functions/v1/${certificatePath}`,
      language: "ru",
    };
    await firstOf(
      "certificate-pdf",
      () => routes.find((route) => route.function === "certificate-pdf")!.call(0),
    );
    await firstOf("students", () => call("students", manager));
    await firstOf("leaderboard", () => call("leaderboard", manager));
    await firstOf("second-sale", () => call("second-sale/figures", admin));
    await firstOf("staff", () => call("staff", admin));
    await firstOf("audit", () => call("audit", admin));
    await firstOf("webhooks", () => call("webhooks/endpoints", admin));
    await firstOf("status", () => call("status", null));

    const measured: Measured[] = [];
    const cpu = cpuTally();
    for (const route of routes) {
      console.log(`${route.name}: ${route.requests} requests`);
      const warmUp = Math.min(3, route.requests);
      for (let index = 0; index < warmUp; index++) await route.call(index);
      const walls: number[] = [];
      cpu.start(route.name, { function: stack.instancePids(route.function) });
      for (let index = 0; index < route.requests; index++) {
        const began = performance.now();
        await route.call(index);
        walls.push(performance.now() - began);
      }
      cpu.stop();
      walls.sort((a, b) => a - b);
      measured.push({
        route: route.name,
        function: route.function,
        requests: route.requests,
        cpuMsPerRequest: cpu.totals[route.name].function * 1000 / route.requests,
        wallP50Ms: walls[Math.floor(walls.length / 2)],
        wallMaxMs: walls.at(-1)!,
      });
    }
    const downloads = await downloadsAtOnce(
      certificates.slice(1).map(pathOf),
      (path, language) =>
        fetch(`${stack.url}/functions/v1/${path}/certificate.pdf`, {
          headers: { "accept-language": language },
        }),
      {
        serving: stack.instancePids("complete-lesson"),
        drawing: stack.instancePids("certificate-pdf"),
        cpu,
      },
      options.quick ? 200 : 1_000,
    );
    const functions = [...new Set(routes.map((route) => route.function))];
    const memory = Object.fromEntries(
      functions.map((name) => [name, peakMemoryMiB(stack.instancePids(name)[0])]),
    );
    // Every deployed function's bundle, those without a route here (payments) too.
    const bundles = Object.fromEntries(
      Object.keys(deployedFunctions()).map((name) => [name, stack.bundleBytes(name) / 1e6]),
    );
    const machineLabel = await machine(database.url);
    const lines = [
      `### limits — each route as deployed against Supabase's limits, ${size.toLocaleString("en")} students`,
      "",
      `Machine: ${machineLabel}. Each function's deploy bundle alone in its own Deno process, pool 3; ` +
      `${requests} requests a route one at a time after 3 of warm-up (heartbeats ×5, PDFs ÷4, exports 3). ` +
      `Limits: ${
        platformLimits.cpuMs / 1000
      } s of CPU a request, ${platformLimits.memoryMiB} MB of memory, ` +
      `${platformLimits.bundleMB} MB a bundle.`,
      "",
      "| route | function | CPU per request | wall p50 / max | function's peak RSS | bundle | first request |",
      "|---|---|---:|---:|---:|---:|---:|",
      ...measured.map((each) =>
        `| \`${each.route}\` | ${each.function} | ${each.cpuMsPerRequest.toFixed(2)} ms | ` +
        `${each.wallP50Ms.toFixed(1)} / ${each.wallMaxMs.toFixed(0)} ms | ` +
        `${memory[each.function]?.toFixed(0) ?? "n/a"} MiB | ${bundles[each.function].toFixed(2)} MB | ` +
        `${cold[each.function]?.toFixed(0) ?? "—"} ms |`
      ),
    ];
    const overBudget = Object.entries(bundles).filter(([, mb]) => mb > 2.5).map(([name, mb]) =>
      `${name} ${mb.toFixed(2)} MB`
    );
    lines.push(
      "",
      `- Bundles over the 2.5 MB goal: ${overBudget.length ? overBudget.join(", ") : "none"}.`,
      "",
      `**Certificates: ${downloads.downloads.toLocaleString("en")} PDF downloads at concurrency 8** over ` +
        `${downloads.files} files (${
          downloads.files / 2
        } certificates × ru, en; each drawn by certificate-pdf on ` +
        `its first download, then served from Storage):`,
      "",
      "| | complete-lesson (serves) | certificate-pdf (draws) |",
      "|---|---:|---:|",
      `| CPU | ${downloads.servingCpuMsPerDownload.toFixed(2)} ms a download | ` +
        `${downloads.drawingCpuMsPerDrawing.toFixed(1)} ms a drawing |`,
      `| resident memory after 0 / 25 / 50 / 75 / 100 % of the downloads | ` +
        `${downloads.servingRss.map((mib) => mib.toFixed(0)).join(" / ")} MiB | ` +
        `${downloads.drawingRss.map((mib) => mib.toFixed(0)).join(" / ")} MiB |`,
      `| peak resident memory (whole run) | ${downloads.servingPeak.toFixed(0)} MiB | ` +
        `${downloads.drawingPeak.toFixed(0)} MiB |`,
      `| wall p50 / p99 a download | ${downloads.p50.toFixed(1)} / ${downloads.p99.toFixed(1)} ms | |`,
    );
    return { markdown: lines.join("\n"), machine: machineLabel, rows: [] };
  } finally {
    await sql.end();
    await stack.stop();
    await database.stop();
  }
}

/**
 * `total` downloads at concurrency 8 of each path's PDF in ru and en, in turn (the first of each is drawn); the
 * serving and drawing functions' CPU over the run and their resident memory at each quarter.
 */
async function downloadsAtOnce(
  paths: string[],
  download: (path: string, language: string) => Promise<Response>,
  processes: { serving: number[]; drawing: number[]; cpu: ReturnType<typeof cpuTally> },
  total: number,
) {
  const files = paths.flatMap((path) => [[path, "ru"], [path, "en"]] as const);
  const rss = (pids: number[]) => pids.reduce((sum, pid) => sum + (residentMemoryMiB(pid) ?? 0), 0);
  const servingRss = [rss(processes.serving)];
  const drawingRss = [rss(processes.drawing)];
  const walls: number[] = [];
  let next = 0;
  processes.cpu.start("certificate downloads", { serving: processes.serving, drawing: processes.drawing });
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < total) {
      const index = next++;
      const [path, language] = files[index % files.length];
      const began = performance.now();
      const response = await download(path, language);
      const bytes = new Uint8Array(await response.arrayBuffer());
      walls.push(performance.now() - began);
      if (response.status !== 200 || new TextDecoder().decode(bytes.slice(0, 5)) !== "%PDF-") {
        throw new Error(`${path}/certificate.pdf: ${response.status}`);
      }
      if ((index + 1) % (total / 4) === 0) {
        servingRss.push(rss(processes.serving));
        drawingRss.push(rss(processes.drawing));
      }
    }
  }));
  processes.cpu.stop();
  const used = processes.cpu.totals["certificate downloads"];
  walls.sort((a, b) => a - b);
  const peak = (pids: number[]) => Math.max(...pids.map((pid) => peakMemoryMiB(pid) ?? 0));
  return {
    downloads: total,
    files: files.length,
    servingCpuMsPerDownload: used.serving * 1000 / total,
    drawingCpuMsPerDrawing: used.drawing * 1000 / Math.min(total, files.length),
    servingRss,
    drawingRss,
    servingPeak: peak(processes.serving),
    drawingPeak: peak(processes.drawing),
    p50: walls[Math.floor(walls.length / 2)],
    p99: walls[Math.floor(walls.length * 0.99)],
  };
}
