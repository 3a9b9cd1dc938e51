/** Heartbeats under load and at the edges: asynchronous commit, the last position, coalesced statements. */
import assert from "node:assert/strict";
import postgres from "postgres";
import { recordHeartbeat, recordHeartbeats } from "../supabase/functions/video-tracking/video_tracking.ts";
import { enrol, heartbeat, letTimePass, trackingRow } from "./support/learning.ts";
import { aida } from "./support/fixtures.ts";
import { appDatabase, signedIn, story } from "./support/server.ts";
import { expectJson } from "./support/responses.ts";
import { meetAtLock } from "./support/barrier.ts";

const sql = appDatabase.sql;

story("a heartbeat commits asynchronously, and only its own transaction does", async () => {
  const aliya = await enrol("Aliya Durable");
  const one = postgres(appDatabase.url, { max: 1, onnotice: () => {} });
  try {
    const inside = await one.begin(async (tx) => {
      await recordHeartbeat(
        await signedIn(aliya.id),
        { lesson_id: 67, segments: [[0, 3]] },
        tx as unknown as postgres.Sql,
      );
      const [{ synchronous_commit }] = await tx`show synchronous_commit`;
      return synchronous_commit;
    });
    assert.equal(inside, "off");
    // The same connection's next transaction is durable again (and so is anything else on it).
    const [{ synchronous_commit: after }] = await one`show synchronous_commit`;
    assert.equal(after, "on");
    await recordHeartbeat(await signedIn(aliya.id), { lesson_id: 67, segments: [[3, 6]] }, one);
    const [{ synchronous_commit: next }] = await one`show synchronous_commit`;
    assert.equal(next, "on");
    assert.equal((await trackingRow(sql, aliya.id, 67)).heartbeat_count, 2);
  } finally {
    await one.end();
  }
});

story("the last position is where the player said it was; a heartbeat without one keeps it", async () => {
  const ruslan = await enrol("Ruslan Resumes");
  await letTimePass(sql, ruslan, 67, 10);
  const moved = await expectJson(
    await heartbeat(ruslan, { lesson_id: 67, segments: [[0, 10]], position: 10 }),
  );
  assert.equal(moved.last_position_seconds, 10);
  const silent = await expectJson(await heartbeat(ruslan, { lesson_id: 67, segments: [] }));
  assert.equal(silent.last_position_seconds, 10, "not the video's duration");
  const beyond = await expectJson(await heartbeat(ruslan, { lesson_id: 67, segments: [], position: 5000 }));
  assert.equal(beyond.last_position_seconds, 600, "clamped to the video");
  assert.equal((await trackingRow(sql, ruslan.id, 67)).last_position_seconds, "600.00");
});

story(
  "coalesced: 200 concurrent heartbeats of 50 students, each answered with exactly its own state, in order",
  async () => {
    const students = await Promise.all(
      Array.from({ length: 50 }, (_, index) => enrol(`Coalesced Viewer ${index}`)),
    );
    for (const student of students) await letTimePass(sql, student, 67, 30);
    const sessions = await Promise.all(students.map((student) => signedIn(student.id)));
    // Each student's four heartbeats, sent at once: 2 s at 10k + 20j, at position j.
    const sent = students.flatMap((student, k) =>
      [0, 1, 2, 3].map((j) => ({
        student,
        j,
        answer: recordHeartbeat(sessions[k], {
          lesson_id: 67,
          segments: [[10 * k + 20 * j, 10 * k + 20 * j + 2]],
          position: j,
        }, sql),
      }))
    );
    const answers = await Promise.all(sent.map((one) => one.answer));
    for (const [index, { student, j }] of sent.entries()) {
      const k = students.indexOf(student);
      const state = answers[index];
      assert.equal(state.heartbeat_count, j + 1, "a student's heartbeats are applied in the order sent");
      assert.equal(state.last_position_seconds, j, "its own position");
      assert.deepEqual(
        state.segments,
        [0, 1, 2, 3].slice(0, j + 1).map((n) => [10 * k + 20 * n, 10 * k + 20 * n + 2]).sort((a, b) =>
          a[0] - b[0]
        ),
        "its own ranges, and only those sent before it",
      );
      assert.equal(state.rejected_seconds, 0);
    }
  },
);

