/**
 * The manager's call list: students ordered by the heat score, each row saying why and when, how to reach
 * them and the link to send; the CRM hears `student.ready` once, when a student first reaches the threshold.
 * Signals come from real requests (watching, completing, opening the link, the stall job); time passes by
 * moving stored times back, as the watching tests do.
 */
import assert from "node:assert/strict";
import { aida } from "./support/fixtures.ts";
import { ageLastActivity, graduate, type TestStudent, watch } from "./support/learning.ts";
import { fromMainPlatform, purchased, runJob, sell, unique } from "./support/main_platform.ts";
import { expectJson } from "./support/responses.ts";
import { appDatabase, callAs, callFunction, story } from "./support/server.ts";

const sql = appDatabase.sql;
await sql`update academy.settings set main_course_checkout_url = 'https://main.example.kz/checkout'`;

async function upgradeOf(student: TestStudent) {
  const dashboard = await expectJson(
    await callFunction("student-dashboard", { headers: { authorization: `Bearer ${student.token}` } }),
  );
  return dashboard.upgrade;
}

async function minuteJobs() {
  for (const route of ["second-sale/refresh", "webhooks/deliver"]) await runJob(route);
}

const readyEvents = async (studentId: string) =>
  await sql`
    select data from private.webhook_events where event_type = 'student.ready' and student_id = ${studentId}`;

story(
  "The call list orders students by the heat score and explains each; student.ready is sent once",
  async () => {
    // Asel graduates now and opens her upgrade link: completed (30), today (+15), opened the link (25) = 70.
    const asel = await sell(aida.id, `Asel Hot ${unique()}`, { phone: "+77011234567" });
    await graduate(sql, asel);
    const offer = await upgradeOf(asel);
    const opened = await callFunction(new URL(offer.url).pathname.replace("/functions/v1/", ""), {
      redirect: "manual",
    });
    await opened.body?.cancel();
    assert.equal(opened.status, 302);

    // Bolat graduated two days ago and watched two completed lessons again since: 30 + 10 + 10 = 50.
    const bolat = await sell(aida.id, `Bolat Rewatch ${unique()}`, { phone: "+77011234567" });
    await graduate(sql, bolat);
    await sql`update public.certificates set issued_at = issued_at - interval '2 days' where user_id = ${bolat.id}`;
    await sql`
    update public.student_progress set completed_at = completed_at - interval '2 days',
                                       started_at = started_at - interval '2 days'
    where user_id = ${bolat.id}`;
    await watch(sql, bolat, 67, 0, 20);
    await watch(sql, bolat, 68, 0, 20);

    // Dana stalled (a week without watching, noticed by the stall job) and came back: 15.
    const dana = await sell(aida.id, `Dana Back ${unique()}`, { phone: "+77011234567" });
    await watch(sql, dana, 67, 0, 20);
    await ageLastActivity(sql, dana.id, "8 days");
    await sql`update public.tripwire_users set created_at = now() - interval '9 days' where user_id = ${dana.id}`;
    await minuteJobs();
    const [stall] = await sql`select notified_at from private.stall_notices where student_id = ${dana.id}`;
    assert.ok(stall, "the stall job noticed her");
    await watch(sql, dana, 67, 20, 40);

    // Erlan graduated and bought the main course: nobody needs to call him. Farida has not started: no signal.
    const erlan = await sell(aida.id, `Erlan Bought ${unique()}`, { phone: "+77011234567" });
    await graduate(sql, erlan);
    await expectJson(await fromMainPlatform(purchased({ customer: { email: erlan.email } })));
    const farida = await sell(aida.id, `Farida Quiet ${unique()}`, { phone: "+77011234567" });

    const list = await expectJson(await callAs(aida.id, "second-sale/call-list?limit=100"));
    assert.equal(list.threshold, 50);
    const mine = list.students.filter((row: { student_id: string }) =>
      [asel.id, bolat.id, dana.id, erlan.id, farida.id].includes(row.student_id)
    );
    assert.deepEqual(
      mine.map((
        row: { student_id: string; score: number; ready: boolean },
      ) => [row.student_id, row.score, row.ready]),
      [[asel.id, 70, true], [bolat.id, 50, true], [dana.id, 15, false]],
    );
    const [aselRow, bolatRow, danaRow] = mine;
    assert.deepEqual(
      aselRow.reasons.map((reason: { signal: string }) => reason.signal).sort(),
      ["completed_course", "completed_today", "opened_upgrade_link"],
    );
    assert.deepEqual(
      bolatRow.reasons.map((reason: { signal: string }) => reason.signal).sort(),
      ["completed_course", "rewatched_lesson", "rewatched_lesson"],
    );
    assert.deepEqual(danaRow.reasons.map((reason: { signal: string }) => reason.signal), ["came_back"]);
    for (const row of mine) {
      assert.equal(row.phone, "+77011234567", "how to reach them");
      assert.ok(Date.parse(row.last_signal_at) > 0);
    }
    assert.equal(aselRow.upgrade.url, offer.url, "the link to send");
    assert.equal(danaRow.upgrade, null, "no offer before completion");
    // The order is the scores' and the list is the manager's own: another manager does not see these.
    const [daniyarList] = [
      await expectJson(await callAs("a0000000-0000-4000-8000-000000000003", "second-sale/call-list")),
    ];
    assert.ok(!daniyarList.students.some((row: { student_id: string }) => row.student_id === asel.id));

    // The minute job tells the CRM, once, of those who reached the threshold.
    await minuteJobs();
    for (const student of [asel, bolat]) {
      const events = await readyEvents(student.id);
      assert.equal(events.length, 1, "student.ready once");
      assert.equal(events[0].data.student.id, student.id);
      assert.ok(events[0].data.score >= 50);
    }
    assert.equal((await readyEvents(dana.id)).length, 0);
    await watch(sql, asel, 67, 0, 10);
    await minuteJobs();
    assert.equal((await readyEvents(asel.id)).length, 1, "still once");
  },
);
