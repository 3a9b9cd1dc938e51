/**
 * `npm run smoke -- <project URL>`: after a deploy, proves the flow on the real project and leaves nothing.
 *
 * 1. every function config.toml deploys answers its OpenAPI document;
 * 2. the smoke admin signs in (SMOKE_ADMIN_EMAIL, SMOKE_ADMIN_PASSWORD: an admin kept for this; with
 *    SUPABASE_PUBLISHABLE_KEY, or the legacy SUPABASE_ANON_KEY, as the gateway wants it deployed);
 * 3. the status report: where pg_cron runs, every every-minute job started in the last two minutes; no secret
 *    missing (Vault's two, the e-mail provider), the database reachable and on the build's migration;
 * 4. a student marked as a smoke test is created, signs in, watches a few seconds of the first lesson (each
 *    heartbeat credited), and reads the dashboard; the admin reads the leaderboard;
 * 5. the student is erased — a smoke test is removed entirely, so the books and figures are as they were
 *    (tests/smoke_test.ts compares them before and after on the local stack).
 *
 * Exits 1 when any step fails, saying which. For `npm start`: `SMOKE_ADMIN_EMAIL=saule.admin@tripwire.local
 * SMOKE_ADMIN_PASSWORD=tripwire-local npm run smoke -- http://127.0.0.1:54321`.
 */
import { deployedFunctions } from "./lib/deployed.ts";

export interface SmokeStep {
  name: string;
  ok: boolean;
  said: string;
}

export interface SmokeOptions {
  adminEmail: string;
  adminPassword: string;
  /** The project's publishable (anon) key, sent as `apikey`. */
  apiKey?: string;
  /** Seconds between heartbeats (the student really watches this long, three times). */
  heartbeatSeconds?: number;
}