story(
  "two instances write one row at once: the later one reads it again, and both are credited",
  async () => {
    const timur = await enrol("Timur Two Tabs");
    await letTimePass(sql, timur, 67, 30);
    const { session_id: sessionId } = await signedIn(timur.id);
    const beat = (
      segments: [number, number][],
    ) => [{ userId: timur.id, sessionId, heartbeat: { lesson_id: 67, segments } }];
    // A second instance's connection, named as the functions' are, so the barrier sees it wait.
    const second = postgres(appDatabase.url, {
      max: 1,
      onnotice: () => {},
      connection: { application_name: "tripwire-functions" },
    });
    try {
      // The first instance has written the row and not yet committed; the second read the row as it was (no
      // heartbeat yet) and waits for it at its UPDATE until the first commits.
      const [[row]] = await meetAtLock(
        sql,
        (tx) => recordHeartbeats(beat([[0, 4]]), tx as unknown as postgres.Sql),
        1,
        () => [recordHeartbeats(beat([[10, 14]]), second)],
      );
      assert.equal(row.heartbeat_count, 2, "written after the first, not over it");
      assert.equal(row.ranges, "{[0,4),[10,14)}");
      assert.equal(Number(row.watched_seconds), 8);
      const stored = await trackingRow(sql, timur.id, 67);
      assert.deepEqual([stored.heartbeat_count, stored.ranges], [2, "{[0,4),[10,14)}"]);
    } finally {
      await second.end();
    }
  },
);

story("coalesced: a statement with refused heartbeats answers the others", async (t) => {
  const [viewer, other] = [await enrol("Batch Viewer"), await enrol("Batch Other")];
  await letTimePass(sql, viewer, 67, 30);
  await letTimePass(sql, other, 67, 30);
  await t.step("one statement: credited, locked, unknown, not a student, no tracking row yet", async () => {
    const rows = await recordHeartbeats([
      {
        userId: viewer.id,
        sessionId: (await signedIn(viewer.id)).session_id,
        heartbeat: { lesson_id: 67, segments: [[0, 4]] },
      },
      {
        userId: other.id,
        sessionId: (await signedIn(other.id)).session_id,
        heartbeat: { lesson_id: 69, segments: [[0, 4]] },
      },
      {
        userId: other.id,
        sessionId: (await signedIn(other.id)).session_id,
        heartbeat: { lesson_id: 999_999, segments: [] },
      },
      {
        userId: aida.id,
        sessionId: (await signedIn(aida.id)).session_id,
        heartbeat: { lesson_id: 67, segments: [] },
      },
    ], sql);
    assert.equal(rows.length, 4);
    assert.equal(rows[0].lesson_id, 67);
    assert.equal(Number(rows[0].watched_seconds), 4);
    assert.deepEqual([rows[1].lesson_found, rows[1].unlocked, rows[1].lesson_id], [true, false, null]);
    assert.deepEqual([rows[2].lesson_found, rows[2].lesson_id], [false, null]);
    assert.deepEqual([rows[3].caller_role, rows[3].lesson_id], ["manager", null]);
  });
  await t.step("through the coalescer, concurrently: each its own answer or its own error", async () => {
    const [asViewer, asOther, asAida] = await Promise.all([viewer.id, other.id, aida.id].map(signedIn));
    const results = await Promise.allSettled([
      recordHeartbeat(asViewer, { lesson_id: 67, segments: [[4, 8]] }, sql),
      recordHeartbeat(asOther, { lesson_id: 69, segments: [[0, 4]] }, sql),
      recordHeartbeat(asOther, { lesson_id: 67, segments: [[0, 4]] }, sql),
      recordHeartbeat(asAida, { lesson_id: 67, segments: [] }, sql),
    ]);
    assert.equal(results[0].status, "fulfilled");
    assert.deepEqual((results[0] as PromiseFulfilledResult<{ segments: number[][] }>).value.segments, [[
      0,
      8,
    ]]);
    assert.equal((results[1] as PromiseRejectedResult).reason.code, "lesson_locked");
    assert.equal(
      (results[2] as PromiseFulfilledResult<{ watched_seconds: number }>).value.watched_seconds,
      4,
    );
    assert.equal((results[3] as PromiseRejectedResult).reason.code, "forbidden");
  });
});
