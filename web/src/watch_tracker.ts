/// <reference lib="dom" />
/**
 * The client half of video-tracking: attach to any <video> or <audio> and it turns what the element
 * really played into heartbeats (protocol: docs/architecture.md, "The watch tracker").
 *
 *   const tracker = new WatchTracker({ media: video, lessonId: 67, endpoint, accessToken });
 *   tracker.addEventListener("state", (event) => show(event.detail.watch_percentage));
 *   tracker.start();
 *
 * - Ranges come from `media.played` (what the element played), never the playhead: seeking ahead
 *   credits nothing, re-watching sends nothing new.
 * - A heartbeat carries what the server has not yet credited; until it answers 200 nothing is taken
 *   as sent, so a lost request is simply sent again (the server's union makes that harmless).
 * - It never sends more new seconds than the server's plausibility rule allows at that moment (2× the
 *   wall-clock time since the rule's clock, plus 5 s), keeping its own upper bound of that clock, so an
 *   honest viewer at any rate up to 2× is never refused a second; the rest waits for the next beat.
 * - 5xx, 429, 401 and network failures back off (honouring `Retry-After`); other refusals (403
 *   access_revoked, 409 lesson_locked, 404) stop it and are reported as a `refused` event.
 * - A playing element reports every 10 s, and at once when what it played would take the lesson past its
 *   threshold (the student sees the next lesson unlock then, not up to 10 s later).
 * - On `pagehide` or a hidden tab it sends what is left with `fetch(…, { keepalive: true })`.
 *
 * Framework-free, no dependencies; `WatchState` is the contract's type (docs/openapi.json).
 */
import type { WatchState } from "../../supabase/functions/video-tracking/video_tracking.ts";

export type { WatchState };

/** `[start, end]` in seconds of the video. */
export type Range = [number, number];

export interface WatchTrackerOptions {
  media: HTMLMediaElement;
  lessonId: number;
  /** The video-tracking URL, e.g. `${supabaseUrl}/functions/v1/video-tracking`. */
  endpoint: string;
  /** The signed-in student's access token; asked before every heartbeat, so a refreshed one is used. */
  accessToken: () => string | Promise<string>;
  /** Sent as the `apikey` header, as supabase-js does (the project's publishable key). */
  apikey?: string;
  /** How often a playing element reports, in ms (default `heartbeatEveryMs`). */
  intervalMs?: number;
  fetch?: typeof fetch;
}

/** The error body every function answers with. */
export interface ApiError {
  code: string;
  message: string;
  details?: unknown;
}

export interface WatchTrackerEvents {
  /** The server's answer to a heartbeat: percentage, qualified, rejected seconds… */
  state: CustomEvent<WatchState>;
  /** A heartbeat failed and will be sent again after `retryInMs`. */
  retry: CustomEvent<{ status: number; retryInMs: number; error?: ApiError }>;
  /** The server refused the student (403, 404, 409…): the tracker has stopped. */
  refused: CustomEvent<{ status: number; error: ApiError }>;
}

/**
 * The server's rule (video-tracking): new seconds ≤ 2 × wall seconds since its clock + 5, the clock refilling
 * for at most 30 s, at most 200 segments a heartbeat. The same numbers as video_tracking.ts's (the web app does
 * not import the server's module); tests/watch_tracker_test.ts holds them equal.
 */
export const serverRules = {
  maxPlaybackRate: 2,
  toleranceSeconds: 5,
  maxIdleSeconds: 30,
  maxSegmentsPerHeartbeat: 200,
};
const { maxPlaybackRate, toleranceSeconds, maxIdleSeconds, maxSegmentsPerHeartbeat } = serverRules;
/** The server's clock may run this far ahead of its now() (tolerance / rate). */
const clockLeadSeconds = toleranceSeconds / maxPlaybackRate;
/** Kept below the tolerance, for the rounding of watched_seconds and timer jitter. */
const safetySeconds = 1;
const maxBackoffMs = 30_000;
/**
 * The cadence: one heartbeat per viewer every 10 s. Each is one Edge Function invocation and one statement, so
 * this halves both against 5 s (docs/benchmarks.md); what is credited, and when a lesson qualifies, is the same.
 */
export const heartbeatEveryMs = 10_000;
/** The timer's tick: how soon a beat that would qualify the lesson goes. */
const tickMs = 1_000;
const shortestRange = 0.001;

export class WatchTracker extends EventTarget {
  #options: Required<Omit<WatchTrackerOptions, "apikey">> & { apikey?: string };
  #state: WatchState | undefined;
  /** What the server holds as watched (its last answer), in seconds of the video. */
  #credited: Range[] = [];
  /** An upper bound of the server's plausibility clock, in performance.now() ms; unknown at first. */
  #clockBound: number | undefined;
  #inFlight: Promise<void> | undefined;
  #sendAgain = false;
  #notBefore = 0;
  #failures = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** performance.now() of the last heartbeat sent. */
  #lastBeatAt = 0;
  /** A beat for the threshold went since the last regular one: at most one between two. */
  #thresholdBeatSent = false;
  #stopped = false;
  #listeners: [EventTarget, string, () => void][] = [];
  /** Played before the element's source changed (`keepPlayed`). */
  #kept: Range[] = [];

