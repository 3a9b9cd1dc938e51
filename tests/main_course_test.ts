/**
 * The second sale comes in: a graduate's upgrade link carries a handoff token; the Main platform's signed
 * purchases are matched (by the token, else the e-mail), credited to the manager who sold the tripwire, kept
 * when they match nobody, taken once however often (or however many at once) they arrive, and refunded.
 */
import assert from "node:assert/strict";
import { meetAtLock } from "./support/barrier.ts";
import { aida, saule } from "./support/fixtures.ts";
import { enrol, graduate } from "./support/learning.ts";
import { fromMainPlatform, purchased, refunded, unique } from "./support/main_platform.ts";
import { expectError, expectJson } from "./support/responses.ts";
import { appDatabase, callAs, callFunction, standardWebhooksSecret, story } from "./support/server.ts";

const sql = appDatabase.sql;
const checkout = "https://main.example.kz/checkout?plan=full";

async function dashboard(studentToken: string) {
  return await expectJson(
    await callFunction("student-dashboard", { headers: { authorization: `Bearer ${studentToken}` } }),
  );
}

async function purchaseRow(purchaseId: string) {
  const [row] = await sql`
    select student_id, manager_id, matched_by, amount::text as amount, currency, buyer_email, refund_id,
           refunded_at
    from private.main_course_purchases where purchase_id = ${purchaseId}`;
  return row;
}

await sql`
  update academy.settings
  set main_course_checkout_url = ${checkout}, main_course_offer_hours = 48, main_course_credits_tripwire = true`;

