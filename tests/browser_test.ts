/// <reference lib="dom" />
/**
 * In a real Chromium, from a page on another origin, against the local stack as `npm start` runs it:
 * the watch tracker (web/src/watch_tracker.ts) with a real <video> playing a sample video, sign-in
 * through supabase-js, and CORS as a browser enforces it. The test course's lessons are 20 s long
 * (media/sample-20s.webm, signed by the local Storage), so each journey is real time and short.
 */
import assert from "node:assert/strict";
import { seededStaffPassword } from "../scripts/lib/local_auth/server.ts";
import { aida } from "./support/fixtures.ts";
import {
  type Browser,
  browserTest,
  launchChromium,
  openPage,
  type Page,
  type PageServer,
  type RunningStack,
  servePage,
  signIn,
  startLocalStack,
} from "./support/browser.ts";

const lessonSeconds = 20;
const apikey = "local-publishable-key";

interface Student {
  id: string;
  email: string;
  password: string;
}

interface Watching {
  ended: boolean;
  paused: boolean;
  currentTime: number;
  played: [number, number][];
  pending: number;
  // deno-lint-ignore no-explicit-any
  states: any[];
  retries: { status: number; retryInMs: number }[];
  refused: { status: number; error: { code: string } }[];
  /** The video's position when the first answer saying `qualified` arrived. */
  qualifiedAt?: number;
}

async function newStudent(stack: RunningStack, name: string): Promise<Student> {
  const token = await signIn(stack.url, aida.email, seededStaffPassword);
  const email = `${name.toLowerCase().replaceAll(" ", ".")}.${crypto.randomUUID().slice(0, 8)}@example.kz`;
  const response = await fetch(`${stack.url}/functions/v1/create-tripwire-user`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ email, full_name: name, payment_amount: 490, send_welcome_email: false }),
  });
  const body = await response.json();
  assert.equal(response.status, 201, JSON.stringify(body));
  return { id: body.id, email, password: body.password };
}

/** The student signs in on the page through supabase-js and starts watching lesson 67 with the tracker. */
async function startWatching(
  page: Page,
  stack: RunningStack,
  student: Student,
  options: { rate: number; intervalMs?: number },
): Promise<void> {
  await page.evaluate(async ({ api, student, rate, intervalMs, apikey }) => {
    // deno-lint-ignore no-explicit-any
    const { createClient, WatchTracker } = globalThis as any;
    const supabase = createClient(api, apikey);
    const { error } = await supabase.auth.signInWithPassword({
      email: student.email,
      password: student.password,
    });
    if (error) throw new Error(`sign-in: ${error.message}`);
    const video = document.getElementById("video") as HTMLVideoElement;
    // The lesson's video is private: a URL Storage signed, asked for with her session.
    const signed = await supabase.functions.invoke("video-tracking/video?lesson_id=67", { method: "GET" });
    if (signed.error) throw new Error(`video: ${signed.error.message}`);
    video.src = signed.data.url;
    video.defaultPlaybackRate = rate;
    video.playbackRate = rate;
    const tracker = new WatchTracker({
      media: video,
      lessonId: 67,
      endpoint: `${api}/functions/v1/video-tracking`,
      apikey,
      accessToken: async () => (await supabase.auth.getSession()).data.session.access_token,
      intervalMs,
    });
    const log = {
      states: [] as unknown[],
      retries: [] as unknown[],
      refused: [] as unknown[],
      qualifiedAt: undefined as number | undefined,
    };
    tracker.addEventListener("state", (event: CustomEvent) => {
      log.states.push(event.detail);
      if (event.detail.qualified) log.qualifiedAt ??= video.currentTime;
    });
    tracker.addEventListener("retry", (event: CustomEvent) => log.retries.push(event.detail));
    tracker.addEventListener("refused", (event: CustomEvent) => log.refused.push(event.detail));
    Object.assign(globalThis, { watching: { supabase, tracker, log, video } });
    tracker.start();
    await video.play();
  }, { api: stack.url, student, rate: options.rate, intervalMs: options.intervalMs ?? 5000, apikey });
}

