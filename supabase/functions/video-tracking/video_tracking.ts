/**
 * Heartbeats from the video player (docs/architecture.md, video-tracking): the watched segments are clamped
 * to the video, merged into the stored multirange and credited within the plausibility bucket, all
 * in one UPDATE, so concurrent heartbeats never lose a segment. The clock is the database's `now()`.
 */
import { z } from "zod";
import {
  assertAccess,
  assertRole,
  type AuthUser,
  type Claims,
  loadCaller,
  type Role,
  sessionOf,
} from "../_shared/auth.ts";
import { db, type Row, type Sql } from "../_shared/db.ts";
import { config } from "../_shared/config.ts";
import { HttpError } from "../_shared/errors.ts";

/** Video seconds credited per wall-clock second at most: the player's fastest rate. */
export const maxPlaybackRate = 2;
/** Seconds credited beyond what the wall clock allows, for network jitter. */
export const toleranceSeconds = 5;
/** The bucket refills for at most this long: a pause does not bank credit for a later burst. */
export const maxIdleSeconds = 30;
/**
 * A lesson row keeps at most this many separate watched ranges: a heartbeat that would fragment it
 * further is not credited (`private.credit_watch`). An honest player leaves one range per seek.
 */
export const maxStoredRanges = 1000;
/** A student's heartbeats a second after a burst of `heartbeatBurst` (config.ts, HEARTBEATS_PER_SECOND). */
export function heartbeatsPerSecond(): number {
  return config().heartbeatsPerSecond;
}
export const heartbeatBurst = 10;

const second = z.number().finite().min(0).max(86_400);

/** `[start, end]` in seconds of the video, start before end. */
const Segment = z.tuple([second, second]).refine(([start, end]) => start < end, "start must be before end");

export const Heartbeat = z.strictObject({
  lesson_id: z.number().int().positive().max(2_147_483_647),
  // Empty is allowed: the player says "playback started" before it has watched anything.
  segments: z.array(Segment).max(200),
  position: second.optional(),
  // What a browser's media element allows (0.0625–16×); stored with two decimals.
  playback_rate: z.number().finite().min(0.0625).max(16).optional(),
}).meta({ id: "Heartbeat" });
export type Heartbeat = z.output<typeof Heartbeat>;

export const WatchStateQuery = z.strictObject({
  lesson_id: z.coerce.number().int().positive().max(2_147_483_647),
});

/** A student's watch state for one lesson: the answer to a heartbeat and to GET. */
export const WatchState = z.object({
  lesson_id: z.number().int(),
  watched_seconds: z.number().min(0).meta({ description: "Unique seconds watched, overlaps counted once." }),
  duration_seconds: z.number().int(),
  watch_percentage: z.number().min(0).max(100),
  min_watch_percentage: z.number().min(0).max(100),
  qualified: z.boolean().meta({
    description: "watch_percentage has reached min_watch_percentage at least once.",
  }),
  status: z.enum(["not_started", "in_progress", "completed"]),
  segments: z.array(z.tuple([z.number(), z.number()])).meta({
    description: "The watched ranges, merged and sorted, in seconds of the video.",
  }),
  rejected_seconds: z.number().min(0).meta({
    description: "Seconds this student posted that were not plausible and so not credited, in total.",
  }),
  heartbeat_count: z.number().int(),
  last_position_seconds: z.number().nullable(),
}).meta({ id: "WatchState" });
export type WatchState = z.output<typeof WatchState>;

/** What the heartbeat and GET statements return: tracking and lesson columns, and what the SQL derives. */
type StateRow =
  & Pick<
    Row<"video_tracking">,
    "watched_seconds" | "watch_percentage" | "rejected_seconds" | "heartbeat_count"
  >
  & Pick<Row<"video_tracking">, "last_position_seconds" | "status">
  & Pick<Row<"tripwire_lessons">, "min_watch_percentage">
  & {
    caller_role?: Row<"users">["role"] | null;
    caller_status?: Row<"tripwire_users">["status"] | null;
    lesson_found: boolean;
    unlocked: boolean | null;
    /** Heartbeats the row could take now (null: no tracking row yet). */
    tokens: number | null;
    /** null when no row was updated (refused, or no tracking row yet). */
    lesson_id: number | null;
    duration_seconds: number;
    qualified: boolean;
    /** The watched ranges as the multirange's text, `{[0,12.5),[20,30)}` (null when nothing was credited). */
    ranges: string | null;
  };

function toState(row: StateRow): WatchState {
  return {
    lesson_id: row.lesson_id!,
    watched_seconds: Number(row.watched_seconds),
    duration_seconds: row.duration_seconds,
    watch_percentage: Number(row.watch_percentage),
    min_watch_percentage: Number(row.min_watch_percentage),
    qualified: row.qualified,
    // video_tracking_status's CHECK allows exactly these.
    status: row.status as WatchState["status"],
    segments: parseRanges(row.ranges ?? "{}"),
    rejected_seconds: Number(row.rejected_seconds),
    heartbeat_count: Number(row.heartbeat_count),
    last_position_seconds: row.last_position_seconds === null ? null : Number(row.last_position_seconds),
  };
}

