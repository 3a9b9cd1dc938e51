/** The analytics over HTTP and PostgREST: who may read what, bad parameters, ETags, the feed's paging, refreshes. */
import assert from "node:assert/strict";
import postgres from "postgres";

import { aida, daniyar, saule } from "./support/fixtures.ts";
import { enrol } from "./support/learning.ts";

import { appDatabase, callFunction, story, tokenFor } from "./support/server.ts";
import { newStudentBody, postStudent } from "./support/students.ts";
import { expectJson } from "./support/responses.ts";

import { completeLesson, get, getJson, periods, refresh, sql } from "./support/analytics.ts";

story("only staff read analytics: a student → 403, a manager only their own, an admin anyone's", async () => {
  const student = await enrol("Curious Student");
  await refresh(); // the views hold every manager once refreshed, whatever ran before
  for (const path of ["leaderboard", "leaderboard/chart", "leaderboard/stats", "leaderboard/activity"]) {
    const asStudent = await callFunction(path, { headers: { authorization: `Bearer ${student.token}` } });
    assert.equal(asStudent.status, 403, path);
    assert.equal((await asStudent.json()).error.code, "forbidden");
    const anonymous = await callFunction(path);
    assert.equal(anonymous.status, 401, path);
    await anonymous.body?.cancel();
  }
  for (const path of ["leaderboard/stats", "leaderboard/chart", "leaderboard/activity"]) {
    const others = await get(`${path}?manager_id=${daniyar.id}`, aida.id);
    assert.equal(others.status, 403, path);
    await others.body?.cancel();
    const own = await get(`${path}?manager_id=${aida.id}`, aida.id);
    assert.equal(own.status, 200, path);
    await own.body?.cancel();
    const admin = await getJson(`${path}?manager_id=${daniyar.id}`, saule.id);
    assert.equal(admin.manager_id, daniyar.id, path);
  }
  // The admin without a manager: everyone's.
  const everyone = await getJson("leaderboard/stats", saule.id);
  assert.equal(everyone.manager_id, null);
  assert.equal(everyone.periods.all.rank, null);

  // The refresh is the scheduler's: a secret key, never a user's token.
  const noKey = await callFunction("leaderboard/refresh", { method: "POST" });
  assert.equal(noKey.status, 401);
  await noKey.body?.cancel();
  const managerToken = await callFunction("leaderboard/refresh", {
    method: "POST",
    headers: { authorization: `Bearer ${await tokenFor(aida.id)}` },
  });
  assert.equal(managerToken.status, 403);
  await managerToken.body?.cancel();
});

story("bad parameters → 400 with the field's path", async () => {
  const cases: [string, string][] = [
    ["leaderboard?period=year", "period"],
    ["leaderboard?limit=0", "limit"],
    ["leaderboard?limit=10000", "limit"],
    ["leaderboard?limit=abc", "limit"],
    ["leaderboard?limit=2.5", "limit"],
    ["leaderboard?sort=revenue", "sort"],
    ["leaderboard/chart?from=2026-11-20&to=2026-11-01", "from"],
    ["leaderboard/chart?from=2024-01-01&to=2026-01-01", "to"],
    ["leaderboard/chart?from=2026-02-30", "from"],
    ["leaderboard/chart?from=yesterday", "from"],
    ["leaderboard/stats?manager_id=42", "manager_id"],
    ["leaderboard/activity?before=not-a-cursor", "before"],
    [`leaderboard/activity?before=${btoa("2026-11-23T09:00:00Z|x")}`, "before"],
    ["leaderboard/activity?limit=101", "limit"],
  ];
  for (const [path, field] of cases) {
    const response = await get(path, aida.id);
    const body = await response.json();
    assert.equal(response.status, 400, path);
    assert.equal(body.error.code, "validation_failed", path);
    assert.equal(body.error.details[0].path, field, path);
  }
  // Only `from`: `to` is today, so a `from` too far back is refused by the SQL's own check.
  const tooLong = await get("leaderboard/chart?from=2020-01-01", aida.id);
  assert.equal(tooLong.status, 400);
  assert.match((await tooLong.json()).error.message, /366 days/);
});

