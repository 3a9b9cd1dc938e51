/**
 * The second sale's figures, end to end over HTTP: managers sell (directly and through a payment link), students
 * watch and complete or stall, the Main platform's signed purchases arrive (through the upgrade link, by e-mail,
 * unmatched, ten copies at once, refunded), and every figure — the funnel, the revenue per currency, the medians,
 * the managers' ranking, the weekly cohorts — equals a plain SQL recount of the base rows, in every period and
 * scope, after the minute refresh and after a later incremental one.
 */
import assert from "node:assert/strict";
import { aida, daniyar, saule } from "./support/fixtures.ts";
import { graduate, watch } from "./support/learning.ts";
import { fromMainPlatform, purchased, refunded, runJob, sell, unique } from "./support/main_platform.ts";
import { orderPaid, paymentLink, postStandard, signedStandard } from "./support/orders.ts";
import { expectError, expectJson } from "./support/responses.ts";
import { appDatabase, callAs, callFunction, story } from "./support/server.ts";
import { meetAtLock } from "./support/barrier.ts";

const sql = appDatabase.sql;
await sql`update academy.settings set main_course_checkout_url = 'https://main.example.kz/checkout'`;

/** The funnel as plain SQL over the base rows: no kept sum, no funnel row. */
async function recount(scope: string | null, from: string | null, to: string) {
  const [counts] = await sql`
    with cohort as (
      select t.user_id, t.created_at from public.tripwire_users t
      where (t.created_at at time zone (select time_zone from academy.settings))::date
              between coalesce(${from}::date, '-infinity') and ${to}::date
        and (${scope}::uuid is null or t.granted_by = ${scope}::uuid)
    ),
    first_purchase as (
      select p.student_id, min(p.purchased_at) as bought_at from private.main_course_purchases p
      where p.refunded_at is null group by p.student_id
    )
    select count(*)::int as sold,
           count(*) filter (where exists (select from public.student_progress sp
                                           where sp.user_id = c.user_id and sp.started_at is not null))::int
             as started,
           count(ce.user_id)::int as completed,
           count(fp.student_id)::int as bought,
           percentile_disc(0.5) within group (order by floor(extract(epoch from fp.bought_at - c.created_at) / 86400))
             as from_sale,
           percentile_disc(0.5) within group (order by floor(extract(epoch from fp.bought_at - ce.issued_at) / 86400))
             filter (where ce.issued_at <= fp.bought_at) as from_completion
    from cohort c
    left join public.certificates ce on ce.user_id = c.user_id
    left join first_purchase fp on fp.student_id = c.user_id`;
  const revenue = await sql`
    select p.currency, sum(p.amount)::numeric(20, 2)::text as amount, count(distinct p.student_id)::int as buyers
    from private.main_course_purchases p join public.tripwire_users t on t.user_id = p.student_id
    where p.refunded_at is null
      and (t.created_at at time zone (select time_zone from academy.settings))::date
            between coalesce(${from}::date, '-infinity') and ${to}::date
      and (${scope}::uuid is null or t.granted_by = ${scope}::uuid)
    group by p.currency order by p.currency`;
  const rate = (part: number) => counts.sold > 0 ? Math.round((part / counts.sold) * 10_000) / 10_000 : null;
  const days = (value: number | string | null) => value === null ? null : Number(value);
  return {
    from,
    to,
    manager_id: scope,
    sold: counts.sold,
    started: counts.started,
    completed: counts.completed,
    bought: counts.bought,
    rates: { started: rate(counts.started), completed: rate(counts.completed), bought: rate(counts.bought) },
    revenue: [...revenue],
    median_days: { from_sale: days(counts.from_sale), from_completion: days(counts.from_completion) },
  };
}

const [{ today }] =
  await sql`select (now() at time zone time_zone)::date::text as today from academy.settings`;
const daysAgo = (n: number) =>
  new Date(Date.parse(`${today}T00:00:00Z`) - n * 86_400_000).toISOString().slice(0, 10);

/** Every period a screen asks for, in every scope: the API's figures equal the recount. */
async function everyFigureEqualsTheRecount(when: string) {
  const periods: [string | null, string][] = [
    [null, today],
    [daysAgo(29), today],
    [daysAgo(40), daysAgo(40)],
    [
      daysAgo(60),
      daysAgo(35),
    ],
  ];
  for (const [from, to] of periods) {
    const query = from ? `?from=${from}&to=${to}` : "";
    for (const [caller, scope] of [[saule.id, null], [aida.id, aida.id], [daniyar.id, daniyar.id]] as const) {
      const answer = await expectJson(await callAs(caller, `second-sale/figures${query}`));
      assert.deepEqual(answer, await recount(scope, from, to), `${when}: ${caller} ${from}…${to}`);
    }
    // An admin's choice of one manager.
    const one = await expectJson(
      await callAs(saule.id, `second-sale/figures${query || "?"}&manager_id=${aida.id}`),
    );
    assert.deepEqual(one, await recount(aida.id, from, to), `${when}: the admin reads Aida's`);
  }
}

