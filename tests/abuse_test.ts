/**
 * Inputs a hostile or careless client sends that once passed validation and failed later (a 500, a
 * database CHECK's vague refusal, a blank name on a certificate): each is now a field-level 400 that
 * changes nothing, or a 405.
 */
import assert from "node:assert/strict";
import { encodeCursor } from "../supabase/functions/_shared/paging.ts";
import { aida, daniyar, insertManager, saule } from "./support/fixtures.ts";
import { enrol, heartbeat } from "./support/learning.ts";
import { meetAtLock } from "./support/barrier.ts";
import { expectError, expectJson } from "./support/responses.ts";
import { createMigratedDatabase } from "./support/database.ts";
import { appDatabase, baseUrl, callFunction, story, tokenFor } from "./support/server.ts";
import { newStudentBody, postStudent, rowCounts } from "./support/students.ts";

async function asManager(path: string): Promise<Response> {
  return await callFunction(path, { headers: { authorization: `Bearer ${await tokenFor(aida.id)}` } });
}

/** 400 validation_failed naming `field`. */
async function expectFieldError(response: Response, field: string) {
  const body = await expectError(response, 400, "validation_failed");
  assert.equal(body.error.details[0].path, field, JSON.stringify(body));
}

story("dates that are not on the calendar, or in year 0000, are a 400 on the field (not a 500)", async () => {
  for (const date of ["2026-02-30", "2026-04-31", "0000-01-01", "2026-13-01"]) {
    await expectFieldError(await asManager(`leaderboard/chart?from=${date}&to=2026-11-24`), "from");
    await expectFieldError(await asManager(`leaderboard/chart?from=2026-01-01&to=${date}`), "to");
  }
  for (const time of ["2026-02-30T10:00:00Z", "0000-01-01T00:00:00Z", "2026-11-24T25:00:00Z"]) {
    const cursor = encodeCursor({ createdAt: time, id: "1" });
    await expectFieldError(await asManager(`leaderboard/activity?before=${cursor}`), "before");
    const studentCursor = encodeCursor({ createdAt: time, id: crypto.randomUUID() });
    await expectFieldError(await asManager(`students?after=${studentCursor}`), "after");
  }
  // A real leap day is a date.
  assert.equal((await asManager("leaderboard/chart?from=2024-02-29&to=2024-03-01")).status, 200);
});

story(
  "names: NFC, well-formed, with a letter; zero-width or lone surrogates are refused before the database",
  async () => {
    const before = await rowCounts(appDatabase.sql);
    for (
      const name of ["\u200b\u200b\u200b", "   ", "\u200d\ufeff", "12345", "\ud800 Bolat", "Bolat\u0000"]
    ) {
      await expectFieldError(
        await postStudent(aida.id, newStudentBody("x", { full_name: name })),
        "full_name",
      );
    }
    // JSON with a lone surrogate escape, as a hostile client would send it.
    const raw = JSON.stringify(newStudentBody("x")).replace('"full_name":"x"', '"full_name":"\\udc00x"');
    await expectFieldError(await postStudent(aida.id, raw), "full_name");
    assert.deepEqual(await rowCounts(appDatabase.sql), before, "nothing written");

    // Decomposed "é" is stored composed, so the certificate prints what a search finds.
    const created = await expectJson(
      await postStudent(aida.id, newStudentBody("x", { full_name: "Ae\u0301lita" })),
      201,
    );
    assert.equal(created.full_name, "A\u00e9lita");
    const [row] = await appDatabase.sql<{ full_name: string }[]>`
    select full_name from public.tripwire_users where user_id = ${created.id}`;
    assert.equal(row.full_name, "A\u00e9lita");
  },
);

story("a playback rate a browser cannot play is a 400 on playback_rate, not a CHECK violation", async () => {
  const student = await enrol("Rate Student");
  for (const rate of [0.001, 0.05, 16.5]) {
    await expectFieldError(
      await heartbeat(student, { lesson_id: 67, segments: [], playback_rate: rate }),
      "playback_rate",
    );
  }
  const slowest = await heartbeat(student, { lesson_id: 67, segments: [], playback_rate: 0.0625 });
  assert.equal(slowest.status, 200);
  await slowest.body?.cancel();
});

