/** Watching that counts: the measured union, skipping, fragmenting, cheating, and who may read and record. */
import assert from "node:assert/strict";
import postgres from "postgres";

import { ageLastActivity, enrol, heartbeat, letTimePass, trackingRow, watch } from "./support/learning.ts";
import { aida } from "./support/fixtures.ts";
import { appDatabase, callFunction, story, tokenFor } from "./support/server.ts";
import { expectJson } from "./support/responses.ts";

const sql = appDatabase.sql;

story("Bolat watches lesson 67 with a real player: every second counts once, 80 % qualifies", async () => {
  const bolat = await enrol("Bolat Watcher");
  const start = await expectJson(await heartbeat(bolat, { lesson_id: 67, segments: [], position: 0 }));
  assert.deepEqual(start, {
    lesson_id: 67,
    watched_seconds: 0,
    duration_seconds: 600,
    watch_percentage: 0,
    min_watch_percentage: 80,
    qualified: false,
    status: "not_started",
    segments: [],
    rejected_seconds: 0,
    heartbeat_count: 1,
    last_position_seconds: 0,
  });

  let state = await watch(sql, bolat, 67, 0, 470, 10);
  assert.equal(state.watched_seconds, 470);
  assert.equal(state.watch_percentage, 78.33);
  assert.equal(state.status, "in_progress");
  assert.equal(state.qualified, false);
  assert.equal(state.rejected_seconds, 0);
  assert.deepEqual(state.segments, [[0, 470]]);

  state = await watch(sql, bolat, 67, 470, 480, 5);
  assert.equal(state.watch_percentage, 80);
  assert.equal(state.qualified, true);

  const row = await trackingRow(sql, bolat.id, 67);
  assert.equal(row.ranges, "{[0,480)}");
  assert.equal(row.watched_seconds, "480.00");
  assert.equal(row.status, "in_progress");
  assert.ok(row.qualified_at);
  assert.equal(row.heartbeat_count, 1 + 47 + 2);

  const fetched = await expectJson(
    await callFunction("video-tracking?lesson_id=67", {
      headers: { authorization: `Bearer ${bolat.token}` },
    }),
  );
  assert.equal(fetched.watched_seconds, 480);
  assert.equal(fetched.qualified, true);
});

story("watching is progress: the first credited second starts the lesson, and managers see it", async (t) => {
  const bolat = await enrol("Bolat Starter");
  const progressRow = async () => {
    const [row] = await sql`
      select sp.status, sp.started_at, sp.watch_percentage::float8 as percentage, a.last_activity_at,
             s.total_watch_seconds::float8 as statistics_seconds
      from public.student_progress sp
      join private.student_activity a on a.user_id = sp.user_id
      join public.user_statistics s on s.user_id = sp.user_id
      where sp.user_id = ${bolat.id} and sp.lesson_id = 67`;
    return row;
  };
  /** A minute passes for the sale's last activity: the next heartbeat writes what managers read. */
  const aMinutePasses = () => ageLastActivity(sql, bolat.id, "61 seconds");

  await t.step("the player's start heartbeat credits nothing: not started, no activity", async () => {
    await expectJson(await heartbeat(bolat, { lesson_id: 67, segments: [], position: 0 }));
    const row = await progressRow();
    assert.equal(row.status, "not_started");
    assert.equal(row.started_at, null);
    assert.equal(row.last_activity_at, null, "activity is watching something new, or a completion");
  });

  await t.step(
    "the first credited heartbeat: in_progress with started_at, in the same statement",
    async () => {
      await letTimePass(sql, bolat, 67, 10);
      await expectJson(await heartbeat(bolat, { lesson_id: 67, segments: [[0, 10]], position: 10 }));
      const row = await progressRow();
      assert.equal(row.status, "in_progress");
      assert.ok(row.started_at);
      assert.equal(row.percentage, 1.67);
      assert.ok(row.last_activity_at, "the sale's last activity follows the credited heartbeat");
    },
  );

  await t.step("within the minute nothing else is written; after it, the figures catch up", async () => {
    const before = await progressRow();
    await watch(sql, bolat, 67, 10, 60, 10);
    const within = await progressRow();
    assert.deepEqual(within, before, "steady state writes nothing but the tracking row");
    await aMinutePasses();
    await letTimePass(sql, bolat, 67, 10);
    await expectJson(await heartbeat(bolat, { lesson_id: 67, segments: [[0, 60]], position: 60 }));
    const rewatched = await progressRow();
    assert.equal(rewatched.statistics_seconds, before.statistics_seconds, "re-watching is no new activity");
    await aMinutePasses();
    await watch(sql, bolat, 67, 60, 70, 10);
    const after = await progressRow();
    assert.equal(after.percentage, 11.67);
    assert.equal(after.statistics_seconds, 70);
    assert.ok(after.last_activity_at > rewatched.last_activity_at);
    assert.equal(after.started_at.getTime(), before.started_at.getTime(), "started once");
  });

  await t.step("a row another transaction holds is skipped, never waited for", async () => {
    await aMinutePasses();
    const [{ last_activity_at: stale }] =
      await sql`select last_activity_at from private.student_activity where user_id = ${bolat.id}`;
    // A completion holds the student's activity row while the heartbeat arrives on another connection.
    const holder = postgres(appDatabase.url, { max: 1, onnotice: () => {} });
    try {
      await holder.begin(async (tx) => {
        await tx`select 1 from private.student_activity where user_id = ${bolat.id} for update`;
        await letTimePass(sql, bolat, 67, 10);
        const state = await expectJson(
          await heartbeat(bolat, { lesson_id: 67, segments: [[70, 80]], position: 80 }),
        );
        assert.equal(state.watched_seconds, 80, "answered while the activity row was held");
      });
    } finally {
      await holder.end();
    }
    const [held] =
      await sql`select last_activity_at from private.student_activity where user_id = ${bolat.id}`;
    assert.deepEqual(held.last_activity_at, stale, "the held row was skipped");
    await letTimePass(sql, bolat, 67, 10);
    await expectJson(await heartbeat(bolat, { lesson_id: 67, segments: [[80, 90]], position: 90 }));
    const after = await progressRow();
    assert.ok(after.last_activity_at > stale, "the next heartbeat wrote it");
    assert.equal(after.statistics_seconds, 90);
  });
});