story(
  "A graduate is offered the main course; the purchase through the link is credited to her manager",
  async () => {
    const bolat = await enrol(`Bolat Upgrade ${unique()}`);
    // Before completion there is nothing to offer.
    assert.equal((await dashboard(bolat.token)).upgrade, null);
    const completion = await graduate(sql, bolat);

    const offer = (await dashboard(bolat.token)).upgrade;
    const link = new URL(offer.checkout_url);
    assert.equal(`${link.origin}${link.pathname}`, "https://main.example.kz/checkout");
    assert.equal(link.searchParams.get("plan"), "full", "the academy's own parameters stay");
    const token = link.searchParams.get("handoff")!;
    const claims = JSON.parse(atob(token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/")));
    assert.equal(claims.sub, bolat.id);
    assert.equal(claims.mgr, aida.id, "the token names the manager who sold the tripwire");
    assert.deepEqual(claims.credit, { amount: "490.00", currency: "KZT" });
    assert.deepEqual(offer.tripwire_credit, { amount: "490.00", currency: "KZT" });
    const [{ issued_at }] = await sql`select issued_at from public.certificates where user_id = ${bolat.id}`;
    assert.equal(
      offer.expires_at,
      new Date(Math.floor(issued_at.getTime() / 1000) * 1000 + 48 * 3_600_000).toISOString(),
    );

    // The same link on the certificate's page and in the course.completed event.
    const number = completion.certificate!.certificate_number;
    const [{ verification_code }] = await sql`
    select verification_code from public.certificates where certificate_number = ${number}`;
    const check = await expectJson(
      await callFunction(`complete-lesson/certificate/${number}/${verification_code}`),
    );
    assert.equal(check.upgrade.url, offer.url);
    assert.equal(check.upgrade.checkout_url, offer.checkout_url);
    const [event] = await sql`
    select data from private.webhook_events where student_id = ${bolat.id} and event_type = 'course.completed'`;
    assert.equal(event.data.upgrade.url, offer.url);

    // The link he is sent notes that he opened it and leads on to the checkout with his token.
    assert.match(offer.url, /\/functions\/v1\/second-sale\/upgrade\//);
    const opened = await callFunction(new URL(offer.url).pathname.replace("/functions/v1/", ""), {
      redirect: "manual",
    });
    await opened.body?.cancel();
    assert.equal(opened.status, 302);
    assert.equal(opened.headers.get("location"), offer.checkout_url);
    const [{ opens }] =
      await sql`select opens from private.upgrade_link_opens where student_id = ${bolat.id}`;
    assert.equal(opens, 1);
    const forged = await callFunction(`second-sale/upgrade/${token.slice(0, -4)}AAAA`, {
      redirect: "manual",
    });
    await expectError(forged, 404, "not_found");

    // He buys with another e-mail: the token names him.
    const message = purchased({ handoff: token, customer: { email: `someone.else.${unique()}@example.kz` } });
    const answer = await expectJson(await fromMainPlatform(message));
    assert.deepEqual(answer, {
      outcome: "matched",
      purchase_id: message.data.purchase_id,
      student_id: bolat.id,
      manager_id: aida.id,
      matched_by: "handoff",
    });
    assert.deepEqual(await purchaseRow(message.data.purchase_id), {
      student_id: bolat.id,
      manager_id: aida.id,
      matched_by: "handoff",
      amount: "150000.00",
      currency: "KZT",
      buyer_email: null,
      refund_id: null,
      refunded_at: null,
    });
    assert.equal((await dashboard(bolat.token)).upgrade, null, "bought: nothing more to offer");

    // The same message again (the platform retries) changes nothing.
    const again = await expectJson(await fromMainPlatform(message));
    assert.equal(again.outcome, "already_recorded");
    assert.equal(again.student_id, bolat.id);
    const [{ count }] = await sql`
    select count(*)::int from private.main_course_purchases where purchase_id = ${message.data.purchase_id}`;
    assert.equal(count, 1);

    // The refund takes the credit back, once; the offer stands again.
    const refund = refunded(message.data.purchase_id);
    assert.equal((await expectJson(await fromMainPlatform(refund))).outcome, "refunded");
    assert.equal((await expectJson(await fromMainPlatform(refund))).outcome, "already_refunded");
    assert.equal((await purchaseRow(message.data.purchase_id)).refund_id, refund.data.refund_id);
    assert.equal((await dashboard(bolat.token)).upgrade.url, offer.url);
  },
);

story(
  "Without a token the e-mail matches; a purchase matching nobody is kept for admins, never dropped",
  async () => {
    const dana = await enrol(`Dana Email ${unique()}`);
    const [{ email }] = await sql`select email from public.tripwire_users where user_id = ${dana.id}`;
    const byEmail = purchased({
      customer: { email: ` ${email.toUpperCase()} ` },
      amount: 320,
      currency: "USD",
    });
    const matched = await expectJson(await fromMainPlatform(byEmail));
    assert.equal(matched.outcome, "matched");
    assert.equal(matched.matched_by, "email");
    assert.equal(matched.student_id, dana.id);
    const row = await purchaseRow(byEmail.data.purchase_id);
    assert.equal(row.amount, "320.00");
    assert.equal(row.currency, "USD", "kept as it came, never converted");

    // A token not signed by the project (here: a forged one) is no reason to lose the purchase.
    const stranger = `stranger.${unique()}@example.kz`;
    const forged = `${btoa(JSON.stringify({ alg: "HS256" }))}.${btoa(JSON.stringify({ sub: dana.id }))}.AAAA`;
    const unmatched = purchased({ customer: { email: stranger }, handoff: forged });
    const answer = await expectJson(await fromMainPlatform(unmatched));
    assert.deepEqual(answer, {
      outcome: "unmatched",
      purchase_id: unmatched.data.purchase_id,
      student_id: null,
      manager_id: null,
      matched_by: null,
    });
    const list = await expectJson(await callAs(saule.id, "payments/main-course/unmatched?limit=100"));
    const listed = list.purchases.find((p: { purchase_id: string }) =>
      p.purchase_id === unmatched.data.purchase_id
    );
    assert.equal(listed.buyer_email, stranger);
    assert.equal(listed.amount, "150000.00");
    await expectError(await callAs(aida.id, "payments/main-course/unmatched"), 403, "forbidden");
  },
);

story("Ten copies of one purchase at once: one records it, nine find it recorded", async () => {
  const erlan = await enrol(`Erlan Race ${unique()}`);
  const [{ email }] = await sql`select email from public.tripwire_users where user_id = ${erlan.id}`;
  const message = purchased({ customer: { email } });
  // The table is held while the ten are sent: they all wait, then meet at the purchase's key.
  const answers = await meetAtLock(
    sql,
    (tx) => tx`lock table private.main_course_purchases in share mode`,
    10,
    () =>
      Array.from({ length: 10 }, () => fromMainPlatform(message).then((response) => expectJson(response))),
  );
  const outcomes = answers.map((answer) => answer.outcome).sort();
  assert.deepEqual(outcomes, [...Array(9).fill("already_recorded"), "matched"]);
  assert.ok(answers.every((answer) => answer.student_id === erlan.id));
  const [{ count }] = await sql`
    select count(*)::int from private.main_course_purchases where purchase_id = ${message.data.purchase_id}`;
  assert.equal(count, 1);
});

story("What is not the Main platform's, or not a purchase, changes nothing", async () => {
  const before = await sql`select count(*)::int as count from private.main_course_purchases`;
  const message = purchased({ customer: { email: `x.${unique()}@example.kz` } });
  // Signed with the checkout's secret, not the Main platform's.
  await expectError(await fromMainPlatform(message, standardWebhooksSecret), 401, "invalid_signature");
  const negative = await expectError(
    await fromMainPlatform(purchased({ amount: "-5" })),
    400,
    "validation_failed",
  );
  assert.ok(negative.error.details.some((detail: { path: string }) => detail.path === "data.amount"));
  await expectError(await fromMainPlatform(refunded(`never-${unique()}`)), 409, "purchase_unknown");
  const other = await expectJson(await fromMainPlatform({ type: "main_course.viewed", data: {} }));
  assert.equal(other.outcome, "ignored");
  const after = await sql`select count(*)::int as count from private.main_course_purchases`;
  assert.equal(after[0].count, before[0].count);
});
