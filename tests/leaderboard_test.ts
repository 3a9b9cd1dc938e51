import assert from "node:assert/strict";
import postgres from "postgres";
import { applyMigrations } from "../scripts/lib/database.ts";
import { createMigratedDatabase, migrationsProject } from "./support/database.ts";
import { aida, asRole, daniyar, insertManager, insertStudent, saule } from "./support/fixtures.ts";
import { complete, enrol } from "./support/learning.ts";
import {
  ActivityQuery,
  ChartQuery,
  getLeaderboard,
  LeaderboardQuery,
  maxChartDays,
} from "../supabase/functions/leaderboard/leaderboard.ts";
import { maxPageSize } from "../supabase/functions/_shared/paging.ts";
import { appDatabase, callFunction, serviceKey, signedIn, story, tokenFor } from "./support/server.ts";
import { newStudentBody, postStudent } from "./support/students.ts";
import { expectJson } from "./support/responses.ts";

const sql = appDatabase.sql;
const periods = ["day", "week", "month", "all"] as const;

async function get(path: string, userId: string, headers: Record<string, string> = {}): Promise<Response> {
  return await callFunction(path, {
    headers: { authorization: `Bearer ${await tokenFor(userId)}`, ...headers },
  });
}

async function getJson(path: string, userId: string) {
  return await expectJson(await get(path, userId));
}

async function refresh(rebuild = false): Promise<{ refreshed: boolean; views?: { view: string }[] }> {
  const response = await callFunction(`leaderboard/refresh${rebuild ? "?rebuild=true" : ""}`, {
    method: "POST",
    headers: { authorization: `Bearer ${serviceKey}` },
  });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  return body;
}

/** Marks a lesson fully watched, as many heartbeats would have, then completes it through HTTP. */
async function completeLesson(student: { id: string; token: string }, lessonId: number) {
  await sql`
    update public.video_tracking
    set watched_ranges = nummultirange(numrange(0, l.video_duration_seconds)),
        watched_seconds = l.video_duration_seconds, watch_percentage = 100, status = 'in_progress',
        qualified_at = now(), last_heartbeat_at = now()
    from public.tripwire_lessons l
    where l.id = ${lessonId} and video_tracking.lesson_id = l.id and video_tracking.user_id = ${student.id}`;
  const response = await complete(student, lessonId);
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
}

/**
 * The leaderboard's figures for a period computed the plain way: GROUP BY over the base tables, in
 * the academy's time zone, then ranked in TypeScript.
 */