story("overlapping and out-of-order segments: the percentage is the measured union", async () => {
  const dana = await enrol("Dana Overlap");
  await letTimePass(sql, dana, 67, 60);
  const state = await expectJson(
    await heartbeat(dana, { lesson_id: 67, segments: [[30, 40], [0, 10], [5, 15], [38.5, 45.25], [14, 20]] }),
  );
  // Union: [0,20) ∪ [30,45.25) = 35.25 s of 600.
  assert.deepEqual(state.segments, [[0, 20], [30, 45.25]]);
  assert.equal(state.watched_seconds, 35.25);
  assert.equal(state.watch_percentage, 5.88);
  const [measured] = await sql`
    select sum(upper(r) - lower(r)) as seconds
    from public.video_tracking, unnest(watched_ranges) r where user_id = ${dana.id} and lesson_id = 67`;
  assert.equal(Number(measured.seconds), state.watched_seconds);
});

story("skipping: the first 10 s and the last 20 % are not 80 %; re-watching counts once", async () => {
  const erlan = await enrol("Erlan Skipper");
  await watch(sql, erlan, 67, 0, 10, 10);
  let state = await watch(sql, erlan, 67, 540, 600, 10);
  assert.equal(state.watched_seconds, 70);
  assert.equal(state.qualified, false);
  // Seeks back and watches the same minute again.
  state = await watch(sql, erlan, 67, 540, 600, 10);
  assert.equal(state.watched_seconds, 70);
  assert.equal(state.watch_percentage, 11.67);
});

story("fragmenting: slivers stop being credited once the row holds 1,000 ranges", async () => {
  const splinter = await enrol("Sam Splinter");
  // 200 slivers of 0.01 s per heartbeat, 0.1 s apart: 2 s of credit each, well inside the allowance.
  const slivers = (from: number) =>
    Array.from(
      { length: 200 },
      (_, index) => [from * 100 + index * 10, from * 100 + index * 10 + 1].map((n) => n / 100),
    );
  for (let round = 0; round < 5; round++) {
    await letTimePass(sql, splinter, 67, 5);
    const state = await expectJson(
      await heartbeat(splinter, { lesson_id: 67, segments: slivers(round * 20) }),
    );
    assert.equal(state.segments.length, (round + 1) * 200);
    assert.equal(state.rejected_seconds, 0);
  }
  const full = await trackingRow(sql, splinter.id, 67);
  assert.equal(full.watched_seconds, "10.00");

  await letTimePass(sql, splinter, 67, 5);
  let state = await expectJson(await heartbeat(splinter, { lesson_id: 67, segments: slivers(100) }));
  assert.equal(state.segments.length, 1000, "the 1,001st range is refused");
  assert.equal(state.watched_seconds, 10);
  assert.equal(state.rejected_seconds, 2);
  const refused = await trackingRow(sql, splinter.id, 67);
  assert.equal(refused.ranges, full.ranges);

  // Watching on from a stored range, or across a gap, never adds a range: still credited.
  await letTimePass(sql, splinter, 67, 5);
  state = await expectJson(
    await heartbeat(splinter, { lesson_id: 67, segments: [[0, 0.05], [0.105, 0.205]] }),
  );
  assert.equal(state.segments.length, 999);
  assert.deepEqual(state.segments.slice(0, 2), [[0, 0.05], [0.1, 0.21]]);
  assert.equal(state.watched_seconds, 10.13);
  assert.equal(state.rejected_seconds, 2);
});

