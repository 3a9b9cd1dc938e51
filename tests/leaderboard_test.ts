/** The sales analytics proven against plain GROUP BYs: every period, the chart, refunds on their own day. */
import assert from "node:assert/strict";
import postgres from "postgres";

import { aida, asRole, daniyar, insertManager, insertStudent } from "./support/fixtures.ts";
import { enrol } from "./support/learning.ts";
import { getLeaderboard } from "../supabase/functions/leaderboard/leaderboard.ts";

import { appDatabase, callFunction, signedIn, story, tokenFor } from "./support/server.ts";
import { newStudentBody, postStudent } from "./support/students.ts";
import { expectJson } from "./support/responses.ts";

import {
  byManager,
  completeLesson,
  expectedLeaderboard,
  expectEveryPeriodAsGroupBy,
  getJson,
  periods,
  refresh,
  sql,
} from "./support/analytics.ts";

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