/** `{[0,12.5),[20,30)}` (a nummultirange's text) → `[[0, 12.5], [20, 30]]`. */
function parseRanges(text: string): [number, number][] {
  return [...text.matchAll(/[[(]([^,]+),([^\])]+)[\])]/g)].map((
    [, start, end],
  ) => [Number(start), Number(end)]);
}

/** `[[0, 1.5], [1, 3]]` → `{[0,1.5),[1,3)}`: a nummultirange literal (Postgres merges and sorts it). */
function multirangeOf(segments: [number, number][]): string {
  return `{${segments.map(([start, end]) => `[${start},${end})`).join(",")}}`;
}

/** A lesson the caller may not watch: 404 `lesson_not_found` or 409 `lesson_locked`. */
export function refuse(row: { lesson_found: boolean } | undefined, lessonId: number): never {
  if (!row?.lesson_found) throw new HttpError(404, "lesson_not_found", `There is no lesson ${lessonId}`);
  throw new HttpError(409, "lesson_locked", "This lesson's module is not unlocked yet", {
    lesson_id: lessonId,
  });
}

/** One heartbeat on its way to the database: whose, and what the player sent. */
export interface HeartbeatInput {
  userId: string;
  /** The token's session: a heartbeat counts only while it is open. */
  sessionId: string | null;
  heartbeat: Heartbeat;
}

/** Postgres' type ids of the heartbeat call's parameters (pg_type.oid). */
const typeOids = { text: 25, real: 700, numeric: 1700, int: 23 } as const;

/**
 * Records heartbeats in one call of `private.record_heartbeats` (supabase/migrations/…_a_cheaper_heartbeat.sql):
 * each input gets its own row's state back, in input order. The inputs must be of distinct (student, lesson) pairs (one UPDATE writes a row
 * once). A refused input (not a student, revoked, locked, over its rate, no tracking row yet) refuses only
 * itself: its row says why. The caller's role is read in the same statement. Asynchronous commit, the plausibility bucket and the rate bucket are
 * exactly those of a lone heartbeat.
 */
export async function recordHeartbeats(inputs: HeartbeatInput[], sql: Sql = db()): Promise<StateRow[]> {
  // JSON text, not JS arrays bound to arrays: postgres.js serializes an array parameter as an array literal
  // only once it has fetched the server's array types, and a query pipelined on a new connection before
  // that (an isolate's cold start) sent [0] as "0" — seen once in 10,000 in the bench.
  const batch = JSON.stringify(inputs.map(({ userId, sessionId, heartbeat }, i) => ({
    i,
    user_id: userId,
    session_id: sessionId,
    lesson_id: heartbeat.lesson_id,
    segments: multirangeOf(heartbeat.segments),
    position: heartbeat.position ?? null,
    playback_rate: heartbeat.playback_rate ?? null,
  })));
  // One call of the database's own statement (supabase/schemas/03_learning.sql): its plan is kept by the server
  // connection, so a transaction pooler (which keeps no prepared statement) does not plan it again each time.
  // Every parameter's type is given, so the driver sends it in one round trip, not two (_vendor/postgres).
  const { text, real, numeric, int } = typeOids;
  return await sql<(StateRow & { i: number })[]>`
    select * from private.record_heartbeats(
      ${sql.typed(batch, text)}::jsonb, ${sql.typed(heartbeatsPerSecond(), real)},
      ${sql.typed(heartbeatBurst, real)}, ${sql.typed(maxPlaybackRate, numeric)},
      ${sql.typed(maxIdleSeconds, numeric)}, ${sql.typed(toleranceSeconds, numeric)},
      ${sql.typed(maxStoredRanges, int)})`;
}

/**
 * Concurrent heartbeats of one function instance go to Postgres together. While fewer than
 * `HEARTBEAT_STATEMENTS` statements are running a heartbeat is sent at once (a lone one never waits for
 * company); otherwise it waits for the next free statement, which carries everything waiting, one heartbeat
 * per student and lesson: a student's next heartbeat goes in a later statement, never beside or before an
 * earlier one, so their order holds. A statement that fails for one input's sake is retried one by one.
 */
interface Waiting {
  input: HeartbeatInput;
  /** Student and lesson: one row, so one heartbeat per statement. */
  key: string;
  resolve(row: StateRow): void;
  reject(error: unknown): void;
}

class HeartbeatCoalescer {
  #waiting: Waiting[] = [];
  #busyKeys = new Set<string>();
  #running = 0;

  constructor(private readonly sql: Sql, private readonly statements: number) {}