story(
  "TRACE and TRACK, which fetch cannot even send, answer 405 with Allow from the local server",
  async () => {
    for (const method of ["TRACE", "TRACK", "CONNECT"]) {
      const connection = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(baseUrl).port) });
      try {
        const target = method === "CONNECT" ? "127.0.0.1:80" : "/functions/v1/leaderboard";
        await connection.write(
          new TextEncoder().encode(`${method} ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
        );
        const buffer = new Uint8Array(4096);
        const read = await connection.read(buffer);
        const answer = new TextDecoder().decode(buffer.subarray(0, read ?? 0));
        assert.match(answer, /^HTTP\/1\.1 (405|400)/, `${method}: ${answer.split("\r\n")[0]}`);
        if (method !== "CONNECT") assert.match(answer, /allow: GET, HEAD, POST, OPTIONS/i);
      } finally {
        connection.close();
      }
    }
  },
);

story(
  "a sale above the academy's ceiling (10,000,000 by default) is a 400 on payment_amount; nothing is written",
  async () => {
    const before = await rowCounts(appDatabase.sql);
    for (const amount of [10_000_000.01, 9_999_999_999.99, "99999999.00"]) {
      await expectFieldError(
        await postStudent(aida.id, newStudentBody("Rich", { payment_amount: amount })),
        "payment_amount",
      );
    }
    assert.deepEqual(await rowCounts(appDatabase.sql), before);
    const atCeiling = await postStudent(aida.id, newStudentBody("Ceiling", { payment_amount: 10_000_000 }));
    assert.equal((await expectJson(atCeiling, 201)).payment_amount, 10_000_000);
  },
);

story(
  "a manager's creations beyond the academy's rate answer 429 with Retry-After, and create nothing",
  async () => {
    const manager = await insertManager(appDatabase.sql, "Fast Seller");
    const [{ per_minute }] = await appDatabase.sql<{ per_minute: number }[]>`
    select student_creations_per_minute as per_minute from academy.settings`;
    await appDatabase.sql`update academy.settings set student_creations_per_minute = 3`;
    try {
      for (let i = 0; i < 3; i++) {
        await expectJson(
          await postStudent(manager.id, newStudentBody("Quick")),
          201,
        );
      }
      const before = await rowCounts(appDatabase.sql);
      const refused = await postStudent(manager.id, newStudentBody("One Too Many"));
      await expectError(refused, 429, "too_many_creations");
      const wait = Number(refused.headers.get("retry-after"));
      assert.ok(wait >= 1 && wait <= 60, `Retry-After ${wait}`);
      assert.deepEqual(await rowCounts(appDatabase.sql), before, "nothing written, no login made");
      // Another manager is not limited by this one.
      await expectJson(await postStudent(daniyar.id, newStudentBody("Other Manager's")), 201);
    } finally {
      await appDatabase.sql`update academy.settings set student_creations_per_minute = ${per_minute}`;
    }
  },
);

story("100 creations by one manager over 20 connections at once land exactly on the limit (30)", async () => {
  const manager = await insertManager(appDatabase.sql, "Crowded Seller");
  const [{ per_minute }] = await appDatabase.sql<{ per_minute: number }[]>`
    select student_creations_per_minute as per_minute from academy.settings`;
  await appDatabase.sql`update academy.settings set student_creations_per_minute = 30`;
  try {
    // The manager's admissions row exists, and the test holds it until ten creations wait for it.
    await appDatabase.sql`insert into private.creation_admissions (manager_id) values (${manager.id})`;
    const bodies = Array.from(
      { length: 100 },
      (_, i) => newStudentBody(`Crowd ${i}`, { send_welcome_email: false }),
    );
    const statuses = (await meetAtLock(
      appDatabase.sql,
      (tx) => tx`select 1 from private.creation_admissions where manager_id = ${manager.id} for update`,
      10,
      () =>
        Array.from({ length: 20 }, async (_, connection) => {
          const answers: number[] = [];
          for (let i = connection; i < bodies.length; i += 20) {
            const response = await postStudent(manager.id, bodies[i]);
            answers.push(response.status);
            await response.body?.cancel();
          }
          return answers;
        }),
    )).flat();
    assert.equal(statuses.filter((status) => status === 201).length, 30, statuses.join());
    assert.equal(statuses.filter((status) => status === 429).length, 70, statuses.join());
    const [{ created }] = await appDatabase.sql<{ created: number }[]>`
      select count(*)::int as created from public.tripwire_users where granted_by = ${manager.id}`;
    assert.equal(created, 30);
  } finally {
    await appDatabase.sql`update academy.settings set student_creations_per_minute = ${per_minute}`;
  }
});

story(
  "a student's heartbeats beyond 2 a second (after a burst of 10) answer 429 and write nothing",
  async () => {
    const student = await enrol("Hammering Student");
    const answers = [];
    for (let i = 0; i < 14; i++) {
      answers.push(
        await heartbeat(student, { lesson_id: 67, segments: [], position: 0 }),
      );
    }
    const statuses = answers.map((answer) => answer.status);
    assert.ok(statuses.slice(0, 10).every((status) => status === 200), statuses.join());
    const refused = answers.find((answer) => answer.status === 429)!;
    assert.ok(refused, statuses.join());
    await expectError(refused, 429, "too_many_heartbeats");
    assert.equal(refused.headers.get("retry-after"), "1");
    await Promise.all(answers.map((answer) => answer.bodyUsed ? undefined : answer.body?.cancel()));
    const [row] = await appDatabase.sql<{ heartbeat_count: number }[]>`
    select heartbeat_count from public.video_tracking where user_id = ${student.id} and lesson_id = 67`;
    assert.equal(
      row.heartbeat_count,
      statuses.filter((status) => status === 200).length,
      "a refused beat writes nothing",
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const again = await heartbeat(student, { lesson_id: 67, segments: [], position: 0 });
    assert.equal(again.status, 200, "the bucket refills");
    await again.body?.cancel();
  },
);

story("sums past numeric(14, 2) no longer break a refresh: the leaderboard adds them up", async () => {
  // A database of its own: rows as a data correction could write them, past what the API lets in.
  const database = await createMigratedDatabase();
  try {
    const manager = await insertManager(database.sql, "Whale Seller");
    await database.sql`
      insert into auth.users (id, aud, role, email, encrypted_password, created_at, updated_at)
      select gen_random_uuid(), 'authenticated', 'authenticated', format('whale-student.%s@example.kz', i), '', now(), now()
      from generate_series(1, 120) i`;
    await database.sql`
      insert into public.users (id, email, full_name, role)
      select id, email, 'Whale', 'student' from auth.users where email like 'whale-student.%'`;
    await database.sql`
      insert into public.tripwire_users (user_id, email, full_name, granted_by, payment_amount)
      select id, email, 'Whale', ${manager.id}, 9999999999.99 from public.users where email like 'whale-student.%'`;
    for (const rebuild of [false, true]) {
      const [{ report }] = await database
        .sql`select analytics.refresh_sales_stats(rebuild => ${rebuild}) as report`;
      assert.ok(report, "the refresh succeeded");
      const [row] = await database.sql<{ revenue: string; rank: number }[]>`
        select revenue::text, rank from analytics.leaderboard_standings where period = 'all' and manager_id = ${manager.id}`;
      assert.equal(row.revenue, "1199999999998.80");
      assert.equal(row.rank, 1);
      const [day] = await database.sql<{ revenue: string }[]>`
        select revenue::text from analytics.academy_daily_totals order by day desc limit 1`;
      assert.equal(day.revenue, "1199999999998.80");
    }
  } finally {
    await database.drop();
  }
});

story("a refresh that fails leaves the previous figures served, with their refreshed_at", async () => {
  const database = await createMigratedDatabase();
  try {
    const sql = database.sql;
    await sql`select analytics.refresh_sales_stats()`;
    const figures = () =>
      sql<{ refreshed_at: string; rows: number }[]>`
        select (select max(refreshed_at)::text from analytics.refresh_log) as refreshed_at,
               (select count(*)::int from analytics.leaderboard_standings) as rows`;
    const [before] = await figures();
    assert.ok(before.rows > 0);
    // A refresh that cannot finish (here: a 1 ms statement timeout) fails as a whole…
    await assert.rejects(
      sql.begin(async (tx) => {
        await tx`set local statement_timeout = '1ms'`;
        await tx`select analytics.refresh_sales_stats(rebuild => true)`;
      }),
      /statement timeout/,
    );
    // …and the figures served are the previous ones, saying when they were made.
    assert.deepEqual([...await figures()], [before]);
    await sql`select analytics.refresh_sales_stats()`;
    const [after] = await figures();
    assert.ok(after.refreshed_at > before.refreshed_at, "the next refresh goes through");
  } finally {
    await database.drop();
  }
});

story(
  "every route's query parameters refuse NUL and other control characters with a 400 on the field",
  async () => {
    const document = await (await fetch(`${baseUrl}/functions/v1/openapi.json`)).json();
    const token = await tokenFor(saule.id);
    let walked = 0;
    for (
      const [path, operations] of Object.entries<
        Record<string, { parameters?: { in: string; name: string }[] }>
      >(
        document.paths,
      )
    ) {
      for (const [method, operation] of Object.entries(operations)) {
        const queryNames = (operation.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name);
        for (const name of queryNames) {
          for (const character of ["\u0000", "\u0001", "\u001f", "\u007f", "\u0085"]) {
            const url = `${
              path.replace(/\{[^}]+\}/g, crypto.randomUUID()).replace(/^\//, "")
            }?${new URLSearchParams({ [name]: `a${character}b` })}`;
            const response = await callFunction(url, {
              method: method.toUpperCase(),
              headers: { authorization: `Bearer ${token}` },
            });
            const body = await expectError(response, 400, "validation_failed");
            assert.deepEqual(body.error.details, [{ path: name, message: "no control characters" }], url);
            walked++;
          }
        }
      }
    }
    assert.ok(walked >= 5 * 14, `walked ${walked} parameter values`);
  },
);