async function expectedLeaderboard(period: (typeof periods)[number]) {
  const rows = await sql<
    {
      manager_id: string;
      full_name: string;
      revenue: string;
      refunds: string;
      students_created: number;
      students_active: number;
      students_learning: number;
      lessons_completed: number;
      certificates_issued: number;
    }[]
  >`
    with zone as (
      select time_zone as tz, (now() at time zone time_zone)::date as today from academy.settings
    ),
    bounds as (
      select tz, case ${period}
                   when 'day' then today
                   when 'week' then date_trunc('week', today)::date
                   when 'month' then date_trunc('month', today)::date
                 end as starts_on
      from zone
    ),
    sales as (
      select tu.granted_by as manager_id, count(*)::int as students_created, sum(tu.payment_amount) as revenue
      from public.tripwire_users tu, bounds b
      where b.starts_on is null or (tu.created_at at time zone b.tz)::date >= b.starts_on
      group by tu.granted_by
    ),
    refunded as (
      select tu.granted_by as manager_id, sum(r.amount) as refunds
      from public.student_refunds r join public.tripwire_users tu using (user_id), bounds b
      where b.starts_on is null or (r.created_at at time zone b.tz)::date >= b.starts_on
      group by tu.granted_by
    ),
    lessons as (
      select tu.granted_by as manager_id, count(*)::int as lessons_completed
      from public.student_progress sp join public.tripwire_users tu using (user_id), bounds b
      where sp.status = 'completed'
        and (b.starts_on is null or (sp.completed_at at time zone b.tz)::date >= b.starts_on)
      group by tu.granted_by
    ),
    certificates as (
      select tu.granted_by as manager_id, count(*)::int as certificates_issued
      from public.certificates c join public.tripwire_users tu using (user_id), bounds b
      where b.starts_on is null or (c.issued_at at time zone b.tz)::date >= b.starts_on
      group by tu.granted_by
    ),
    active as (
      -- the academy's own count: status active, now (the same in every period)
      select tu.granted_by as manager_id, count(*)::int as students_active
      from public.tripwire_users tu
      where tu.status = 'active'
      group by tu.granted_by
    ),
    learning as (
      -- watched something new or completed a lesson in the period (ever, for all)
      select tu.granted_by as manager_id, count(*)::int as students_learning
      from public.tripwire_users tu join private.student_activity a on a.user_id = tu.user_id, bounds b
      where a.last_activity_at >= coalesce(b.starts_on::timestamp at time zone b.tz, '-infinity')
      group by tu.granted_by
    )
    select u.id as manager_id, u.full_name,
           (coalesce(s.revenue, 0) - coalesce(r.refunds, 0))::numeric(14, 2)::text as revenue,
           coalesce(r.refunds, 0)::numeric(14, 2)::text as refunds,
           coalesce(s.students_created, 0) as students_created, coalesce(a.students_active, 0) as students_active,
           coalesce(g.students_learning, 0) as students_learning,
           coalesce(l.lessons_completed, 0) as lessons_completed, coalesce(c.certificates_issued, 0) as certificates_issued
    from public.users u
    left join sales s on s.manager_id = u.id
    left join refunded r on r.manager_id = u.id
    left join lessons l on l.manager_id = u.id
    left join certificates c on c.manager_id = u.id
    left join active a on a.manager_id = u.id
    left join learning g on g.manager_id = u.id
    where u.role = 'manager' or s.manager_id is not null or r.manager_id is not null`;
  const key = (
    row: (typeof rows)[number],
  ) => [Number(row.revenue), row.students_created, row.certificates_issued];
  const sorted = [...rows].sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    return y[0] - x[0] || y[1] - x[1] || y[2] - x[2];
  });
  return sorted.map((row) => ({
    rank: 1 +
      sorted.filter((other) => key(other).join() !== key(row).join() && greater(key(other), key(row))).length,
    manager_id: row.manager_id,
    full_name: row.full_name,
    revenue: Number(row.revenue),
    refunds: Number(row.refunds),
    students_created: row.students_created,
    students_active: row.students_active,
    students_learning: row.students_learning,
    lessons_completed: row.lessons_completed,
    certificates_issued: row.certificates_issued,
  }));
}

function greater(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return false;
}

const byManager = (rows: { manager_id: string }[]) =>
  Object.fromEntries(rows.map((row) => [row.manager_id, row])) as Record<string, unknown>;

/** The leaderboard of every period, as the function answers it, equals the plain GROUP BY. */
async function expectEveryPeriodAsGroupBy(when: string) {
  for (const period of periods) {
    const body = await getJson(`leaderboard?period=${period}&limit=100`, aida.id);
    assert.deepEqual(
      byManager(body.managers),
      byManager(await expectedLeaderboard(period)),
      `${period}, ${when}`,
    );
  }
}