  submit(input: HeartbeatInput): Promise<StateRow> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ input, key: `${input.userId}:${input.heartbeat.lesson_id}`, resolve, reject });
      this.#pump();
    });
  }

  #pump() {
    while (this.#running < this.statements && this.#waiting.length) {
      const batch: Waiting[] = [];
      const left: Waiting[] = [];
      const keys = new Set<string>();
      for (const entry of this.#waiting) {
        const free = !keys.has(entry.key) && !this.#busyKeys.has(entry.key) && batch.length < maxBatch;
        // An entry whose key waits behind an earlier one stays behind it.
        if (free) {
          batch.push(entry);
          keys.add(entry.key);
          this.#busyKeys.add(entry.key);
        } else {
          left.push(entry);
          keys.add(entry.key);
        }
      }
      this.#waiting = left;
      if (!batch.length) return; // everything waiting is behind a running statement
      this.#running++;
      this.#send(batch).finally(() => {
        this.#running--;
        for (const entry of batch) this.#busyKeys.delete(entry.key);
        this.#pump();
      });
    }
  }

  async #send(batch: Waiting[]) {
    try {
      const rows = await recordHeartbeats(batch.map((entry) => entry.input), this.sql);
      batch.forEach((entry, index) => entry.resolve(rows[index]));
    } catch (error) {
      if (batch.length === 1) return batch[0].reject(error);
      for (const entry of batch) {
        await recordHeartbeats([entry.input], this.sql).then(([row]) => entry.resolve(row), entry.reject);
      }
    }
  }
}

/** At most this many heartbeats in one statement. */
const maxBatch = 100;
const coalescers = new WeakMap<Sql, HeartbeatCoalescer>();

/**
 * Records one heartbeat for the signed-in student (the token's subject, while its session is open) and
 * returns the lesson's watch state, through the pool's coalescer (concurrent heartbeats share a statement).
 * Anyone but a student → 403, an ended session → 401, with nothing written.
 */
export async function recordHeartbeat(
  caller: Claims,
  heartbeat: Heartbeat,
  sql: Sql = db(),
): Promise<WatchState> {
  const userId = caller.sub;
  let coalescer = coalescers.get(sql);
  if (!coalescer) coalescers.set(sql, coalescer = new HeartbeatCoalescer(sql, config().heartbeatStatements));
  for (let attempt = 0; attempt < 2; attempt++) {
    const row = await coalescer.submit({ userId, sessionId: sessionOf(caller), heartbeat });
    if (row?.lesson_id) return toState(row);
    // No caller: loadCaller says why (no account, erased, the session ended).
    if (!row?.caller_role) await loadCaller(caller, sql);
    assertRole(row?.caller_role as Role | null | undefined, ["student"]);
    assertAccess(row?.caller_status);
    if (!row?.lesson_found || !row.unlocked) refuse(row, heartbeat.lesson_id);
    if (row.tokens !== null && row.tokens < 1) {
      throw new HttpError(
        429,
        "too_many_heartbeats",
        `At most ${heartbeatsPerSecond()} heartbeats a second`,
        {
          retry_after_seconds: Math.ceil((1 - row.tokens) / heartbeatsPerSecond()),
        },
      );
    }
    // Unlocked, but no tracking row yet (a module with several lessons): make it, then credit.
    await sql`
      insert into public.video_tracking (user_id, lesson_id) values (${userId}, ${heartbeat.lesson_id})
      on conflict (user_id, lesson_id) do nothing`;
  }
  throw new Error(`No video_tracking row for ${userId} / ${heartbeat.lesson_id} after creating it`);
}

/** The signed-in student's watch state for a lesson (GET). */
export async function getWatchState(user: AuthUser, lessonId: number, sql: Sql = db()): Promise<WatchState> {
  const [row] = await sql<StateRow[]>`
    select l.id is not null as lesson_found,
           exists (
             select 1 from public.tripwire_module_unlocks u where u.user_id = ${user.id} and u.module_id = l.module_id
           ) as unlocked,
           l.id as lesson_id,
           coalesce(vt.watched_seconds, 0) as watched_seconds, l.video_duration_seconds as duration_seconds,
           coalesce(vt.watch_percentage, 0) as watch_percentage, l.min_watch_percentage,
           vt.qualified_at is not null as qualified, coalesce(vt.status, 'not_started') as status,
           coalesce(vt.rejected_seconds, 0) as rejected_seconds, coalesce(vt.heartbeat_count, 0) as heartbeat_count,
           vt.last_position_seconds, vt.watched_ranges::text as ranges
    from public.tripwire_lessons l
    left join public.video_tracking vt on vt.lesson_id = l.id and vt.user_id = ${user.id}
    where l.id = ${lessonId}`;
  if (!row || !row.unlocked) refuse(row, lessonId);
  return toState(row);
}
