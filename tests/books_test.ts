/**
 * The books: a sale, its refunds and its place in the history outlive the login (docs/architecture.md,
 * Personal data). Deleting a user as Supabase's dashboard does removes only the login.
 */
import assert from "node:assert/strict";
import { aida } from "./support/fixtures.ts";
import { complete, enrol, watch } from "./support/learning.ts";
import { expectJson } from "./support/responses.ts";
import { appDatabase, callAs, callFunction, refreshAnalytics, story, tokenFor } from "./support/server.ts";

const sql = appDatabase.sql;

/** Every figure the analytics hold, in a stable order (what a rebuild must reproduce). */
async function figures() {
  const standings = await sql`
    select period, manager_id, revenue::text, students_created, certificates_issued
    from analytics.leaderboard_standings order by period, manager_id`;
  const days = await sql`
    select day, students_created, revenue::text, lessons_completed from analytics.academy_daily_totals order by day`;
  return { standings: standings.map((row) => ({ ...row })), days: days.map((row) => ({ ...row })) };
}

/** What the books hold of one student's sale. */
async function booksOf(studentId: string) {
  const [row] = await sql`
    select t.payment_amount::text, t.refunded_amount::text, t.granted_by, t.email,
           (select count(*)::int from public.student_refunds r where r.user_id = t.user_id) as refunds,
           (select count(*)::int from public.sales_activity_log a where a.student_id = t.user_id) as feed,
           (select count(*)::int from public.student_progress p where p.user_id = t.user_id
            and p.status = 'completed') as completed
    from public.tripwire_users t where t.user_id = ${studentId}`;
  return row ? { ...row } : undefined;
}

story(
  "deleting a login as Supabase's dashboard does keeps the sale, its refunds and every figure",
  async (t) => {
    const student = await enrol("Deleted Login");
    await watch(sql, student, 67, 0, 480, 20);
    await expectJson(await complete(student, 67));
    await expectJson(
      await callAs(aida.id, `students/${student.id}/refund`, { amount: 90, reason: "part" }),
    );
    await refreshAnalytics(true);
    const before = { books: await booksOf(student.id), figures: await figures() };
    assert.equal(before.books?.refunds, 1);

    await t.step("the login goes, the person is marked, the books stay", async () => {
      await sql`delete from auth.users where id = ${student.id}`;
      const [person] = await sql`select login_deleted_at from public.users where id = ${student.id}`;
      assert.ok(person.login_deleted_at instanceof Date);
      assert.deepEqual(await booksOf(student.id), before.books);
    });

    await t.step("a refresh and the nightly rebuild give the same figures as before", async () => {
      await refreshAnalytics(false);
      assert.deepEqual(await figures(), before.figures);
      await refreshAnalytics(true);
      assert.deepEqual(await figures(), before.figures);
    });

    await t.step("the students list still shows the sale to its manager", async () => {
      const list = await expectJson(
        await callFunction(`students?q=${encodeURIComponent("deleted login")}`, {
          headers: { authorization: `Bearer ${await tokenFor(aida.id)}` },
        }),
      );
      assert.ok(list.students.some((row: { id: string }) => row.id === student.id));
    });
  },
);

story(
  "nothing in the books can be deleted from under a sale: the person, the sale, its refunds",
  async () => {
    const student = await enrol("Undeletable Sale");
    await expectJson(
      await callAs(aida.id, `students/${student.id}/refund`, { amount: 10, reason: "part" }),
    );
    for (
      const statement of [
        sql`delete from public.users where id = ${student.id}`,
        sql`delete from public.tripwire_users where user_id = ${student.id}`,
        sql`delete from public.users where id = ${aida.id}`,
      ]
    ) {
      await assert.rejects(statement, (error: { code: string }) => ["23503", "42501"].includes(error.code));
    }
    assert.equal((await booksOf(student.id))?.refunds, 1);
  },
);
