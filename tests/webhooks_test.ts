/** Events reach the academy's CRM: signed and verifiable, retried with backoff, paused and resent; stalls reported. */
import assert from "node:assert/strict";
import { saule } from "./support/fixtures.ts";
import { enrol, graduate, watch } from "./support/learning.ts";
import { startCrm } from "./support/crm_server.ts";
import { expectJson } from "./support/responses.ts";
import { callAs, story } from "./support/server.ts";
import { eventData } from "../supabase/functions/_domain/events.ts";
import { deliver, disableOthers, register, sql } from "./support/webhooks.ts";

story(
  "Saule registers the CRM; Bolat graduates; course.completed reaches it signed and verifiable",
  async () => {
    await disableOthers();
    const crm = startCrm();
    try {
      const endpoint = await register(crm.url, ["student.created", "lesson.started", "course.completed"]);
      assert.match(endpoint.secret, /^whsec_/);
      crm.state.secrets.push(endpoint.secret);
      const [stored] =
        await sql`select sealed_secret from private.webhook_endpoints where id = ${endpoint.id}`;
      assert.ok(
        !stored.sealed_secret.includes(endpoint.secret.slice(6)),
        "the secret is sealed, never stored",
      );

      const bolat = await enrol(`Bolat Graduate ${crypto.randomUUID().slice(0, 6)}`);
      const completion = await graduate(sql, bolat);
      // The requests that caused the events answered without any endpoint being called: delivery is the scheduler's.
      assert.equal(crm.received.length, 0);

      const run = await deliver();
      assert.equal(run.delivered, run.attempted);
      const mine = crm.received.filter((event) => event.data.student.id === bolat.id);
      assert.deepEqual(
        mine.map((event) => event.type).sort(),
        ["course.completed", "lesson.started", "lesson.started", "lesson.started", "student.created"],
      );
      assert.equal(crm.rejected.length, 0, "every request verified with the standardwebhooks library");
      for (const event of mine) eventData[event.type].parse(event.data);
      const graduated = mine.find((event) => event.type === "course.completed")!;
      const certificate = graduated.data.certificate as Record<string, string>;
      assert.equal(certificate.number, completion.certificate!.certificate_number);
      assert.match(certificate.verification_url, /#\/verify\/TW-/, "the page a person opens");
      assert.match(
        certificate.pdf_url,
        /\/functions\/v1\/complete-lesson\/certificate\/TW-.+\/certificate\.pdf$/,
      );
      assert.equal(graduated.data.student.status, "completed");
      const [event] = await sql`
      select id from private.webhook_events where student_id = ${bolat.id} and event_type = 'course.completed'`;
      assert.equal(graduated.id, `evt_${event.id}`, "webhook-id names the event, the same on every retry");

      // The admin sees every delivery with its attempt.
      const list = await expectJson(await callAs(saule.id, `webhooks/deliveries?endpoint_id=${endpoint.id}`));
      assert.equal(list.deliveries.length, run.delivered);
      for (const delivery of list.deliveries) {
        assert.equal(delivery.status, "delivered");
        assert.equal(delivery.recent_attempts[0].response_status, 200);
      }
      // Delivered once: the next run sends nothing.
      const next = await deliver();
      assert.equal(next.attempted, 0);
    } finally {
      await crm.close();
    }
  },
);

story(
  "a failing CRM: retried with backoff, each attempt logged, paused after the limit, resent on demand",
  async () => {
    await disableOthers();
    const crm = startCrm();
    await sql`update academy.settings set webhook_failures_before_pause = 3`;
    try {
      const endpoint = await register(crm.url, ["student.created"]);
      crm.state.secrets.push(endpoint.secret);
      crm.state.status = 503;
      const bolat = await enrol(`Bolat Retried ${crypto.randomUUID().slice(0, 6)}`);
      const dana = await enrol(`Dana Retried ${crypto.randomUUID().slice(0, 6)}`);

      const first = await deliver();
      assert.deepEqual([first.attempted, first.delivered, first.failed_attempts], [2, 0, 2]);
      const afterFirst = await sql`
      select attempts, status, extract(epoch from next_attempt_at - last_attempt_at)::int as wait
      from private.webhook_deliveries where endpoint_id = ${endpoint.id}`;
      assert.deepEqual(afterFirst.map((row) => [row.attempts, row.status, row.wait]), [[1, "pending", 60], [
        1,
        "pending",
        60,
      ]]);
      // Nothing is due yet: the next run within the minute sends nothing.
      assert.equal((await deliver()).attempted, 0);

      // A minute later one of them fails again (5 minutes next), and the third failure in a row pauses it.
      await sql`update private.webhook_deliveries set next_attempt_at = now() where endpoint_id = ${endpoint.id}`;
      const second = await deliver();
      assert.equal(second.failed_attempts, 2);
      assert.equal(second.endpoints_paused, 1);
      const [paused] = await expectJson(await callAs(saule.id, "webhooks/endpoints")).then((body) =>
        body.endpoints.filter((row: { id: string }) => row.id === endpoint.id)
      );
      assert.equal(paused.state, "paused");
      // The limit is 3; both deliveries were in flight when the third failure came, so the count says 4.
      assert.equal(paused.consecutive_failures, 4);
      const [{ pauses }] = await sql<{ pauses: number }[]>`
        select count(*)::int as pauses from private.audit_log
        where action = 'webhook.endpoint_paused' and target_id = ${endpoint.id} and actor_role = 'service'`;
      assert.equal(pauses, 1, "the pause is audited, once, as the service's doing");
      await sql`update private.webhook_deliveries set next_attempt_at = now() where endpoint_id = ${endpoint.id}`;
      assert.equal((await deliver()).attempted, 0, "a paused endpoint gets nothing");

      // Each attempt is visible: when, the status, how long it took; never what the endpoint answered.
      const list = await expectJson(await callAs(saule.id, `webhooks/deliveries?endpoint_id=${endpoint.id}`));
      const attempts = list.deliveries.flatMap((
        delivery: { recent_attempts: Record<string, unknown>[] },
      ) => delivery.recent_attempts);
      assert.equal(attempts.length, 4);
      for (const attempt of attempts) {
        assert.deepEqual(Object.keys(attempt).sort(), [
          "attempted_at",
          "duration_ms",
          "error",
          "response_status",
        ]);
        assert.equal(attempt.response_status, 503);
      }
      assert.ok(!JSON.stringify(list).includes("CRM is down"), "the endpoint's answer is not shown");

      // The CRM is back; Saule resends Bolat's now, then resumes the endpoint and the rest follows.
      crm.state.status = 200;
      const resent = await expectJson(
        await callAs(saule.id, `webhooks/deliveries/${list.deliveries[0].id}/resend`, {}),
      );
      assert.equal(resent.status, "delivered");
      assert.equal(resent.recent_attempts[0].response_status, 200);
      await expectJson(await callAs(saule.id, `webhooks/endpoints/${endpoint.id}/resume`, {}));
      const resumed = await deliver();
      assert.equal(resumed.delivered, 1);
      const names = crm.received.map((event) => event.data.student.id).sort();
      assert.deepEqual(names, [bolat.id, dana.id].sort());
    } finally {
      await sql`update academy.settings set webhook_failures_before_pause = 20`;
      await crm.close();
    }
  },
);

story("the backoff runs out after eight attempts; the delivery is failed and still resendable", async () => {
  await disableOthers();
  const crm = startCrm();
  await sql`update academy.settings set webhook_failures_before_pause = 100`;
  try {
    const endpoint = await register(crm.url, ["student.created"]);
    crm.state.secrets.push(endpoint.secret);
    crm.state.status = 500;
    await enrol(`Bolat Failed ${crypto.randomUUID().slice(0, 6)}`);
    const waits: number[] = [];
    for (let attempt = 1; attempt <= 8; attempt++) {
      await deliver();
      const [row] = await sql`
        select attempts, status, extract(epoch from next_attempt_at - last_attempt_at)::int as wait
        from private.webhook_deliveries where endpoint_id = ${endpoint.id}`;
      assert.equal(row.attempts, attempt);
      if (attempt < 8) waits.push(row.wait);
      else assert.equal(row.status, "failed");
      await sql`update private.webhook_deliveries set next_attempt_at = now() where endpoint_id = ${endpoint.id}`;
    }
    assert.deepEqual(waits, [60, 300, 1_800, 7_200, 18_000, 36_000, 36_000]);
    assert.equal((await deliver()).attempted, 0, "a failed delivery is not retried by itself");
    crm.state.status = 204;
    const [{ id }] = await sql`select id from private.webhook_deliveries where endpoint_id = ${endpoint.id}`;
    const resent = await expectJson(await callAs(saule.id, `webhooks/deliveries/${id}/resend`, {}));
    assert.deepEqual([resent.status, resent.attempts], ["delivered", 1]);
  } finally {
    await sql`update academy.settings set webhook_failures_before_pause = 20`;
    await crm.close();
  }
});

story(
  "a student who stops watching is reported once as student.stalled; watching again re-arms it",
  async () => {
    await disableOthers();
    const crm = startCrm();
    try {
      const endpoint = await register(crm.url, ["student.stalled"]);
      crm.state.secrets.push(endpoint.secret);
      const asel = await enrol(`Asel Stalled ${crypto.randomUUID().slice(0, 6)}`);
      const berik = await enrol(`Berik Watching ${crypto.randomUUID().slice(0, 6)}`);
      await watch(sql, berik, 67, 0, 30, 10);
      // Asel never watched and was sold eight days ago; Berik watched yesterday.
      await sql`update public.tripwire_users set created_at = now() - interval '8 days' where user_id = ${asel.id}`;
      await sql`update private.student_activity set last_activity_at = now() - interval '1 day' where user_id = ${berik.id}`;
      const run = await deliver();
      assert.ok(run.stalled_students >= 1);
      const stalled = () =>
        crm.received.filter((event) => event.type === "student.stalled").map((event) =>
          event.data.student.id
        );
      assert.ok(stalled().includes(asel.id));
      assert.ok(!stalled().includes(berik.id));
      await deliver();
      assert.equal(stalled().filter((id) => id === asel.id).length, 1, "the same stall is reported once");

      // Berik's last watching is now eight days old: reported; after he watches again and stalls again, again.
      await sql`update private.student_activity set last_activity_at = now() - interval '8 days' where user_id = ${berik.id}`;
      await deliver();
      await sql`update private.student_activity set last_activity_at = now() - interval '9 days' where user_id = ${berik.id}`;
      await deliver();
      assert.equal(stalled().filter((id) => id === berik.id).length, 2);
    } finally {
      await crm.close();
    }
  },
);
