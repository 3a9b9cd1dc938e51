import assert from "node:assert/strict";
import { aida, saule } from "./support/fixtures.ts";
import { enrol, graduate, watch } from "./support/learning.ts";
import { startCrm } from "./support/crm_server.ts";
import { expectError, expectJson } from "./support/responses.ts";
import { appDatabase, callAs, callFunction, serviceKey, story } from "./support/server.ts";
import { eventData, type EventType } from "../supabase/functions/_domain/events.ts";

const sql = appDatabase.sql;

async function deliver() {
  return await expectJson(
    await callFunction("webhooks/deliver", { method: "POST", headers: { apikey: serviceKey } }),
  );
}

async function register(url: string, eventTypes: EventType[]) {
  return await expectJson(
    await callAs(saule.id, "webhooks/endpoints", { url, event_types: eventTypes }),
    201,
  );
}

/** Other stories' endpoints stop taking events, so each story counts only its own deliveries. */
async function disableOthers() {
  await sql`update private.webhook_endpoints set disabled_at = now() where disabled_at is null`;
  await sql`update private.webhook_deliveries set status = 'failed' where status = 'pending'`;
}

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
      assert.match(certificate.verification_url, /\/functions\/v1\/complete-lesson\/certificate\/TW-/);
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

story("refunds, suspensions and completions write their events in their own transactions", async () => {
  const bolat = await enrol(`Bolat Events ${crypto.randomUUID().slice(0, 6)}`);
  await watch(sql, bolat, 67, 0, 100, 10);
  await expectJson(await callAs(aida.id, `students/${bolat.id}/suspend`, { reason: "Chargeback opened" }));
  await expectJson(await callAs(aida.id, `students/${bolat.id}/reactivate`, { reason: "Resolved" }));
  await expectJson(await callAs(aida.id, `students/${bolat.id}/refund`, { amount: 10, reason: "Goodwill" }));
  const events = await sql<{ event_type: string; data: Record<string, unknown> }[]>`
    select event_type, data from private.webhook_events where student_id = ${bolat.id} order by id`;
  assert.deepEqual(events.map((event) => event.event_type), [
    "student.created",
    "lesson.started",
    "student.suspended",
    "student.refunded",
  ]);
  for (const event of events) eventData[event.event_type as EventType].parse(event.data);
  assert.equal(events[2].data.reason, "Chargeback opened");
  assert.deepEqual(events[1].data.lesson, {
    id: 67,
    title: (events[1].data.lesson as { title: string }).title,
    module_id: 16,
  });

  // A refusal writes nothing: a refund above what is left is refused, and no event comes of it.
  await expectError(
    await callAs(aida.id, `students/${bolat.id}/refund`, { amount: 100_000, reason: "Too much" }),
    422,
    "refund_exceeds_payment",
  );
  const [{ count }] =
    await sql`select count(*)::int from private.webhook_events where student_id = ${bolat.id}`;
  assert.equal(count, 4);

  // Erasing the person erases the events about them (and their deliveries).
  await expectJson(await callAs(saule.id, `students/${bolat.id}/erase`, { reason: "Asked to be forgotten" }));
  const [{ left }] =
    await sql`select count(*)::int as left from private.webhook_events where student_id = ${bolat.id}`;
  assert.equal(left, 0);
});

story("only admins manage endpoints; bad endpoints and unknown ids are refused by field", async () => {
  await expectError(
    await callAs(aida.id, "webhooks/endpoints", {
      url: "https://crm.example.kz/hooks",
      event_types: ["student.created"],
    }),
    403,
    "forbidden",
  );
  await expectError(await callAs(aida.id, "webhooks/deliveries"), 403, "forbidden");
  const cases: [unknown, string][] = [
    [{ url: "ftp://crm.example.kz/hooks", event_types: ["student.created"] }, "url"],
    [{ url: "http://crm.example.kz/hooks", event_types: ["student.created"] }, "url"],
    [{ url: "https://user:pass@crm.example.kz/hooks", event_types: ["student.created"] }, "url"],
    [{ url: "http://:pw@127.0.0.1:9/hooks", event_types: ["student.created"] }, "url"],
    [{ url: "https://:pw@93.184.215.14/hooks", event_types: ["student.created"] }, "url"],
    // Inside the network, however written: private, link-local (cloud metadata), CGNAT, ULA, mapped, hex.
    ...[
      "https://10.0.0.5/hooks",
      "https://192.168.1.10/hooks",
      "https://172.16.0.1/hooks",
      "https://169.254.169.254/latest/meta-data/",
      "https://100.64.0.1/hooks",
      "https://[fd00::1]/hooks",
      "https://[fe80::1]/hooks",
      "https://[::ffff:10.0.0.1]/hooks",
      "https://0x0a.0.0.1/hooks",
      "https://0.0.0.0/hooks",
      "https://224.0.0.1/hooks",
      "https://240.0.0.1/hooks",
      "https://metadata.google.internal/hooks",
    ].map((url): [unknown, string] => [{ url, event_types: ["student.created"] }, "url"]),
    [{ url: "https://crm.example.kz/hooks", event_types: [] }, "event_types"],
    [{ url: "https://crm.example.kz/hooks", event_types: ["student.deleted"] }, "event_types.0"],
    [
      { url: "https://crm.example.kz/hooks", event_types: ["student.created", "student.created"] },
      "event_types",
    ],
    [{ url: "https://crm.example.kz/hooks", event_types: ["student.created"], secret: "hunter2" }, "secret"],
  ];
  const [{ before }] = await sql`select count(*)::int as before from private.webhook_endpoints`;
  for (const [body, path] of cases) {
    const error = await expectError(
      await callAs(saule.id, "webhooks/endpoints", body),
      400,
      "validation_failed",
    );
    assert.equal(error.error.details[0].path, path, JSON.stringify(body));
  }
  const [{ after }] = await sql`select count(*)::int as after from private.webhook_endpoints`;
  assert.equal(after, before);
  await expectError(
    await callAs(saule.id, `webhooks/endpoints/${crypto.randomUUID()}/resume`, {}),
    404,
    "endpoint_not_found",
  );
  await expectError(
    await callAs(saule.id, "webhooks/deliveries/999999999/resend", {}),
    404,
    "delivery_not_found",
  );
  await expectError(await callFunction("webhooks/deliver", { method: "POST" }), 401, "missing_token");

  // An admin's own secret is used as given; a disabled endpoint takes nothing more.
  const own = `whsec_${btoa("the-academy-chose-this-secret-itself")}`;
  const endpoint = await expectJson(
    await callAs(saule.id, "webhooks/endpoints", {
      url: "https://93.184.215.14/hooks",
      event_types: ["student.created"],
      secret: own,
      description: "amoCRM",
    }),
    201,
  );
  assert.equal(endpoint.secret, own);
  const disabled = await expectJson(await callAs(saule.id, `webhooks/endpoints/${endpoint.id}/disable`, {}));
  assert.equal(disabled.state, "disabled");
  await expectError(
    await callAs(saule.id, `webhooks/endpoints/${endpoint.id}/resume`, {}),
    404,
    "endpoint_not_found",
  );
});