story("cheating: one big segment, a burst, absurd numbers, a locked lesson — no qualification", async (t) => {
  const cheater = await enrol("Chet Cheater");
  await t.step("[[0, duration]] at once credits the tolerance only", async () => {
    const state = await expectJson(await heartbeat(cheater, { lesson_id: 67, segments: [[0, 600]] }));
    assert.equal(state.watched_seconds, 5);
    assert.equal(state.rejected_seconds, 595);
    assert.equal(state.qualified, false);
  });
  await t.step("a burst of 50 heartbeats with no time between them gains almost nothing", async () => {
    for (let index = 0; index < 50; index++) {
      await heartbeat(cheater, { lesson_id: 67, segments: [[10 + index * 10, 20 + index * 10]] }).then((r) =>
        r.body?.cancel()
      );
    }
    const row = await trackingRow(sql, cheater.id, 67);
    assert.ok(Number(row.watched_seconds) < 15, `credited ${row.watched_seconds} s in a burst`);
    assert.ok(Number(row.rejected_seconds) > 450);
    assert.equal(row.qualified_at, null);
  });
  await t.step("segments past the end are clamped to the video", async () => {
    await letTimePass(sql, cheater, 67, 30);
    const state = await expectJson(await heartbeat(cheater, { lesson_id: 67, segments: [[595, 86_400]] }));
    assert.equal(state.segments.at(-1)[1], 600);
  });
  const invalid: [string, unknown][] = [
    ["negative start", { lesson_id: 67, segments: [[-5, 10]] }],
    ["NaN as a string", { lesson_id: 67, segments: [["NaN", 10]] }],
    ["huge number", { lesson_id: 67, segments: [[0, 1e308]] }],
    ["start after end", { lesson_id: 67, segments: [[20, 10]] }],
    ["empty segment", { lesson_id: 67, segments: [[10, 10]] }],
    ["three numbers", { lesson_id: 67, segments: [[1, 2, 3]] }],
    ["201 segments", { lesson_id: 67, segments: Array.from({ length: 201 }, (_, i) => [i, i + 0.5]) }],
    ["playback rate 100", { lesson_id: 67, segments: [], playback_rate: 100 }],
    ["user_id smuggled in", { lesson_id: 67, segments: [], user_id: cheater.id }],
    ["lesson id as text", { lesson_id: "67", segments: [] }],
  ];
  for (const [name, body] of invalid) {
    await t.step(`400 for ${name}, nothing credited`, async () => {
      const before = await trackingRow(sql, cheater.id, 67);
      const response = await heartbeat(cheater, body);
      const answer = await response.json();
      assert.equal(response.status, 400, JSON.stringify(answer));
      assert.equal(answer.error.code, "validation_failed");
      assert.ok(answer.error.details.length > 0);
      assert.deepEqual(await trackingRow(sql, cheater.id, 67), before);
    });
  }
  await t.step("a lesson of a module I have not unlocked → 409 lesson_locked; unknown → 404", async () => {
    const locked = await heartbeat(cheater, { lesson_id: 68, segments: [[0, 5]] });
    assert.equal(locked.status, 409);
    assert.equal((await locked.json()).error.code, "lesson_locked");
    const unknown = await heartbeat(cheater, { lesson_id: 999_999, segments: [[0, 5]] });
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).error.code, "lesson_not_found");
    const [{ count }] =
      await sql`select count(*)::int from public.video_tracking where user_id = ${cheater.id}`;
    assert.equal(count, 1, "no row was made for the locked lesson");
  });
});

story("another student's unlocked lesson does not open it for me", async () => {
  const ahead = await enrol("Aigerim Ahead");
  const behind = await enrol("Timur Behind");
  await sql`insert into public.tripwire_module_unlocks (user_id, module_id) values (${ahead.id}, 17)`;
  await letTimePass(sql, ahead, 67, 10);
  const mine = await heartbeat(behind, { lesson_id: 68, segments: [[0, 5]] });
  assert.equal(mine.status, 409);
  await mine.body?.cancel();
  const theirs = await expectJson(await heartbeat(ahead, { lesson_id: 68, segments: [[0, 5]] }));
  assert.equal(theirs.watched_seconds, 5, "the first heartbeat of a newly unlocked lesson makes its row");
});