  constructor(options: WatchTrackerOptions) {
    super();
    this.#options = { intervalMs: heartbeatEveryMs, fetch: globalThis.fetch.bind(globalThis), ...options };
  }

  /** The server's last answer. */
  get state(): WatchState | undefined {
    return this.#state;
  }

  /** Seconds played that the server has not credited yet. */
  get pendingSeconds(): number {
    return totalSeconds(this.#pending());
  }

  /** Starts listening to the element (and sends "playback started" if it is already playing). */
  start(): void {
    const media = this.#options.media;
    const on = (target: EventTarget, type: string, handler: () => void) => {
      target.addEventListener(type, handler);
      this.#listeners.push([target, type, handler]);
    };
    const beat = () => void this.flush();
    on(media, "playing", beat);
    for (const type of ["pause", "seeking", "ratechange", "ended"]) on(media, type, beat);
    on(globalThis, "pagehide", () => this.#sendOnExit());
    on(document, "visibilitychange", () => {
      if (document.visibilityState === "hidden") this.#sendOnExit();
    });
    this.#timer = setInterval(() => this.#tick(), Math.min(tickMs, this.#options.intervalMs));
    if (!media.paused) beat();
  }

  /** Sends what is left (if the server allows it now), then stops listening. */
  async stop(): Promise<void> {
    if (this.pendingSeconds > 0) await this.flush();
    this.#detach();
  }

  /**
   * Sends one heartbeat with what the server has not credited yet, within what it allows now; one at a
   * time, in order (a call while one is in flight sends again right after it).
   */
  flush(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#inFlight) {
      this.#sendAgain = true;
      return this.#inFlight;
    }
    this.#inFlight = (async () => {
      do {
        this.#sendAgain = false;
        if (performance.now() < this.#notBefore) break;
        await this.#send();
      } while (this.#sendAgain && !this.#stopped);
    })().finally(() => this.#inFlight = undefined);
    return this.#inFlight;
  }

  /** Every tick: a regular beat when one is due, or one at once if what was played would qualify the lesson. */
  #tick(): void {
    if (this.#options.media.paused && this.pendingSeconds === 0) return;
    if (performance.now() - this.#lastBeatAt >= this.#options.intervalMs) {
      this.#thresholdBeatSent = false;
      void this.flush();
    } else if (!this.#thresholdBeatSent && this.#wouldQualify()) {
      this.#thresholdBeatSent = true;
      void this.flush();
    }
  }

  /** Whether the seconds the server would credit now take the lesson to its `min_watch_percentage`. */
  #wouldQualify(): boolean {
    const state = this.#state;
    if (!state || state.qualified) return false;
    const creditable = Math.min(this.pendingSeconds, this.#allowance(performance.now()));
    return creditable > 0 &&
      (state.watched_seconds + creditable) * 100 >= state.min_watch_percentage * state.duration_seconds;
  }

  #detach(): void {
    clearInterval(this.#timer);
    for (const [target, type, handler] of this.#listeners) target.removeEventListener(type, handler);
    this.#listeners = [];
  }

  /**
   * Keeps what the element has played so far as played, though it is about to forget it: a new `src` (a
   * renewed signed URL) empties `played`. What the server has not credited yet is still sent.
   */
  keepPlayed(): void {
    this.#kept = mergeRanges([...this.#kept, ...fromTimeRanges(this.#options.media.played)]);
  }

  /** Played ranges the server has not credited, within the lesson. */
  #pending(): Range[] {
    const played = mergeRanges([...this.#kept, ...fromTimeRanges(this.#options.media.played)]);
    const duration = this.#state?.duration_seconds ?? Infinity;
    return subtractRanges(clipRanges(played, duration), this.#credited)
      .filter(([start, end]) => end - start >= shortestRange);
  }

  /** How many new seconds the server certainly credits if a heartbeat is sent now. */
  #allowance(now: number): number {
    if (this.#clockBound === undefined) return 0; // first beat: "playback started", then the clock is known
    const since = Math.min((now - this.#clockBound) / 1000, maxIdleSeconds);
    return Math.max(0, maxPlaybackRate * since + toleranceSeconds - safetySeconds);
  }

  #body(segments: Range[]): string {
    const media = this.#options.media;
    return JSON.stringify({
      lesson_id: this.#options.lessonId,
      segments,
      position: Number.isFinite(media.currentTime) ? Math.max(0, media.currentTime) : undefined,
      playback_rate: media.playbackRate >= 0.0625 && media.playbackRate <= 16
        ? media.playbackRate
        : undefined,
    });
  }

  async #headers(): Promise<Record<string, string>> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${await this.#options.accessToken()}`,
      "content-type": "application/json",
    };
    if (this.#options.apikey) headers.apikey = this.#options.apikey;
    return headers;
  }

  async #send(): Promise<void> {
    const sentAt = performance.now();
    this.#lastBeatAt = sentAt;
    const segments = takeSeconds(this.#pending(), this.#allowance(sentAt)).slice(0, maxSegmentsPerHeartbeat);
    let response: Response;
    try {
      response = await this.#options.fetch(this.#options.endpoint, {
        method: "POST",
        headers: await this.#headers(),
        body: this.#body(segments),
      });
    } catch {
      return this.#backOff(0);
    }
    const answeredAt = performance.now();
    const body = await response.json().catch(() => undefined);
    if (response.ok && body) {
      const state = body as WatchState;
      const credited = state.watched_seconds - (this.#state?.watched_seconds ?? state.watched_seconds);
      // The server's clock after this beat: max(clock, now − 30 s) + credited / 2, its now() ≤ answeredAt.
      const before = this.#clockBound ?? answeredAt + clockLeadSeconds * 1000;
      this.#clockBound = Math.max(before, answeredAt - maxIdleSeconds * 1000) +
        Math.max(0, credited + 0.01) / maxPlaybackRate * 1000;
      this.#credited = state.segments.map(([start, end]) => [start, end]);
      this.#state = state;
      this.#failures = 0;
      this.#notBefore = 0;
      this.dispatchEvent(new CustomEvent("state", { detail: state }));
      // Something played meanwhile and the rule allows it: no reason to wait for the timer.
      if (segments.length === 0 && this.pendingSeconds > 0 && this.#allowance(performance.now()) > 0) {
        this.#sendAgain = true;
      }
      return;
    }
    const error = (body as { error?: ApiError } | undefined)?.error;
    if (response.status >= 500 || response.status === 429 || response.status === 401 || !error) {
      return this.#backOff(response.status, error, response.headers.get("retry-after"));
    }
    this.#stopped = true;
    this.#detach();
    this.dispatchEvent(new CustomEvent("refused", { detail: { status: response.status, error } }));
  }

  #backOff(status: number, error?: ApiError, retryAfter?: string | null): void {
    this.#failures++;
    const exponential = Math.min(maxBackoffMs, 1000 * 2 ** (this.#failures - 1)) * (0.75 + Math.random() / 2);
    const given = Number(retryAfter);
    const retryInMs = retryAfter && Number.isFinite(given) ? Math.min(given * 1000, 5 * 60_000) : exponential;
    this.#notBefore = performance.now() + retryInMs;
    setTimeout(() => void this.flush(), retryInMs);
    this.dispatchEvent(new CustomEvent("retry", { detail: { status, retryInMs, error } }));
  }

  /** The page is going away: everything left, in a request that outlives the page. */
  #sendOnExit(): void {
    const segments = this.#pending().slice(0, maxSegmentsPerHeartbeat);
    if (this.#stopped || segments.length === 0) return;
    void (async () => {
      await this.#options.fetch(this.#options.endpoint, {
        method: "POST",
        headers: await this.#headers(),
        body: this.#body(segments),
        keepalive: true,
      }).catch(() => {});
    })();
  }
}

/** A TimeRanges as sorted, merged ranges. */
export function fromTimeRanges(ranges: TimeRanges): Range[] {
  const list: Range[] = [];
  for (let i = 0; i < ranges.length; i++) list.push([ranges.start(i), ranges.end(i)]);
  return mergeRanges(list);
}

/** Sorted, with overlapping and touching ranges merged. */
export function mergeRanges(ranges: Range[]): Range[] {
  const sorted = ranges.filter(([start, end]) => end > start).sort((a, b) => a[0] - b[0]);
  const merged: Range[] = [];
  for (const [start, end] of sorted) {
    const last = merged.at(-1);
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

/** `from` without what `remove` covers. */
export function subtractRanges(from: Range[], remove: Range[]): Range[] {
  const cuts = mergeRanges(remove.map(([start, end]) => [start, end]));
  const result: Range[] = [];
  for (const [start, end] of mergeRanges(from.map(([s, e]) => [s, e]))) {
    let cursor = start;
    for (const [cutStart, cutEnd] of cuts) {
      if (cutEnd <= cursor || cutStart >= end) continue;
      if (cutStart > cursor) result.push([cursor, cutStart]);
      cursor = Math.max(cursor, cutEnd);
      if (cursor >= end) break;
    }
    if (cursor < end) result.push([cursor, end]);
  }
  return result;
}

/** The ranges cut to [0, max]. */
export function clipRanges(ranges: Range[], max: number): Range[] {
  return ranges.map(([start, end]): Range => [Math.max(0, start), Math.min(end, max)])
    .filter(([start, end]) => end > start);
}

/** The first `seconds` seconds of the ranges, in order. */
export function takeSeconds(ranges: Range[], seconds: number): Range[] {
  const taken: Range[] = [];
  let left = seconds;
  for (const [start, end] of ranges) {
    if (left <= 0) break;
    const part = Math.min(end - start, left);
    taken.push([start, start + part]);
    left -= part;
  }
  return taken.filter(([start, end]) => end - start >= shortestRange);
}

export function totalSeconds(ranges: Range[]): number {
  return ranges.reduce((sum, [start, end]) => sum + end - start, 0);
}
