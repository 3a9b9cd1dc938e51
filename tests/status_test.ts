/**
 * Is it healthy? The public answer says ok or degraded and nothing else; Saule's report says why, with the
 * build, the migration, the outbox, the webhooks, the orders waiting and the last hour's requests per route —
 * counted in memory and written at most once a minute, here on demand.
 */
import assert from "node:assert/strict";
import { build } from "../supabase/functions/_generated/build.ts";
import { writeRequestFigures } from "../supabase/functions/_shared/request_figures.ts";
import { statusReport } from "../supabase/functions/status/status.ts";
import { createMigratedDatabase } from "./support/database.ts";
import { aida, saule } from "./support/fixtures.ts";
import { expectError, expectJson } from "./support/responses.ts";
import { callAs, callFunction, story } from "./support/server.ts";

story("the public status says ok or degraded, and nothing more", async () => {
  const response = await callFunction("status");
  const body = await response.json();
  assert.ok(response.status === 200 || response.status === 503, String(response.status));
  assert.deepEqual(Object.keys(body), ["status"]);
  assert.equal(body.status, response.status === 200 ? "ok" : "degraded");
  assert.equal(response.headers.get("cache-control"), "no-store");
});

story("Saule's report: build and migration, and every request of the hour by route", async (t) => {
  await expectError(await callAs(aida.id, "status/report"), 403, "forbidden");

  await t.step("requests are counted by route pattern and written on demand", async () => {
    for (let i = 0; i < 3; i++) await expectJson(await callAs(aida.id, "leaderboard"));
    await expectError(await callAs(aida.id, "students/not-a-uuid"), 400, "validation_failed");
    await writeRequestFigures();
    const report = await expectJson(await callAs(saule.id, "status/report"));
    const route = (fn: string, name: string) =>
      report.requests.find((row: { function: string; route: string }) =>
        row.function === fn && row.route === name
      );
    assert.ok(route("leaderboard", "GET /").requests >= 3, JSON.stringify(report.requests));
    assert.ok(route("leaderboard", "GET /").p50_ms > 0);
    const refused = route("students", "GET /:id");
    assert.ok(refused.client_errors >= 1 && refused.server_errors === 0, JSON.stringify(refused));
    assert.ok(!report.requests.some((row: { route: string }) => /[0-9a-f]{8}-/.test(row.route)), "no ids");

    assert.equal(report.database.reachable, true);
    assert.ok(report.database.latency_ms >= 0);
    assert.deepEqual(report.build, {
      source: build.source,
      migration_expected: build.migration,
      migration_applied: build.migration,
    });
    assert.equal(report.scheduler, "outside", "no pg_cron here: npm start runs the jobs");
    assert.deepEqual(report.jobs, []);
    assert.equal(report.configuration.email_provider, "log");
  });
});

story("a fresh project is ok; a paused endpoint and a waiting order each make it degraded", async () => {
  const fresh = await createMigratedDatabase();
  try {
    const clean = await statusReport(fresh.sql);
    assert.deepEqual(clean.problems, []);
    assert.equal(clean.status, "ok");

    const [endpoint] = await fresh.sql`
      insert into private.webhook_endpoints (url, event_types, sealed_secret, paused_at, created_by)
      values ('https://crm.example.kz/hooks', '{student.created}', ${`v1.${"A".repeat(16)}.${
      "B".repeat(24)
    }`},
              now(), ${saule.id})
      returning id`;
    const paused = await statusReport(fresh.sql);
    assert.equal(paused.status, "degraded");
    assert.deepEqual(paused.problems.map((problem) => problem.code), ["webhook_endpoint_paused"]);
    assert.equal(paused.webhooks?.paused_endpoints, 1);
    await fresh.sql`update private.webhook_endpoints set paused_at = null where id = ${endpoint.id}`;

    await fresh.sql`
      insert into private.payment_reviews (provider, order_id, kind, reason, amount, currency)
      values ('standard', 'order-waiting', 'order', 'price_mismatch', 100, 'KZT')`;
    const waiting = await statusReport(fresh.sql);
    assert.deepEqual(waiting.problems.map((problem) => problem.code), ["payments_waiting"]);
    assert.equal(waiting.payment_reviews_waiting, 1);
  } finally {
    await fresh.drop();
  }
});

story("a minute's figures add up: a key given twice in one write, and again in the next", async () => {
  const fresh = await createMigratedDatabase();
  try {
    const tally = (requests: number, buckets: number[]) => ({
      minute: "2026-12-07T10:00:00Z",
      function: "leaderboard",
      route: "GET /",
      requests,
      client_errors: 1,
      server_errors: 0,
      buckets,
    });
    const twelve = (first: number) => [first, ...new Array(11).fill(0)];
    const write = (tallies: unknown[]) =>
      fresh.sql`select private.record_request_minutes(${fresh.sql.json(tallies as never)})`;
    await write([tally(3, twelve(3)), tally(2, [0, 2, ...new Array(10).fill(0)])]);
    await write([tally(5, twelve(5))]);
    const [row] = await fresh.sql`
      select requests, client_errors, latency_buckets from private.request_minutes`;
    assert.deepEqual({ ...row }, {
      requests: 10,
      client_errors: 3,
      latency_buckets: [8, 2, ...new Array(10).fill(0)],
    });
  } finally {
    await fresh.drop();
  }
});
