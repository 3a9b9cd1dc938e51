/** Events out, the rules: written in their cause's transaction, endpoints managed by admins only and public only, one lane each. */
import assert from "node:assert/strict";
import { aida, saule } from "./support/fixtures.ts";
import { enrol, watch } from "./support/learning.ts";
import { startCrm } from "./support/crm_server.ts";
import { expectError, expectJson } from "./support/responses.ts";
import { callAs, callFunction, story } from "./support/server.ts";
import { eventData, type EventType } from "../supabase/functions/_domain/events.ts";
import { deliver, disableOthers, register, sql } from "./support/webhooks.ts";

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
