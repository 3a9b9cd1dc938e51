/// <reference lib="dom" />
/**
 * Plays a lesson from the private bucket: its <video> gets a URL Storage signed for a while (video-tracking's
 * GET /video), and a new one at 80 % of that while — or at once when the element fails on an expired one —
 * keeping the position, the rate and play/pause. When the functions refuse a new URL (a refund, a suspension),
 * the video stops and `refused` says why.
 */
import type { LessonVideo } from "../../supabase/functions/video-tracking/lesson_video.ts";
import { ApiError, call } from "./api.ts";

export interface SignedVideoOptions {
  video: HTMLVideoElement;
  lessonId: number;
  /** Runs before the source changes (the watch tracker sends what was played: a new source forgets it). */
  beforeRenewal?: () => Promise<void>;
  /** A new URL was refused: the video has stopped. */
  refused: (error: unknown) => void;
}

/** A new URL the same way the first one came. */
export function signVideo(lessonId: number): Promise<LessonVideo> {
  return call<LessonVideo>(`video-tracking/video?lesson_id=${lessonId}`);
}

/** The share of a URL's lifetime after which it is renewed. */
const renewAt = 0.8;
/** A failure this soon after a renewal is the video's own, not an expired URL's: no loop. */
const quietMs = 3_000;

/** Starts with `first` (already signed); returns a function that stops renewing. */
export function keepSigned(first: LessonVideo, options: SignedVideoOptions): () => void {
  const { video, lessonId } = options;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let renewedAt = performance.now();
  let renewing: Promise<void> | undefined;

  const schedule = (signed: LessonVideo) => {
    clearTimeout(timer);
    timer = setTimeout(() => void renew(), signed.expires_in_seconds * 1000 * renewAt);
  };

  const play = (signed: LessonVideo, resume?: { time: number; rate: number; playing: boolean }) => {
    video.src = signed.url;
    if (resume) {
      video.addEventListener("loadedmetadata", () => {
        video.currentTime = resume.time;
        video.playbackRate = resume.rate;
        if (resume.playing) void video.play().catch(() => {});
      }, { once: true });
    }
    schedule(signed);
  };

  const renew = () =>
    renewing ??= (async () => {
      try {
        const signed = await signVideo(lessonId);
        if (stopped) return;
        await options.beforeRenewal?.();
        const resume = {
          time: video.currentTime,
          rate: video.playbackRate,
          playing: !video.paused && !video.ended,
        };
        renewedAt = performance.now();
        play(signed, resume);
      } catch (error) {
        if (stopped) return;
        // The network or the functions hiccuped: the URL in hand may still work; try again shortly.
        if (
          error instanceof ApiError && (error.status === 0 || error.status >= 500 || error.status === 429)
        ) {
          clearTimeout(timer);
          timer = setTimeout(() => void renew(), 5_000);
          return;
        }
        stop();
        video.pause();
        video.removeAttribute("src");
        video.load();
        options.refused(error);
      } finally {
        renewing = undefined;
      }
    })();

  const onError = () => {
    if (!stopped && performance.now() - renewedAt > quietMs) void renew();
  };
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    video.removeEventListener("error", onError);
  };
  video.addEventListener("error", onError);
  play(first);
  return stop;
}