function watching(page: Page): Promise<Watching> {
  return page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const { tracker, log, video } = (globalThis as any).watching;
    const played: [number, number][] = [];
    for (let i = 0; i < video.played.length; i++) played.push([video.played.start(i), video.played.end(i)]);
    return {
      ended: video.ended,
      paused: video.paused,
      currentTime: video.currentTime,
      played,
      pending: tracker.pendingSeconds,
      states: log.states,
      retries: log.retries,
      refused: log.refused,
      qualifiedAt: log.qualifiedAt,
    };
  });
}

/** Waits until the video has ended (or paused) and every played second has been acknowledged. */
async function untilSettled(page: Page, timeoutMs = 60_000): Promise<Watching> {
  await page.waitForFunction(
    () => {
      // deno-lint-ignore no-explicit-any
      const { tracker, video } = (globalThis as any).watching;
      return (video.ended || video.paused) && tracker.pendingSeconds === 0 && tracker.state;
    },
    undefined,
    { timeout: timeoutMs, polling: 250 },
  );
  return await watching(page);
}

/** The lesson's state as the server has it (GET video-tracking, the student's own token). */
// deno-lint-ignore no-explicit-any
async function serverState(stack: RunningStack, student: Student): Promise<any> {
  const token = await signIn(stack.url, student.email, student.password);
  const response = await fetch(`${stack.url}/functions/v1/video-tracking?lesson_id=67`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(response.status, 200);
  return await response.json();
}

function playedSeconds(ranges: [number, number][]): number {
  return ranges.reduce((sum, [start, end]) => sum + Math.min(end, lessonSeconds) - start, 0);
}

browserTest("in Chromium: the watch tracker, sign-in through supabase-js and CORS", async (t) => {
  const stack = await startLocalStack();
  let page: PageServer | undefined;
  let browser: Browser | undefined;
  try {
    // The test course: 20-second lessons playing the 20-second sample.
    await stack.database.sql`
      update public.tripwire_lessons
      set video_duration_seconds = ${lessonSeconds}, video_path = 'sample-20s.webm'`;
    page = await servePage();
    browser = await launchChromium();
    await runSteps(t, stack, page, browser);
  } finally {
    await browser?.close();
    await page?.stop();
    await stack.stop();
  }
});

async function runSteps(t: Deno.TestContext, stack: RunningStack, pageServer: PageServer, browser: Browser) {
  const fullWatch = async (rate: number) => {
    const student = await newStudent(stack, `Watcher ${rate}x`);
    const { page, errors } = await openPage(browser, pageServer.origin);
    await startWatching(page, stack, student, { rate });
    const seen = await untilSettled(page);
    assert.ok(seen.ended, "the video played to its end");
    const server = await serverState(stack, student);
    assert.ok(server.watched_seconds >= lessonSeconds - 0.3, JSON.stringify(server));
    assert.equal(server.rejected_seconds, 0, "an honest viewer is never refused a second");
    assert.equal(server.qualified, true);
    assert.ok(seen.states.every((state) => state.rejected_seconds === 0));
    assert.ok(seen.states.length >= 3, `several heartbeats: ${seen.states.length}`);
    assert.deepEqual(seen.retries, []);
    assert.deepEqual(errors, []);
    await page.context().close();
  };

  await t.step("watching at 1×: credited in full", () => fullWatch(1));
  await t.step("watching at 2×: credited in full", () => fullWatch(2));

  await t.step("seeking ahead credits nothing skipped; watching again counts once", async () => {
    const student = await newStudent(stack, "Seeking Student");
    const { page, errors } = await openPage(browser, pageServer.origin);
    await startWatching(page, stack, student, { rate: 2 });
    await page.waitForFunction("watching.video.currentTime >= 4");
    await page.evaluate("watching.video.currentTime = 14");
    const first = await untilSettled(page);
    const credited = first.states.at(-1);
    assert.ok(
      credited.segments.every(([start, end]: number[]) => end <= 5.5 || start >= 14),
      credited.segments,
    );
    assert.ok(Math.abs(credited.watched_seconds - playedSeconds(first.played)) < 0.05, JSON.stringify(first));
    assert.ok(credited.watched_seconds < 12, "the skipped seconds are not credited");
    // Back to the start, three seconds again.
    await page.evaluate(async () => {
      // deno-lint-ignore no-explicit-any
      const { video } = (globalThis as any).watching;
      video.currentTime = 0;
      await video.play();
      await new Promise<void>((resolve) => {
        const check = () => video.currentTime >= 3 ? resolve() : setTimeout(check, 50);
        check();
      });
      video.pause();
    });
    const again = await untilSettled(page);
    const server = await serverState(stack, student);
    assert.equal(server.watched_seconds, credited.watched_seconds, "re-watched seconds count once");
    assert.equal(server.rejected_seconds, 0);
    assert.ok(again.states.length > first.states.length);
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  await t.step("a 503 with Retry-After, then the network cut for 10 s: no watched second lost", async () => {
    const student = await newStudent(stack, "Offline Student");
    const { page } = await openPage(browser, pageServer.origin);
    await startWatching(page, stack, student, { rate: 1, intervalMs: 2000 });
    await page.waitForFunction("watching.video.currentTime >= 3");
    const tracking = "**/functions/v1/video-tracking";
    // First the server is unavailable for 3 s (503, Retry-After: 1), then the network is gone for 10 s.
    await page.context().route(tracking, (route) =>
      route.request().method() === "POST"
        ? route.fulfill({
          status: 503,
          headers: {
            "retry-after": "1",
            "access-control-allow-origin": "*",
            "access-control-expose-headers": "retry-after",
            "content-type": "application/json",
          },
          body: JSON.stringify({ error: { code: "service_unavailable", message: "Try again shortly" } }),
        })
        : route.continue());
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await page.context().unroute(tracking);
    await page.context().route(tracking, (route) => route.abort("internetdisconnected"));
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    await page.context().unroute(tracking);
    const seen = await untilSettled(page);
    assert.ok(seen.retries.some((retry) => retry.status === 0), "network failures were retried");
    assert.ok(
      seen.retries.some((retry) => retry.status === 503 && retry.retryInMs === 1000),
      "Retry-After honoured",
    );
    const server = await serverState(stack, student);
    assert.ok(server.watched_seconds >= lessonSeconds - 0.3, JSON.stringify(server));
    assert.equal(server.rejected_seconds, 0);
    await page.context().close();
  });

  await t.step("closing the page mid-lesson keeps what was played", async () => {
    const student = await newStudent(stack, "Leaving Student");
    const { page } = await openPage(browser, pageServer.origin);
    await startWatching(page, stack, student, { rate: 1, intervalMs: 5000 });
    await page.waitForFunction("watching.video.currentTime >= 8");
    const before = await watching(page);
    assert.ok(before.pending > 1, "seconds played since the last heartbeat");
    await page.close({ runBeforeUnload: true });
    let server;
    for (let attempt = 0; attempt < 20; attempt++) {
      server = await serverState(stack, student);
      if (server.watched_seconds >= playedSeconds(before.played) - 0.05) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.ok(
      server.watched_seconds >= playedSeconds(before.played) - 0.05,
      JSON.stringify({ server, before }),
    );
  });

  await t.step("the heartbeat that qualifies the lesson goes at once, not at the next interval", async () => {
    const student = await newStudent(stack, "Threshold Student");
    const { page } = await openPage(browser, pageServer.origin);
    // No regular heartbeat within the lesson: only the start, the threshold's beat and the end's.
    await startWatching(page, stack, student, { rate: 1, intervalMs: 60_000 });
    await page.waitForFunction("watching.log.qualifiedAt !== undefined", undefined, {
      timeout: 40_000,
      polling: 100,
    });
    const seen = await watching(page);
    // 80 % of the 20 s lesson is 16 s; the tracker looks every second, and the video ends at 20 s.
    assert.ok(seen.qualifiedAt! >= 16 && seen.qualifiedAt! < 19, `qualified at ${seen.qualifiedAt} s`);
    assert.ok(!seen.ended, "before the end's heartbeat");
    const settled = await untilSettled(page);
    assert.equal(settled.states.at(-1).rejected_seconds, 0);
    await page.context().close();
  });

  await t.step("sign-in through supabase-js from the page", async () => {
    const student = await newStudent(stack, "Signing Student");
    const { page, errors } = await openPage(browser, pageServer.origin);
    const result = await page.evaluate(async ({ api, student, apikey }) => {
      // deno-lint-ignore no-explicit-any
      const { createClient } = globalThis as any;
      const supabase = createClient(api, apikey);
      const wrong = await supabase.auth.signInWithPassword({
        email: student.email,
        password: "wrong-password",
      });
      const right = await supabase.auth.signInWithPassword({
        email: student.email,
        password: student.password,
      });
      const state = await supabase.functions.invoke("video-tracking?lesson_id=67", { method: "GET" });
      const refreshed = await supabase.auth.refreshSession();
      const afterRefresh = await supabase.functions.invoke("video-tracking", {
        body: { lesson_id: 67, segments: [] },
      });
      const user = await supabase.auth.getUser();
      const signOut = await supabase.auth.signOut();
      const session = await supabase.auth.getSession();
      return {
        wrong: { status: wrong.error?.status, code: wrong.error?.code, message: wrong.error?.message },
        signedIn: right.data.user?.id,
        firstRefresh: right.data.session?.refresh_token,
        state: state.data,
        refreshed: refreshed.data.session?.refresh_token,
        afterRefresh: afterRefresh.data,
        email: user.data.user?.email,
        signOutError: signOut.error,
        sessionAfter: session.data.session,
      };
    }, { api: stack.url, student, apikey });
    assert.deepEqual(result.wrong, {
      status: 400,
      code: "invalid_credentials",
      message: "Invalid login credentials",
    });
    assert.equal(result.signedIn, student.id);
    assert.equal(result.state.lesson_id, 67);
    assert.ok(result.refreshed && result.refreshed !== result.firstRefresh, "the refresh token rotated");
    assert.equal(result.afterRefresh.lesson_id, 67);
    assert.equal(result.email, student.email);
    assert.equal(result.signOutError, null);
    assert.equal(result.sessionAfter, null);
    assert.deepEqual(errors.filter((error) => !error.includes("400")), []);
    await page.context().close();
  });

  await t.step("CORS in the browser: preflights, ETag and 304 readable, x-request-id exposed", async () => {
    const { page } = await openPage(browser, pageServer.origin);
    const token = await signIn(stack.url, aida.email, seededStaffPassword);
    const result = await page.evaluate(async ({ api, token }) => {
      const url = `${api}/functions/v1/leaderboard?period=all`;
      const headers = { authorization: `Bearer ${token}` };
      const first = await fetch(url, { headers });
      const etag = first.headers.get("etag");
      const again = await fetch(url, { headers: { ...headers, "if-none-match": etag ?? "" } });
      let refused = "";
      await fetch(url, { headers: { ...headers, "x-not-allowed": "1" } }).catch((error) =>
        refused = error.name
      );
      const created = await fetch(`${api}/functions/v1/create-tripwire-user`, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json", "idempotency-key": crypto.randomUUID() },
        body: JSON.stringify({
          email: `cors.${crypto.randomUUID().slice(0, 8)}@example.kz`,
          full_name: "Cors Student",
          payment_amount: 490,
          send_welcome_email: false,
        }),
      });
      return {
        firstStatus: first.status,
        etag,
        requestId: first.headers.get("x-request-id"),
        againStatus: again.status,
        refused,
        createdStatus: created.status,
        createdRequestId: created.headers.get("x-request-id"),
      };
    }, { api: stack.url, token });
    assert.equal(result.firstStatus, 200);
    assert.match(result.etag ?? "", /^(W\/)?"/);
    assert.match(result.requestId ?? "", /^[0-9a-f-]{36}$/);
    assert.equal(result.againStatus, 304);
    assert.equal(
      result.refused,
      "TypeError",
      "a header the preflight does not allow is refused by the browser",
    );
    assert.equal(result.createdStatus, 201);
    assert.ok(result.createdRequestId);
    await page.context().close();
  });
}