story(
  "3 managers sell to 100 students: after a refresh the leaderboard and chart equal a plain GROUP BY",
  async (t) => {
    const bekzat = await insertManager(sql, "Bekzat Manager");
    const managers = [aida.id, daniyar.id, bekzat.id];
    const amounts = Array.from({ length: 100 }, (_, i) => 100 + i * 10);
    const created: { id: string; manager: string }[] = [];
    await t.step(
      "100 students sold by three managers, some of them days ago; six of them learn",
      async () => {
        for (let batch = 0; batch < 100; batch += 10) {
          await Promise.all(
            amounts.slice(batch, batch + 10).map(async (amount, offset) => {
              const manager = managers[(batch + offset) % 3];
              const response = await postStudent(
                manager,
                newStudentBody(`Buyer ${batch + offset}`, {
                  payment_amount: amount,
                  send_welcome_email: false,
                }),
              );
              const body = await response.json();
              assert.equal(response.status, 201, JSON.stringify(body));
              created[batch + offset] = { id: body.id, manager };
            }),
          );
        }
        // A history of three years: some sales 3, 10, 40, 400, 800 and 1,100 days ago (the rest today).
        const shifts: [number, number][] = [[1, 3], [2, 10], [3, 40], [4, 400], [5, 800], [6, 1100]];
        for (const [remainder, days] of shifts) {
          const ids = created.filter((_, i) => i % 7 === remainder).map((student) => student.id);
          await sql`
        update public.tripwire_users set created_at = created_at - make_interval(days => ${days})
        where user_id in (select jsonb_array_elements_text(${JSON.stringify(ids)}::text::jsonb)::uuid)`;
        }
        // Some students learn: six finish lesson 67, two of them the whole course.
        const learners = await Promise.all(
          [0, 1, 2, 3, 4, 5].map(async (i) => ({ id: created[i].id, token: await tokenFor(created[i].id) })),
        );
        for (const learner of learners) await completeLesson(learner, 67);
        for (const learner of learners.slice(0, 2)) {
          await completeLesson(learner, 68);
          await completeLesson(learner, 69);
        }
      },
    );

    await t.step("after a rebuild every period equals a plain GROUP BY", async () => {
      // Sales moved into days the history has closed: a rebuild recomputes them (as the nightly job does).
      const report = await refresh(true);
      assert.equal(report.refreshed, true);
      for (const period of periods) {
        const body = await getJson(`leaderboard?period=${period}&limit=100`, aida.id);
        const expected = await expectedLeaderboard(period);
        assert.equal(body.period, period);
        assert.equal(body.time_zone, "Asia/Almaty");
        assert.ok(Date.parse(body.refreshed_at) > Date.now() - 60_000, "refreshed just now");
        assert.deepEqual(byManager(body.managers), byManager(expected), period);
        // Ranked: ranks never go down the list, and the order is the leaderboard's.
        const ranks = body.managers.map((m: { rank: number }) => m.rank);
        assert.deepEqual(ranks, [...ranks].sort((a, b) => a - b));
      }
    });

    await t.step(
      "incrementally: closed days closed again from the base rows, today counted live",
      async () => {
        // Incrementally: the history forgets its last 5 closed days and more is sold today; a plain refresh
        // closes those days again from the base rows and counts today's sales live.
        await sql`delete from analytics.manager_daily_history
                where day > (select history_closed_through - 5 from academy.settings)`;
        await sql`update academy.settings set history_closed_through = history_closed_through - 5`;
        for (const manager of managers) {
          const sold = await postStudent(
            manager,
            newStudentBody("Late Buyer", { payment_amount: 1000, send_welcome_email: false }),
          );
          assert.equal(sold.status, 201);
          await sold.body?.cancel();
        }
        const incremental = await refresh();
        assert.equal(incremental.refreshed, true);
        await expectEveryPeriodAsGroupBy("incremental");
      },
    );

    await t.step(
      "a refund, then a new week and month begun and a day's learners gone stale between two refreshes",
      async () => {
        const refunded = await callFunction(`students/${created[7].id}/refund`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${await tokenFor(created[7].manager)}`,
            "content-type": "application/json",
          },
          body: JSON.stringify({ amount: 50, reason: "partly unhappy" }),
        });
        await expectJson(refunded);
        assert.equal((await refresh()).refreshed, true);
        await expectEveryPeriodAsGroupBy("refund");
        // As the last refresh left them had it run in the week and month before, with yesterday's learners:
        // the closed totals of the new week and month are recomputed, the old learners dropped.
        await sql`update analytics.manager_period_totals set starts_on = starts_on - 7 where period = 'week'`;
        await sql`
          update analytics.manager_period_totals set starts_on = (starts_on - interval '1 month')::date
          where period = 'month'`;
        // And a learner of today whose last activity was in fact two days ago: out of today's count.
        await sql`
          update private.student_activity set last_activity_at = last_activity_at - interval '2 days'
          where user_id = ${created[0].id}`;
        assert.equal((await refresh()).refreshed, true);
        await expectEveryPeriodAsGroupBy("new");
      },
    );

    await t.step("Bekzat's known amounts, in all time", async () => {
      // The known amounts: every sale of Bekzat's, in all time.
      const all = await getJson("leaderboard?period=all&limit=100", bekzat.id);
      const bekzatRow = all.managers.find((m: { manager_id: string }) => m.manager_id === bekzat.id);
      const bekzatAmounts = [...amounts.filter((_, i) => i % 3 === 2), 1000]; // and the late sale
      assert.equal(bekzatRow.revenue, bekzatAmounts.reduce((sum, amount) => sum + amount, 0));
      assert.equal(bekzatRow.students_created, bekzatAmounts.length);
    });

    await t.step("Bekzat's chart for the last 46 days: a GROUP BY per day, zeros filled in", async () => {
      // Bekzat's chart for the last 46 days: a GROUP BY per academy day, zeros filled in.
      const [{ today }] =
        await sql`select (now() at time zone time_zone)::date::text as today from academy.settings`;
      const from = new Date(Date.parse(`${today}T00:00:00Z`) - 45 * 86_400_000).toISOString().slice(0, 10);
      const chart = await getJson(`leaderboard/chart?from=${from}&to=${today}`, bekzat.id);
      assert.equal(chart.days.length, 46);
      assert.equal(chart.days[0].day, from);
      assert.equal(chart.days.at(-1).day, today);
      const perDay = await sql<{ day: string; revenue: string; students: number }[]>`
      select (tu.created_at at time zone s.time_zone)::date::text as day, sum(tu.payment_amount)::text as revenue,
             count(*)::int as students
      from public.tripwire_users tu cross join academy.settings s
      where tu.granted_by = ${bekzat.id}
      group by 1`;
      const expectedDays = Object.fromEntries(perDay.map((row) => [row.day, row]));
      for (const day of chart.days) {
        const expected = expectedDays[day.day];
        assert.equal(day.revenue, expected ? Number(expected.revenue) : 0, day.day);
        assert.equal(day.students_created, expected ? expected.students : 0, day.day);
      }
      assert.ok(chart.days.some((day: { revenue: number }) => day.revenue === 0), "gaps are zeros");
    });

    await t.step("Bekzat's stats: his row of every period, with his rank", async () => {
      // Bekzat's stats: his row of every period, with his rank.
      const stats = await getJson("leaderboard/stats", bekzat.id);
      assert.equal(stats.manager_id, bekzat.id);
      for (const period of periods) {
        const board = await expectedLeaderboard(period);
        const expected = board.find((row) => row.manager_id === bekzat.id)!;
        assert.equal(stats.periods[period].revenue, expected.revenue, period);
        assert.equal(stats.periods[period].rank, expected.rank, period);
        assert.equal(stats.periods[period].certificates_issued, expected.certificates_issued, period);
        assert.equal(stats.periods[period].students_active, expected.students_active, period);
        assert.equal(stats.periods[period].students_learning, expected.students_learning, period);
        assert.equal(stats.periods[period].managers_ranked, board.length, period);
        const leaderboard = await getJson(`leaderboard?period=${period}&limit=1`, bekzat.id);
        assert.equal(stats.periods[period].period_start, leaderboard.period_start, period);
      }
    });

    await t.step(
      "a manager added since the last refresh: zeros and no rank, among those ranked",
      async () => {
        const newcomer = await insertManager(sql, "Newcomer Manager");
        const stats = await getJson("leaderboard/stats", newcomer.id);
        assert.equal(stats.full_name, "Newcomer Manager");
        for (const period of periods) {
          const ranked =
            (await getJson(`leaderboard?period=${period}&limit=100`, newcomer.id)).managers.length;
          assert.deepEqual(
            { ...stats.periods[period], period_start: undefined },
            {
              period_start: undefined,
              rank: null,
              managers_ranked: ranked,
              revenue: 0,
              refunds: 0,
              students_created: 0,
              students_active: 0,
              students_learning: 0,
              lessons_completed: 0,
              certificates_issued: 0,
            },
            period,
          );
        }
      },
    );
  },
);

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

story(
  "through PostgREST's path (an API role with JWT claims) the RPCs check the caller the same way",
  async () => {
    const student = await enrol("RPC Student");
    await refresh(); // the views hold every manager once refreshed, whatever ran before
    const call = (role: "anon" | "authenticated", sub: string | undefined, statement: string) =>
      asRole(sql, role, sub ? { sub } : {}, (tx) => tx.unsafe(statement)).then(
        (rows) => ({ ok: rows[0] }),
        (error) => ({ code: error.code as string }),
      );
    const leaderboard = "select public.get_sales_leaderboard('all', 5) as result";
    assert.deepEqual(await call("anon", undefined, leaderboard), { code: "42501" });
    assert.deepEqual(await call("authenticated", student.id, leaderboard), { code: "42501" });
    const asManager = await call("authenticated", aida.id, leaderboard) as unknown as {
      ok: { result: { managers: unknown[] } };
    };
    assert.ok(asManager.ok.result.managers.length > 0);
    assert.deepEqual(
      await call("authenticated", aida.id, `select public.get_manager_stats('${daniyar.id}') as result`),
      { code: "42501" },
    );
    assert.deepEqual(
      await call("authenticated", aida.id, "select public.get_sales_leaderboard('year', 5) as result"),
      { code: "22023" },
    );
    // The views themselves are in a schema PostgREST does not serve; the refresh is the service role's.
    assert.deepEqual(await call("authenticated", aida.id, "select analytics.refresh_sales_stats()"), {
      code: "42501",
    });
    assert.deepEqual(await call("anon", undefined, "select * from analytics.leaderboard_standings"), {
      code: "42501",
    });
    // The function's way in (asCaller) leaves the pooled connection as it found it.
    const one = postgres(appDatabase.url, { max: 1, onnotice: () => {} });
    try {
      const board = await getLeaderboard(await signedIn(aida.id), { period: "all", limit: 3 }, one) as {
        managers: unknown[];
      };
      assert.equal(board.managers.length, 3);
      const [after] =
        await one`select current_user as role, current_setting('request.jwt.claims', true) as claims`;
      assert.deepEqual({ ...after }, { role: "postgres", claims: "" });
    } finally {
      await one.end();
    }
  },
);

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

Deno.test("a migration that adds an RPC is followed by `reload schema` on the pgrst channel", async () => {
  const database = await createMigratedDatabase();
  const listener = postgres(database.url, { max: 1, onnotice: () => {} });
  // A project folder with every migration and one more, as a developer adds one.
  const project = await migrationsProject(() => true, {
    "29991231000000_new_rpc.sql":
      "create function public.tripwire_new_rpc() returns integer language sql as $$ select 1 $$;\n",
  });
  try {
    const received: string[] = [];
    await listener.listen("pgrst", (payload) => received.push(payload));

    await applyMigrations(database.url, project.path);
    for (let i = 0; i < 50 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(received.includes("reload schema"), `got ${JSON.stringify(received)}`);
    const [row] = await database.sql`select to_regprocedure('public.tripwire_new_rpc()') as rpc`;
    assert.ok(row.rpc);
  } finally {
    await project.remove();
    await listener.end();
    await database.drop();
  }
});

story("the request schemas enforce exactly the SQL's limits (the SQL is the truth)", async () => {
  const [truth] = await sql<{ page: number; days: number }[]>`
    select analytics.max_page_size() as page, analytics.max_chart_days() as days`;
  assert.equal(maxPageSize, truth.page);
  assert.equal(maxChartDays, truth.days);
  for (const schema of [LeaderboardQuery, ActivityQuery]) {
    assert.equal(schema.safeParse({ limit: String(truth.page) }).success, true);
    assert.equal(schema.safeParse({ limit: String(truth.page + 1) }).success, false);
    assert.equal(schema.safeParse({ limit: "0" }).success, false);
  }
  const dayAfter = (first: string, days: number) =>
    new Date(Date.parse(`${first}T00:00:00Z`) + (days - 1) * 86_400_000).toISOString().slice(0, 10);
  assert.equal(
    ChartQuery.safeParse({ from: "2026-01-01", to: dayAfter("2026-01-01", truth.days) }).success,
    true,
  );
  assert.equal(
    ChartQuery.safeParse({ from: "2026-01-01", to: dayAfter("2026-01-01", truth.days + 1) }).success,
    false,
  );
});

story(
  "a refund subtracts on its own day: the sale's day keeps its revenue, the refund's day loses it",
  async (t) => {
    const manager = await insertManager(sql, "Refund Manager");
    const bolat = await insertStudent(sql, {
      managerId: manager.id,
      email: `bolat.net.${manager.id.slice(0, 8)}@example.kz`,
      fullName: "Bolat Net",
    });
    const dana = await insertStudent(sql, {
      managerId: manager.id,
      email: `dana.net.${manager.id.slice(0, 8)}@example.kz`,
      fullName: "Dana Net",
    });
    // Dana bought three days ago and completed a lesson; today she asks for 200 back.
    await sql`update public.tripwire_users set created_at = created_at - interval '3 days' where user_id = ${dana.id}`;
    await completeLesson({ id: dana.id, token: await tokenFor(dana.id) }, 67);
    const refunded = await callFunction(`students/${dana.id}/refund`, {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenFor(manager.id)}`, "content-type": "application/json" },
      body: JSON.stringify({ amount: 200, reason: "partly unhappy" }),
    });
    await expectJson(refunded);
    await refresh(true);

    await t.step("the chart: the sale on its day, the refund on today's", async () => {
      const [{ today }] =
        await sql`select (now() at time zone time_zone)::date::text as today from academy.settings`;
      const from = new Date(Date.parse(`${today}T00:00:00Z`) - 4 * 86_400_000).toISOString().slice(0, 10);
      const chart = await getJson(`leaderboard/chart?from=${from}&to=${today}`, manager.id);
      const byDay = Object.fromEntries(chart.days.map((day: { day: string }) => [day.day, day]));
      const saleDay = new Date(Date.parse(`${today}T00:00:00Z`) - 3 * 86_400_000).toISOString().slice(0, 10);
      assert.equal(byDay[saleDay].revenue, 490);
      assert.equal(byDay[saleDay].refunds, 0);
      assert.equal(byDay[today].revenue, 490 - 200, "Bolat's sale less Dana's refund");
      assert.equal(byDay[today].refunds, 200);
    });

    await t.step("the leaderboard and stats: net revenue, refunds, and Dana still learning", async () => {
      const all = await getJson("leaderboard?period=all&limit=100", manager.id);
      const row = all.managers.find((m: { manager_id: string }) => m.manager_id === manager.id);
      assert.equal(row.revenue, 780);
      assert.equal(row.refunds, 200);
      assert.equal(row.students_active, 2, "both are active: a partial refund keeps her access");
      assert.equal(row.students_learning, 1, "Dana completed a lesson; Bolat never started");
      const stats = await getJson("leaderboard/stats", manager.id);
      assert.equal(stats.periods.all.revenue, 780);
      assert.equal(stats.periods.day.refunds, 200);
      for (const period of periods) {
        const board = await getJson(`leaderboard?period=${period}&limit=100`, manager.id);
        assert.deepEqual(byManager(board.managers), byManager(await expectedLeaderboard(period)), period);
      }
    });

    await t.step(
      "the rest refunded: Dana is no longer active but did learn, and the sale nets to nothing",
      async () => {
        await expectJson(
          await callFunction(`students/${dana.id}/refund`, {
            method: "POST",
            headers: {
              authorization: `Bearer ${await tokenFor(manager.id)}`,
              "content-type": "application/json",
            },
            body: JSON.stringify({ amount: 290, reason: "the rest" }),
          }),
        );
        await refresh();
        const all = await getJson("leaderboard?period=all&limit=100", manager.id);
        const row = all.managers.find((m: { manager_id: string }) => m.manager_id === manager.id);
        assert.deepEqual(
          [row.revenue, row.refunds, row.students_active],
          [490, 490, 1],
          "Bolat is still active",
        );
        assert.equal(row.students_learning, 1, "she learned, whatever her status now");
      },
    );
    assert.ok(bolat.id);
  },
);