story(
  "12 concurrent heartbeats with disjoint segments: the 10 the burst admits are all kept, 2 get 429",
  async () => {
    const racer = await enrol("Ruslan Racer");
    await heartbeat(racer, { lesson_id: 67, segments: [] }).then((r) => r.body?.cancel());
    await letTimePass(sql, racer, 67, 30); // the bucket is full again: 10 heartbeats at once
    const segments = Array.from({ length: 12 }, (_, index) => [index * 10, index * 10 + 3]);
    const responses = await Promise.all(
      segments.map((segment) => heartbeat(racer, { lesson_id: 67, segments: [segment] })),
    );
    const statuses = responses.map((response) => response.status);
    assert.deepEqual([...statuses].sort(), [...Array(10).fill(200), 429, 429], statuses.join());
    await Promise.all(responses.map((response) => response.body?.cancel()));
    const admitted = segments.filter((_, index) => statuses[index] === 200);
    const row = await trackingRow(sql, racer.id, 67);
    assert.equal(row.watched_seconds, "30.00", "every admitted segment, none of the refused");
    assert.equal(row.rejected_seconds, "0.00");
    assert.equal(row.heartbeat_count, 11);
    assert.equal(row.ranges, `{${admitted.map(([start, end]) => `[${start},${end})`).join(",")}}`);
  },
);

story("50 students heartbeating at once: each has exactly their own segments", async () => {
  const students = await Promise.all(
    Array.from({ length: 50 }, (_, index) => enrol(`Crowd Viewer ${index}`)),
  );
  for (const student of students) await letTimePass(sql, student, 67, 30);
  const responses = await Promise.all(
    students.map((student, index) => heartbeat(student, { lesson_id: 67, segments: [[index, index + 7]] })),
  );
  assert.deepEqual(responses.map((response) => response.status), Array(50).fill(200));
  await Promise.all(responses.map((response) => response.body?.cancel()));
  for (const [index, student] of students.entries()) {
    const row = await trackingRow(sql, student.id, 67);
    assert.equal(row.ranges, `{[${index},${index + 7})}`);
  }
});

story("GET: a student reads only lessons they may open; anonymous → 401, a manager → 403", async () => {
  const gulnara = await enrol("Gulnara Reader");
  const unknown = await callFunction("video-tracking?lesson_id=999999", {
    headers: { authorization: `Bearer ${gulnara.token}` },
  });
  assert.equal(unknown.status, 404);
  await unknown.body?.cancel();
  const bad = await callFunction("video-tracking?lesson_id=abc", {
    headers: { authorization: `Bearer ${gulnara.token}` },
  });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.details[0].path, "lesson_id");
  const anonymous = await callFunction("video-tracking?lesson_id=67");
  assert.equal(anonymous.status, 401);
  await anonymous.body?.cancel();
  const manager = await callFunction("video-tracking?lesson_id=67", {
    headers: { authorization: `Bearer ${await tokenFor(aida.id)}` },
  });
  assert.equal(manager.status, 403);
  assert.equal((await manager.json()).error.code, "forbidden");
});

story(
  "POST: only a student's own token records; a manager or a stranger → 403, nothing written",
  async () => {
    const before = await sql`select count(*)::int as rows, coalesce(sum(heartbeat_count), 0)::int as beats
                           from public.video_tracking`;
    const callers = [
      ["manager", { id: aida.id, token: await tokenFor(aida.id) }, "Only student accounts may do this"],
      ["no account", { id: crypto.randomUUID(), token: "" }, "This account has no access to Tripwire"],
    ] as const;
    for (const [label, caller, message] of callers) {
      const token = caller.token || await tokenFor(caller.id);
      const response = await heartbeat({ id: caller.id, token }, { lesson_id: 67, segments: [[0, 5]] });
      const body = await response.json();
      assert.equal(response.status, 403, label);
      assert.deepEqual([body.error.code, body.error.message], ["forbidden", message], label);
    }
    const unauthenticated = await heartbeat({ id: aida.id, token: "not-a-jwt" }, {
      lesson_id: 67,
      segments: [],
    });
    assert.equal(unauthenticated.status, 401);
    await unauthenticated.body?.cancel();
    const after = await sql`select count(*)::int as rows, coalesce(sum(heartbeat_count), 0)::int as beats
                          from public.video_tracking`;
    assert.deepEqual(after, before);
  },
);
