/**
 * The watch tracker's range arithmetic (web/src/watch_tracker.ts), which decides what a heartbeat
 * carries. The tracker itself is proven in Chromium (tests/browser_test.ts).
 */
import assert from "node:assert/strict";
import {
  clipRanges,
  mergeRanges,
  serverRules,
  subtractRanges,
  takeSeconds,
  totalSeconds,
} from "../web/src/watch_tracker.ts";
import {
  Heartbeat,
  maxIdleSeconds,
  maxPlaybackRate,
  toleranceSeconds,
} from "../supabase/functions/video-tracking/video_tracking.ts";

Deno.test("the tracker plans with the server's own rule: rate, tolerance, idle refill, segments a heartbeat", () => {
  const { maxSegmentsPerHeartbeat, ...clock } = serverRules;
  assert.deepEqual(clock, { maxPlaybackRate, toleranceSeconds, maxIdleSeconds });
  const heartbeat = (segments: number) => ({
    lesson_id: 1,
    segments: Array.from({ length: segments }, (_, i) => [i, i + 0.5]),
  });
  assert.equal(Heartbeat.safeParse(heartbeat(maxSegmentsPerHeartbeat)).success, true);
  assert.equal(Heartbeat.safeParse(heartbeat(maxSegmentsPerHeartbeat + 1)).success, false);
});

Deno.test("played ranges merge when they overlap or touch, in order", () => {
  assert.deepEqual(mergeRanges([[10, 12], [0, 4], [3, 5], [5, 6], [8, 8]]), [[0, 6], [10, 12]]);
});

Deno.test("what the server has credited is taken out of what was played", () => {
  assert.deepEqual(subtractRanges([[0, 20]], [[0, 4.5], [10, 12]]), [[4.5, 10], [12, 20]]);
  assert.deepEqual(subtractRanges([[0, 4], [14, 20]], [[0, 20]]), []);
  assert.deepEqual(subtractRanges([[2, 3]], []), [[2, 3]]);
  assert.deepEqual(subtractRanges([[0, 10]], [[2, 3], [1, 4]]), [[0, 1], [4, 10]]);
});

Deno.test("ranges are cut to the lesson, and a heartbeat takes only the seconds allowed, earliest first", () => {
  assert.deepEqual(clipRanges([[-1, 2], [18, 25], [30, 31]], 20), [[0, 2], [18, 20]]);
  assert.deepEqual(takeSeconds([[0, 4], [10, 20]], 7), [[0, 4], [10, 13]]);
  assert.deepEqual(takeSeconds([[0, 4]], 0), []);
  assert.equal(totalSeconds([[0, 4], [10, 13]]), 7);
});