story("every answer has an ETag; If-None-Match → 304 until the data changes", async () => {
  const first = await get("leaderboard?period=all", aida.id);
  const etag = first.headers.get("etag");
  assert.match(etag ?? "", /^"[A-Za-z0-9_-]{43}"$/);
  assert.equal(first.headers.get("cache-control"), "private, no-cache");
  const body = await first.json();
  assert.ok(body.refreshed_at);

  const again = await get("leaderboard?period=all", aida.id, { "if-none-match": etag! });
  assert.equal(again.status, 304);
  assert.equal(again.headers.get("etag"), etag);
  assert.equal(await again.text(), "");
  const weak = await get("leaderboard?period=all", aida.id, { "if-none-match": `"other", W/${etag}` });
  assert.equal(weak.status, 304);
  await weak.body?.cancel();

  const sold = await postStudent(aida.id, newStudentBody("ETag Buyer", { send_welcome_email: false }));
  assert.equal(sold.status, 201);
  await sold.body?.cancel();
  await refresh();
  const changed = await get("leaderboard?period=all", aida.id, { "if-none-match": etag! });
  assert.equal(changed.status, 200);
  assert.notEqual(changed.headers.get("etag"), etag);
  await changed.body?.cancel();

  for (const path of ["leaderboard/chart", "leaderboard/stats", "leaderboard/activity"]) {
    const response = await get(path, aida.id);
    const tag = response.headers.get("etag")!;
    await response.body?.cancel();
    const cached = await get(path, aida.id, { "if-none-match": tag });
    assert.equal(cached.status, 304, path);
    await cached.body?.cancel();
  }
});

story(
  "the activity feed pages by (created_at, id) with a cursor, newest first, without gaps or repeats",
  async () => {
    // Daniyar's own sales make sure his feed spans several pages, whatever ran before, and one of his
    // students completes a module: two events written in one transaction, sharing a microsecond time.
    const sales: string[] = [];
    for (let sale = 0; sale < 8; sale++) {
      const sold = await postStudent(
        daniyar.id,
        newStudentBody(`Feed Buyer ${sale}`, { send_welcome_email: false }),
      );
      sales.push((await expectJson(sold, 201)).id);
    }
    await completeLesson({ id: sales[0], token: await tokenFor(sales[0]) }, 67);
    const feed = await sql<{ id: string }[]>`
    select id from public.sales_activity_log where manager_id = ${daniyar.id} order by created_at desc, id desc`;
    const [pair] = await sql<{ count: number }[]>`
      select count(*)::int as count from public.sales_activity_log
      where manager_id = ${daniyar.id} group by created_at having count(*) > 1 limit 1`;
    assert.ok(pair, "two events share a time");
    // Every page size, so that some page ends between the two events of one transaction.
    for (const size of [1, 2, 7]) {
      const seen: number[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 1000; page++) {
        const path: string = `leaderboard/activity?limit=${size}${cursor ? `&before=${cursor}` : ""}`;
        const body = await getJson(path, daniyar.id);
        assert.ok(body.events.length <= size);
        seen.push(...body.events.map((event: { id: number; manager_id: string }) => {
          assert.equal(event.manager_id, daniyar.id);
          return event.id;
        }));
        cursor = body.next_cursor;
        if (!cursor) break;
      }
      assert.deepEqual(seen, feed.map((row) => Number(row.id)), `pages of ${size}`);
    }
  },
);

story("reads never wait for a refresh, and a second refresh while one runs does nothing", async () => {
  // A refresh that has done its work but not committed holds every view's refresh lock.
  const holder = postgres(appDatabase.url, { max: 1, onnotice: () => {} });
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  let refreshed!: () => void;
  const refreshDone = new Promise<void>((resolve) => refreshed = resolve);
  const transaction = holder.begin(async (tx) => {
    await tx`select analytics.refresh_sales_stats()`;
    refreshed();
    await released;
  });
  try {
    await refreshDone;
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error("a read waited for the refresh")), 10_000)
    );
    const reads = Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const response = await get(`leaderboard?period=${periods[i % 4]}`, aida.id);
        await response.body?.cancel();
        return response.status;
      }),
    );
    assert.deepEqual(await Promise.race([reads, timeout]), Array(20).fill(200));
    const second = await refresh();
    assert.equal(second.refreshed, false);
  } finally {
    release();
    await transaction;
    await holder.end();
  }

  // And under real concurrency: refreshes one after another while 100 reads run.
  const refreshes = (async () => {
    for (let i = 0; i < 5; i++) await refresh();
  })();
  const statuses = await Promise.all(Array.from({ length: 100 }, async (_, i) => {
    const response = await get(`leaderboard?period=${periods[i % 4]}`, daniyar.id);
    await response.body?.cancel();
    return response.status;
  }));
  await refreshes;
  assert.deepEqual(statuses, Array(100).fill(200));
});
