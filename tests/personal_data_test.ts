/**
 * A person's data is theirs: a student downloads everything held about them, an admin exports it too, and
 * erasure replaces who they were with tombstones while the books and every figure stay as they were.
 */
import assert from "node:assert/strict";
import { aida, saule } from "./support/fixtures.ts";
import { graduate, type TestStudent } from "./support/learning.ts";
import { expectError, expectJson } from "./support/responses.ts";
import {
  appDatabase,
  baseUrl,
  callAs as as,
  callFunction,
  certificateFiles,
  refreshAnalytics,
  story,
  tokenFor,
} from "./support/server.ts";
import { newStudentBody, postStudent, tablesContaining } from "./support/students.ts";

const sql = appDatabase.sql;

/** The books and the figures an erasure must leave exactly as they were. */
async function booksAndFigures(studentId: string) {
  const [sale] = await sql`
    select t.payment_amount::text, t.refunded_amount::text, t.granted_by, t.status, t.created_at,
           s.lessons_completed, s.modules_completed, s.total_watch_seconds::text,
           (select count(*)::int from public.student_refunds r where r.user_id = t.user_id) as refunds,
           (select count(*)::int from public.student_progress p where p.user_id = t.user_id and p.status = 'completed')
             as completed,
           (select count(*)::int from public.sales_activity_log a where a.student_id = t.user_id) as feed,
           (select c.certificate_number from public.certificates c where c.user_id = t.user_id) as certificate
    from public.tripwire_users t join public.user_statistics s using (user_id) where t.user_id = ${studentId}`;
  const standings = await sql`
    select period, manager_id, revenue::text, refunds::text, students_created, students_active, lessons_completed,
           certificates_issued
    from analytics.leaderboard_standings order by period, manager_id`;
  return { sale: { ...sale }, standings: standings.map((row) => ({ ...row })) };
}

story(
  "Bolat graduates, asks for his data, then to be erased: the books stay, nothing names him",
  async (t) => {
    const body = newStudentBody("Bolat Erasable");
    const created = await expectJson(await postStudent(aida.id, body), 201);
    const bolat: TestStudent = { id: created.id, token: await tokenFor(created.id) };
    const certificate = (await graduate(sql, bolat)).certificate!;
    await expectJson(
      await as(aida.id, `students/${bolat.id}/refund`, { amount: 90, reason: "a partial refund" }),
    );

    await t.step("Bolat downloads everything held about him", async () => {
      const response = await callFunction("student-dashboard/export", {
        headers: { authorization: `Bearer ${bolat.token}` },
      });
      const document = await expectJson(response);
      assert.equal(response.headers.get("cache-control"), "no-store");
      assert.equal(document.person.email, body.email);
      assert.equal(document.login.email, body.email);
      assert.equal(document.purchase.payment_amount, 490);
      assert.deepEqual(document.refunds.map((refund: { amount: number }) => refund.amount), [90]);
      assert.equal(
        document.progress.filter((row: { status: string }) => row.status === "completed").length,
        3,
      );
      assert.equal(document.certificate.certificate_number, certificate.certificate_number);
      assert.ok(document.activity.length >= 1 && document.emails.length === 1);
      assert.deepEqual(
        document.audit.map((entry: { action: string }) => entry.action),
        ["student.created", "student.refunded"],
      );
      const text = JSON.stringify(document);
      assert.ok(
        !text.includes("sealed_password") && !text.includes(created.password),
        "no password in any form",
      );
      assert.ok(!text.includes("client_ip"), "no staff member's address");
    });

    await t.step(
      "an admin's export is the same document, and is audited; a manager may not export",
      async () => {
        const document = await expectJson(await as(saule.id, `students/${bolat.id}/export`));
        assert.equal(document.person.email, body.email);
        await expectError(await as(aida.id, `students/${bolat.id}/export`), 403, "forbidden");
        const [entry] = await sql`
      select actor_id from private.audit_log where target_id = ${bolat.id} and action = 'student.exported'`;
        assert.equal(entry.actor_id, saule.id);
      },
    );

    await refreshAnalytics(true);
    const before = await booksAndFigures(bolat.id);

    await t.step("only an admin erases; a manager gets 403 and nothing changes", async () => {
      await expectError(
        await as(aida.id, `students/${bolat.id}/erase`, { reason: "asked" }),
        403,
        "forbidden",
      );
      assert.ok((await tablesContaining(sql, body.email)).includes("public.tripwire_users"));
    });

    await t.step(
      "Saule erases him: no table or file holds his name or e-mail, his login is gone",
      async () => {
        const pdf = await callFunction(
          `complete-lesson/certificate/${certificate.certificate_number}/${certificate.verification_code}/certificate.pdf`,
        );
        assert.equal(pdf.status, 200);
        await pdf.body?.cancel();
        assert.equal(
          (await certificateFiles(certificate.certificate_number)).length,
          1,
          "his certificate's PDF",
        );
        const erased = await expectJson(
          await as(saule.id, `students/${bolat.id}/erase`, { reason: "his written request of 6 December" }),
        );
        assert.equal(erased.id, bolat.id);
        assert.deepEqual(await tablesContaining(sql, body.email), []);
        assert.deepEqual(await tablesContaining(sql, "Bolat Erasable"), []);
        assert.deepEqual(
          await certificateFiles(certificate.certificate_number),
          [],
          "the PDF that printed his name",
        );
        const [login] = await sql`select 1 from auth.users where id = ${bolat.id}`;
        assert.equal(login, undefined);
        const signIn = await fetch(`${baseUrl}/auth/v1/token?grant_type=password`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email: body.email, password: created.password }),
        });
        assert.equal(signIn.status, 400);
        await signIn.body?.cancel();
      },
    );

    await t.step(
      "the sale, its refunds, progress and every figure are exactly as before, rebuilt too",
      async () => {
        assert.deepEqual(await booksAndFigures(bolat.id), before);
        await refreshAnalytics(true);
        assert.deepEqual(await booksAndFigures(bolat.id), before);
      },
    );

    await t.step("the certificate's public link names nobody any more", async () => {
      await expectError(
        await callFunction(
          `complete-lesson/certificate/${certificate.certificate_number}/${certificate.verification_code}`,
        ),
        404,
        "certificate_not_found",
      );
    });

    await t.step("the audit says who erased him and why; a second erasure is refused", async () => {
      const page = await expectJson(await as(saule.id, `audit?target_id=${bolat.id}&action=student.erased`));
      assert.equal(page.entries[0].actor_id, saule.id);
      assert.equal(page.entries[0].reason, "his written request of 6 December");
      await expectError(
        await as(saule.id, `students/${bolat.id}/erase`, { reason: "again" }),
        409,
        "already_erased",
      );
    });
  },
);