/** One line per function: its name, the status and the document's title, or what went wrong. */
export async function functionsAnswer(projectUrl: string): Promise<SmokeStep[]> {
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

class StepFailed extends Error {}

/** The flow, step by step; stops at the first failure, but always erases the student it made. */
export async function smokeFlow(projectUrl: string, options: SmokeOptions): Promise<SmokeStep[]> {
  const base = projectUrl.replace(/\/+$/, "");
  const steps: SmokeStep[] = [];
  const headers = (token?: string): Record<string, string> => ({
    ...(options.apiKey ? { apikey: options.apiKey } : {}),
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    "content-type": "application/json",
  });
  const request = async (method: string, path: string, token?: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { ...headers(token), "idempotency-key": crypto.randomUUID() },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    let json: Record<string, unknown> | undefined;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, json, text };
  };
  const step = async (name: string, work: () => Promise<string>) => {
    try {
      steps.push({ name, ok: true, said: await work() });
    } catch (error) {
      steps.push({ name, ok: false, said: error instanceof Error ? error.message : String(error) });
      throw new StepFailed(name);
    }
  };
  const expect = (answer: { status: number; text: string }, status: number, what: string) => {
    if (answer.status !== status) throw new Error(`${what}: ${answer.status} ${answer.text.slice(0, 300)}`);
  };
  const signIn = async (email: string, password: string) => {
    const answer = await request("POST", "/auth/v1/token?grant_type=password", undefined, {
      email,
      password,
    });
    expect(answer, 200, `signing in as ${email}`);
    return String(answer.json?.access_token);
  };

  let admin = "";
  let studentId: string | undefined;
  try {
    await step("the smoke admin signs in", async () => {
      admin = await signIn(options.adminEmail, options.adminPassword);
      return options.adminEmail;
    });
    await step("the status: jobs ran, no secret missing, the build's migration", async () => {
      const answer = await request("GET", "/functions/v1/status/report", admin);
      expect(answer, 200, "GET /status/report");
      const report = answer.json as {
        status: string;
        scheduler: string | null;
        jobs: { name: string; schedule: string | null; last_started_at: string | null; state: string }[];
        problems: { code: string; message: string }[];
      };
      const blocking = report.problems.filter((problem) =>
        /^(database_unreachable|migration_mismatch|vault_secret_missing|email_not_configured|job_)/
          .test(problem.code)
      );
      if (blocking.length > 0) throw new Error(blocking.map((problem) => problem.message).join(" "));
      const stale = report.jobs.filter((job) =>
        job.schedule === "* * * * *" &&
        (!job.last_started_at || Date.now() - Date.parse(job.last_started_at) > 2 * 60_000)
      );
      if (stale.length > 0) {
        throw new Error(`not run in the last two minutes: ${stale.map((job) => job.name).join(", ")}`);
      }
      const notes = report.problems.map((problem) => problem.code);
      return `${report.status}; scheduler ${report.scheduler}${
        notes.length ? `; noted: ${notes.join(", ")}` : ""
      }`;
    });
    let password = "";
    let email = "";
    await step("a smoke-test student is created", async () => {
      email = `smoke.${Date.now().toString(36)}.${crypto.randomUUID().slice(0, 6)}@smoke-test.invalid`;
      const answer = await request("POST", "/functions/v1/create-tripwire-user", admin, {
        email,
        full_name: "Smoke Test",
        smoke_test: true,
      });
      expect(answer, 201, "POST /create-tripwire-user");
      studentId = String(answer.json?.id);
      password = String(answer.json?.password);
      return studentId;
    });
    let student = "";
    let lessonId = 0;
    await step("the student signs in and opens the course", async () => {
      student = await signIn(email, password);
      const answer = await request("GET", "/functions/v1/student-dashboard", student);
      expect(answer, 200, "GET /student-dashboard");
      const modules = answer.json?.modules as { state: string; lessons: { id: number }[] }[];
      lessonId = modules.find((module) => module.state === "unlocked")?.lessons[0]?.id ?? 0;
      if (!lessonId) throw new Error("no unlocked lesson");
      return `lesson ${lessonId}`;
    });
    await step("the student watches a few seconds, every heartbeat credited", async () => {
      const seconds = options.heartbeatSeconds ?? 2;
      const start = await request("POST", "/functions/v1/video-tracking", student, {
        lesson_id: lessonId,
        segments: [],
        position: 0,
      });
      expect(start, 200, "POST /video-tracking (start)");
      let watched = 0;
      for (let beat = 0; beat < 3; beat++) {
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
        const answer = await request("POST", "/functions/v1/video-tracking", student, {
          lesson_id: lessonId,
          segments: [[beat * seconds, (beat + 1) * seconds]],
          position: (beat + 1) * seconds,
        });
        expect(answer, 200, "POST /video-tracking");
        watched = Number(answer.json?.watched_seconds);
      }
      if (!(watched > 0)) throw new Error(`nothing credited (watched_seconds ${watched})`);
      return `${watched} s credited`;
    });
    await step("the dashboard and the leaderboard answer", async () => {
      const dashboard = await request("GET", "/functions/v1/student-dashboard", student);
      expect(dashboard, 200, "GET /student-dashboard");
      const board = await request("GET", "/functions/v1/leaderboard?period=day", admin);
      expect(board, 200, "GET /leaderboard");
      return "200, 200";
    });
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error;
  } finally {
    if (studentId) {
      await step("the smoke-test student is erased, nothing of them left", async () => {
        const answer = await request("POST", `/functions/v1/students/${studentId}/erase`, admin, {
          reason: "npm run smoke",
        });
        expect(answer, 200, "POST /students/{id}/erase");
        const gone = await request("GET", `/functions/v1/students/${studentId}`, admin);
        expect(gone, 404, "the erased smoke test is still listed");
        return "removed";
      }).catch(() => {});
    }
  }
  return steps;
}

if (import.meta.main) {
  const url = Deno.args[0];
  const adminEmail = Deno.env.get("SMOKE_ADMIN_EMAIL");
  const adminPassword = Deno.env.get("SMOKE_ADMIN_PASSWORD");
  if (!url || !adminEmail || !adminPassword) {
    console.error(
      "usage: SMOKE_ADMIN_EMAIL=<an admin> SMOKE_ADMIN_PASSWORD=<theirs> [SUPABASE_PUBLISHABLE_KEY=<key>] " +
        "npm run smoke -- https://<project-ref>.supabase.co",
    );
    Deno.exit(2);
  }
  const answers = await functionsAnswer(url);
  for (const answer of answers) {
    console.log(`${answer.ok ? "ok  " : "FAIL"} ${answer.name.padEnd(22)} ${answer.said}`);
  }
  const flow = answers.every((answer) => answer.ok)
    ? await smokeFlow(url, {
      adminEmail,
      adminPassword,
      apiKey: Deno.env.get("SUPABASE_PUBLISHABLE_KEY") ?? Deno.env.get("SUPABASE_ANON_KEY"),
    })
    : [];
  for (const step of flow) console.log(`${step.ok ? "ok  " : "FAIL"} ${step.name}: ${step.said}`);
  const passed = answers.every((answer) => answer.ok) && flow.length > 0 && flow.every((step) => step.ok);
  Deno.exit(passed ? 0 : 1);
}