story("A cohort end to end: every conversion figure equals a recount of the base rows", async () => {
  // Aida sells four and Daniyar three; one more comes through Aida's payment link as a paid order.
  const aidas = [];
  for (let i = 0; i < 4; i++) aidas.push(await sell(aida.id, `Aida Buyer ${i} ${unique()}`));
  const daniyars = [];
  for (let i = 0; i < 3; i++) daniyars.push(await sell(daniyar.id, `Daniyar Buyer ${i} ${unique()}`));
  const linkEmail = `link.${unique()}@example.kz`;
  const order = orderPaid(`order-${unique()}`, linkEmail, { metadata: { ref: await paymentLink(aida.id) } });
  const paid = await expectJson(await postStandard(signedStandard(order)));
  assert.equal(paid.outcome, "created");
  const [linked] = await sql`select granted_by from public.tripwire_users where user_id = ${paid.student_id}`;
  assert.equal(linked.granted_by, aida.id, "the link credits its manager");

  // Two of Aida's and one of Daniyar's were sold forty days ago.
  await sql`
    update public.tripwire_users set created_at = now() - interval '40 days'
    where user_id in ${sql([aidas[0].id, aidas[1].id, daniyars[0].id])}`;

  // Aida's first and Daniyar's first graduate; Aida's second and Daniyar's second only start; the rest stall.
  await graduate(sql, aidas[0]);
  await graduate(sql, daniyars[0]);
  await watch(sql, aidas[1], 67, 0, 30);
  await watch(sql, daniyars[1], 67, 0, 30);

  // Aida's graduate buys through his upgrade link (another e-mail); Daniyar's graduate by e-mail, in dollars.
  const offer = (await expectJson(
    await callFunction("student-dashboard", { headers: { authorization: `Bearer ${aidas[0].token}` } }),
  )).upgrade;
  const handoff = new URL(offer.checkout_url).searchParams.get("handoff");
  assert.equal(
    (await expectJson(
      await fromMainPlatform(purchased({ handoff, customer: { email: "other@example.kz" } })),
    ))
      .matched_by,
    "handoff",
  );
  await expectJson(
    await fromMainPlatform(
      purchased({ customer: { email: daniyars[0].email }, amount: "990", currency: "USD" }),
    ),
  );
  // Aida's starter buys and is refunded; someone nobody knows buys too.
  const refundedPurchase = purchased({ customer: { email: aidas[1].email } });
  await expectJson(await fromMainPlatform(refundedPurchase));
  await expectJson(await fromMainPlatform(refunded(refundedPurchase.data.purchase_id)));
  assert.equal(
    (await expectJson(await fromMainPlatform(purchased({ customer: { email: `nobody.${unique()}@x.kz` } }))))
      .outcome,
    "unmatched",
  );
  // Ten copies of Daniyar's third student's purchase, at once.
  const raced = purchased({ customer: { email: daniyars[2].email } });
  const answers = await meetAtLock(
    sql,
    (tx) => tx`lock table private.main_course_purchases in share mode`,
    10,
    () => Array.from({ length: 10 }, () => fromMainPlatform(raced).then((response) => expectJson(response))),
  );
  assert.equal(answers.filter((answer) => answer.outcome === "matched").length, 1);

  await runJob("second-sale/refresh");
  await everyFigureEqualsTheRecount("after the first refresh");
  // And what those figures are, said plainly: eight sold, four started, two completed, three bought.
  const all = await expectJson(await callAs(saule.id, "second-sale/figures"));
  assert.deepEqual([all.sold, all.started, all.completed, all.bought], [8, 4, 2, 3]);
  assert.deepEqual(all.revenue, [
    { currency: "KZT", amount: "300000.00", buyers: 2 },
    { currency: "USD", amount: "990.00", buyers: 1 },
  ]);
  assert.deepEqual(all.rates, { started: 0.5, completed: 0.25, bought: 0.375 });
  const fortyDaysAgo = await expectJson(
    await callAs(aida.id, `second-sale/figures?from=${daysAgo(40)}&to=${daysAgo(40)}`),
  );
  assert.deepEqual([fortyDaysAgo.sold, fortyDaysAgo.bought], [2, 1]);
  assert.ok(fortyDaysAgo.median_days.from_sale >= 40, "bought forty days after the sale");

  // The managers ranked by buyers, conversion and revenue; the figures are the recount's.
  for (const orderBy of ["bought", "conversion", "revenue", "sold"]) {
    const ranking = await expectJson(await callAs(saule.id, `second-sale/managers?order_by=${orderBy}`));
    for (const row of ranking.managers) {
      const recounted = await recount(row.manager_id, null, today);
      assert.deepEqual(
        {
          sold: row.sold,
          started: row.started,
          completed: row.completed,
          bought: row.bought,
          revenue: row.revenue,
        },
        {
          sold: recounted.sold,
          started: recounted.started,
          completed: recounted.completed,
          bought: recounted.bought,
          revenue: recounted.revenue,
        },
      );
    }
    const keys = ranking.managers.map((
      row: { bought: number; sold: number; conversion: number; revenue: [] },
    ) =>
      orderBy === "sold"
        ? row.sold
        : orderBy === "conversion"
        ? row.conversion
        : orderBy === "revenue"
        ? Number(
          (row.revenue as { currency: string; amount: string }[]).find((money) => money.currency === "KZT")
            ?.amount ?? 0,
        )
        : row.bought
    );
    assert.deepEqual(keys, [...keys].sort((a, b) => b - a), `ranked by ${orderBy}`);
  }
  // Managers see the same ranking, as they see the sales leaderboard; a student does not.
  assert.deepEqual(
    (await expectJson(await callAs(aida.id, "second-sale/managers"))).managers,
    (await expectJson(await callAs(saule.id, "second-sale/managers"))).managers,
  );
  await expectError(await callAs(aidas[0].id, "second-sale/managers"), 403, "forbidden");

  // The cohorts: sold per sale week, and who had bought by each week since.
  const { cohorts } = await expectJson(await callAs(saule.id, "second-sale/cohorts?weeks=8"));
  assert.equal(cohorts.length, 8);
  for (const cohort of cohorts) {
    const rows = await sql`
      with c as (
        select t.user_id from public.tripwire_users t
        where date_trunc('week', (t.created_at at time zone 'Asia/Almaty')::date)::date = ${cohort.week_start}::date
      )
      select (select count(*)::int from c) as sold,
             array(select count(*) filter (where date_trunc('week', fp.bought_at at time zone 'Asia/Almaty')::date
                                                 <= ${cohort.week_start}::date + 7 * k)::int
                   from generate_series(0, ${cohort.bought_by_week.length - 1}) as k
                   left join (select p.student_id, min(p.purchased_at) as bought_at
                              from private.main_course_purchases p join c on c.user_id = p.student_id
                              where p.refunded_at is null group by p.student_id) fp on true
                   group by k order by k) as bought`;
    assert.equal(cohort.sold, rows[0].sold, cohort.week_start);
    assert.deepEqual(cohort.bought_by_week, rows[0].bought, cohort.week_start);
  }

  // Later changes reach the figures by the next (incremental) refresh: a purchase, a refund, a start.
  const late = purchased({ customer: { email: aidas[2].email }, amount: "120000.50" });
  await expectJson(await fromMainPlatform(late));
  await expectJson(await fromMainPlatform(refunded(raced.data.purchase_id)));
  await watch(sql, aidas[3], 67, 0, 20);
  await runJob("second-sale/refresh");
  await everyFigureEqualsTheRecount("after an incremental refresh");
  // A refresh that finds nothing new changes nothing.
  await runJob("second-sale/refresh");
  await everyFigureEqualsTheRecount("after a refresh with nothing new");
  // A smoke test's student, counted by a refresh and then removed, takes its share of every sum along.
  const smoke = await sell(aida.id, `Smoke ${unique()}`);
  await watch(sql, smoke, 67, 0, 20);
  await expectJson(await fromMainPlatform(purchased({ customer: { email: smoke.email }, currency: "EUR" })));
  await runJob("second-sale/refresh");
  await everyFigureEqualsTheRecount("with the smoke test counted");
  await sql`insert into private.smoke_tests (student_id) values (${smoke.id})`;
  // (Its purchase first, as the smoke test's own clean-up would: a student with one is never removed silently.)
  await sql`delete from private.main_course_purchases where student_id = ${smoke.id}`;
  await sql`select private.remove_smoke_test(${smoke.id})`;
  await everyFigureEqualsTheRecount("after the smoke test was removed");
});

story("Bad periods are refused with the field named", async () => {
  const bad = await expectError(
    await callAs(saule.id, `second-sale/figures?from=${today}&to=${daysAgo(3)}`),
    400,
    "validation_failed",
  );
  assert.ok(bad.error.details.some((detail: { path: string }) => detail.path === "from"));
  await expectError(await callAs(saule.id, "second-sale/cohorts?weeks=0"), 400, "validation_failed");
});
