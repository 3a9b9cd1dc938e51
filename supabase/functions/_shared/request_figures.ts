/**
 * Request figures for the Status screen: per function, route and minute — requests, 4xx, 5xx and a latency
 * histogram — counted in this process's memory by the frame (app.ts) and written at most once a minute, the
 * minutes already finished in one statement (`private.record_request_minutes`). Nothing is written per
 * request. A process that ends loses at most its unfinished minutes: figures for watching, not for billing.
 * REQUEST_FIGURES=off turns the counting off (the benchmark compares both).
 */
import { config } from "./config.ts";
import { db } from "./db.ts";
import { describeError, log } from "./log.ts";

/** Upper bounds of the latency buckets, in ms; a 12th bucket holds the slower ones. */
export const latencyBucketsMs = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000] as const;

interface Tally {
  minute: number;
  functionName: string;
  route: string;
  requests: number;
  clientErrors: number;
  serverErrors: number;
  buckets: number[];
}

const minuteMs = 60_000;
const tallies = new Map<string, Tally>();
let lastWrite = Date.now();
let writing: Promise<void> | undefined;

/** Counts one answered request; now and then writes the finished minutes. */
export function countRequest(functionName: string, route: string, status: number, elapsedMs: number): void {
  if (!config().requestFigures) return;
  const now = Date.now();
  const minute = now - (now % minuteMs);
  const key = `${minute} ${functionName} ${route}`;
  let tally = tallies.get(key);
  if (!tally) {
    tally = {
      minute,
      functionName,
      route,
      requests: 0,
      clientErrors: 0,
      serverErrors: 0,
      buckets: new Array(latencyBucketsMs.length + 1).fill(0),
    };
    tallies.set(key, tally);
  }
  tally.requests++;
  if (status >= 500) tally.serverErrors++;
  else if (status >= 400) tally.clientErrors++;
  const bucket = latencyBucketsMs.findIndex((bound) => elapsedMs <= bound);
  tally.buckets[bucket === -1 ? latencyBucketsMs.length : bucket]++;
  if (!writing && now - lastWrite >= minuteMs) {
    lastWrite = now;
    writing = writeFinishedMinutes(minute).finally(() => writing = undefined);
    // Deployed, the runtime keeps the isolate for a promise handed to waitUntil after the answer has gone.
    (globalThis as { EdgeRuntime?: { waitUntil(p: Promise<unknown>): void } }).EdgeRuntime?.waitUntil(
      writing,
    );
  }
}

/** Writes every tally of a minute before `currentMinute`; a failed write puts them back for the next one. */
async function writeFinishedMinutes(currentMinute: number): Promise<void> {
  const finished = [...tallies.entries()].filter(([, tally]) => tally.minute < currentMinute);
  if (finished.length === 0) return;
  for (const [key] of finished) tallies.delete(key);
  const rows = finished.map(([, tally]) => ({
    minute: new Date(tally.minute).toISOString(),
    function: tally.functionName,
    route: tally.route,
    requests: tally.requests,
    client_errors: tally.clientErrors,
    server_errors: tally.serverErrors,
    buckets: tally.buckets,
  }));
  try {
    const sql = db();
    await sql`select private.record_request_minutes(${sql.json(rows)})`;
  } catch (error) {
    // The database may be down: keep them (added to whatever has come since) for the next write.
    for (const [key, tally] of finished) {
      const later = tallies.get(key);
      if (!later) tallies.set(key, tally);
      else {
        later.requests += tally.requests;
        later.clientErrors += tally.clientErrors;
        later.serverErrors += tally.serverErrors;
        tally.buckets.forEach((count, index) => later.buckets[index] += count);
      }
    }
    log("warn", "request_figures_not_written", { error: describeError(error) });
  }
}

/** For tests and the benchmark: writes every tally now, the current minute's too. */
export async function writeRequestFigures(): Promise<void> {
  await writing;
  await writeFinishedMinutes(Number.POSITIVE_INFINITY);
}

/** The latency below which `share` of the requests fall: a bucket's upper bound, or null past the last. */
export function percentileMs(buckets: number[], share: number): number | null {
  const total = buckets.reduce((sum, count) => sum + count, 0);
  if (total === 0) return null;
  let seen = 0;
  for (let index = 0; index < buckets.length; index++) {
    seen += buckets[index];
    if (seen >= share * total) return latencyBucketsMs[index] ?? null;
  }
  return null;
}