story("a delivery goes only to a public address, checked again when it is sent", async () => {
  await disableOthers();
  const crm = startCrm();
  try {
    const endpoint = await register(crm.url, ["student.created"]);
    crm.state.secrets.push(endpoint.secret);
    // As if the endpoint's name resolved inside the network now (DNS rebinding), or it was registered before
    // the rule: the stored host is a private address.
    await sql`update private.webhook_endpoints set url = 'https://10.20.30.40/hooks' where id = ${endpoint.id}`;
    await enrol(`Rebound ${crypto.randomUUID().slice(0, 6)}`);
    const run = await deliver();
    assert.deepEqual([run.attempted, run.delivered, run.failed_attempts], [1, 0, 1]);
    const list = await expectJson(await callAs(saule.id, `webhooks/deliveries?endpoint_id=${endpoint.id}`));
    const [attempt] = list.deliveries[0].recent_attempts;
    assert.equal(attempt.response_status, null);
    assert.match(
      attempt.error,
      /^not sent: the URL must reach a public address \(10\.20\.30\.40 is private\)/,
    );
    assert.equal(crm.received.length, 0);
  } finally {
    await crm.close();
  }
});

story(
  "a slow CRM and a dead one delay no other endpoint: each is served in its own lane, slowness counts against it",
  async () => {
    await disableOthers();
    const [healthy, slow, dead] = [startCrm(), startCrm(), startCrm()];
    slow.state.delayMs = 2_500; // answers 200, slower than the 2 s an answer may take
    dead.state.delayMs = 6_000; // past the 5 s an attempt waits
    try {
      const endpoints = [];
      for (const crm of [healthy, slow, dead]) {
        const endpoint = await register(crm.url, ["student.created"]);
        crm.state.secrets.push(endpoint.secret);
        endpoints.push(endpoint);
      }
      const count = 24;
      for (let i = 0; i < count; i++) await enrol(`Lane ${i} ${crypto.randomUUID().slice(0, 6)}`);
      const started = performance.now();
      const run = await deliver();
      const runMs = performance.now() - started;
      // The healthy CRM got every event in this one run, while the others held their lanes.
      assert.equal(healthy.received.length, count, JSON.stringify(run));
      assert.ok(slow.received.length >= 1, "the slow one delivers, one at a time once slow");
      assert.ok(slow.received.length < count);
      assert.equal(dead.received.length, 0);
      assert.ok(run.slow_answers >= 1, JSON.stringify(run));
      assert.equal(run.more, true, "the slow lane still has due deliveries: the run calls the next one");
      assert.ok(runMs < 10_000, `the run ended with its deadline: ${runMs} ms`);
      const states = await sql<{ id: string; consecutive_failures: number }[]>`
        select id, consecutive_failures from private.webhook_endpoints where id in ${
        sql(endpoints.map((endpoint) => endpoint.id))
      }`;
      const strikes = Object.fromEntries(states.map((row) => [row.id, row.consecutive_failures]));
      assert.equal(strikes[endpoints[0].id], 0);
      assert.ok(strikes[endpoints[1].id] >= 1, "slow answers count against the slow endpoint");
      assert.ok(strikes[endpoints[2].id] >= 1);
    } finally {
      await disableOthers(); // the runs this one started find nothing more
      for (const crm of [healthy, slow, dead]) crm.state.delayMs = 0;
      await Promise.all([healthy.close(), slow.close(), dead.close()]);
    }
  },
);
