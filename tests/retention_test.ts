/**
 * Where students leave a lesson: the retention curve the job computes from the stored watched ranges equals a
 * recount of those ranges second by second, for buyers of the main course and the others; the drop-off is
 * where the starters left.
 */
import assert from "node:assert/strict";
import { aida } from "./support/fixtures.ts";
import { watch } from "./support/learning.ts";
import { fromMainPlatform, purchased, runJob, sell, unique } from "./support/main_platform.ts";
import { expectError, expectJson } from "./support/responses.ts";
import { appDatabase, callAs, callFunction, story } from "./support/server.ts";

const sql = appDatabase.sql;
const lessonId = 67;

/** The curve as plain SQL over the stored ranges: who holds second + 0.5, per group. */
async function recount(bought: boolean | null) {
  const [{ duration }] = await sql`
    select video_duration_seconds as duration from public.tripwire_lessons where id = ${lessonId}`;
  const [row] = await sql`
    with viewers as (
      select v.watched_ranges,
             exists (select from private.main_course_purchases p
                     where p.student_id = v.user_id and p.refunded_at is null) as bought
      from public.video_tracking v where v.lesson_id = ${lessonId} and not isempty(v.watched_ranges)
    ),
    chosen as (select * from viewers where ${bought}::boolean is null or bought = ${bought}::boolean)
    select (select count(*)::int from chosen) as starters,
           array(select (select count(*) from chosen c where c.watched_ranges @> (s + 0.5)::numeric)::int
                 from generate_series(0, ${duration} - 1) as s order by s) as viewers`;
  return {
    starters: row.starters,
    share: row.starters > 0
      ? row.viewers.map((count: number) => Math.round((count / row.starters) * 10_000) / 10_000)
      : [],
  };
}

story(
  "A lesson's retention curve equals a recount of the stored ranges; the drop-off is where they left",
  async () => {
    // Five watch the first 100 seconds; three of them go on to 300 (one skipping 150–200); one of those buys.
    const students = [];
    for (let i = 0; i < 5; i++) students.push(await sell(aida.id, `Retention ${i} ${unique()}`));
    for (const student of students) await watch(sql, student, lessonId, 0, 100);
    await watch(sql, students[0], lessonId, 100, 150);
    await watch(sql, students[0], lessonId, 200, 300);
    for (const student of students.slice(1, 3)) await watch(sql, student, lessonId, 100, 300);
    await expectJson(await fromMainPlatform(purchased({ customer: { email: students[1].email } })));

    const refreshed = await runJob("second-sale/refresh-retention");
    assert.equal(refreshed.view, "retention");
    const answer = await expectJson(await callAs(aida.id, `second-sale/retention/${lessonId}`));
    assert.deepEqual(answer.all, await recount(null));
    assert.deepEqual(answer.bought, await recount(true));
    assert.deepEqual(answer.not_bought, await recount(false));
    assert.equal(answer.bought.starters, 1);
    const { lessons } = await expectJson(
      await callAs(aida.id, "second-sale/retention", undefined, { "accept-language": "en" }),
    );
    assert.deepEqual(lessons.map((lesson: { lesson_id: number }) => lesson.lesson_id), [67, 68, 69]);
    assert.equal(lessons[0].starters, 5);
    assert.equal(lessons[0].title, "Lesson 1. Who buys and why");
    assert.equal(answer.all.share[50], 1, "everyone watched second 50");
    assert.equal(answer.all.share[175], 0.4, "two of five watched second 175");
    // The falls, steepest first: all three who went on left at 300 (0.6), two of five at 100 (0.4), one skipped
    // 150–200 (0.2).
    const falls = answer.drop_offs.map((
      fall: { second: number; share_before: number; share_after: number },
    ) => ({
      at: fall.second,
      drop: Math.round((fall.share_before - fall.share_after) * 100) / 100,
    }));
    assert.deepEqual(falls.map((fall: { drop: number }) => fall.drop), [0.6, 0.4, 0.2]);
    assert.ok(falls[0].at >= 290 && falls[0].at < 300, `the last fall at ${falls[0].at}`);
    assert.ok(falls[1].at >= 90 && falls[1].at < 100, `the first fall at ${falls[1].at}`);
    assert.ok(falls[2].at >= 140 && falls[2].at < 150, `the skip at ${falls[2].at}`);

    await expectError(await callAs(aida.id, "second-sale/retention/999999"), 404, "lesson_not_found");
    const [student] = students;
    await expectError(
      await callFunction(`second-sale/retention/${lessonId}`, {
        headers: { authorization: `Bearer ${student.token}` },
      }),
      403,
      "forbidden",
    );
  },
);
