/** After the sale: a suspension and its reactivation, and a lost password reset (through Supabase AuthAdmin too). */
import assert from "node:assert/strict";
import { aida, daniyar } from "./support/fixtures.ts";
import { enrol, heartbeat } from "./support/learning.ts";

import { expectError, expectJson } from "./support/responses.ts";
import { localAuth, serviceKey, story } from "./support/server.ts";
import { captureConsole, newStudentBody, postStudent, tablesContaining } from "./support/students.ts";
import { startAuthServer } from "./support/auth_server.ts";
import { SupabaseAuthAdmin } from "../supabase/functions/_shared/auth_admin.ts";
import { asStaff, post, sql } from "./support/staff_calls.ts";

story("a suspension blocks access and keeps the sale; reactivation restores it", async () => {
  const student = await enrol("Suspended Student");
  const suspended = await expectJson(
    await post(aida.id, `students/${student.id}/suspend`, { reason: "unpaid" }),
  );
  assert.equal(suspended.status, "suspended");
  assert.equal(suspended.refunded_amount, 0);
  await expectError(await heartbeat(student, { lesson_id: 67, segments: [] }), 403, "access_revoked");
  await expectError(
    await post(aida.id, `students/${student.id}/suspend`, { reason: "again" }),
    409,
    "illegal_transition",
  );

  const reactivated = await expectJson(
    await post(aida.id, `students/${student.id}/reactivate`, { reason: "paid" }),
  );
  assert.equal(reactivated.status, "active");
  await expectJson(await heartbeat(student, { lesson_id: 67, segments: [] }));
  const detail = await expectJson(await asStaff(aida.id, `students/${student.id}`));
  assert.deepEqual(
    detail.activity.map((event: { event_type: string }) => event.event_type),
    ["student_reactivated", "student_suspended", "user_created"],
  );
});

story(
  "Bolat loses his password: Aida resets it, the new one works, the old one not, and nothing holds it",
  async (t) => {
    const created = await expectJson(
      await postStudent(aida.id, newStudentBody("Bolat Forgetful", { send_welcome_email: false })),
      201,
    );
    const matches = async (password: string) => {
      const [login] = await sql<{ matches: boolean }[]>`
      select extensions.crypt(${password}, encrypted_password) = encrypted_password as matches
      from auth.users where id = ${created.id}`;
      return login.matches;
    };
    assert.equal(await matches(created.password), true);

    const { result: reset, lines } = await captureConsole(async () =>
      await expectJson(await post(aida.id, `students/${created.id}/reset-password`, {}))
    );

    await t.step("a new password, shown once, e-mailed in the academy's language", () => {
      assert.equal(reset.id, created.id);
      assert.match(reset.password, /^[A-Za-z0-9]{20}$/);
      assert.notEqual(reset.password, created.password);
      assert.equal(reset.email, "sent");
      assert.ok(lines.some((line) => line.includes("Новый пароль для курса Tripwire")), lines.join("\n"));
    });

    await t.step("the new password logs in against the bcrypt hash; the old one does not", async () => {
      assert.equal(await matches(reset.password), true);
      assert.equal(await matches(created.password), false);
    });

    await t.step("no table and no log line holds it", async () => {
      assert.deepEqual(await tablesContaining(sql, reset.password), []);
      assert.ok(lines.every((line) => !line.includes(reset.password)));
    });

    await t.step("the feed hears of it; another manager gets 404 and changes nothing", async () => {
      const detail = await expectJson(await asStaff(aida.id, `students/${created.id}`));
      assert.equal(detail.activity[0].event_type, "password_reset");
      await expectError(
        await post(daniyar.id, `students/${created.id}/reset-password`, {}),
        404,
        "student_not_found",
      );
      assert.equal(await matches(reset.password), true);
    });
  },
);

story("Supabase AuthAdmin sets a password with GoTrue's PUT /admin/users/{id}", async () => {
  const gotrue = startAuthServer(localAuth);
  try {
    const student = await enrol("Via GoTrue Reset");
    await new SupabaseAuthAdmin(gotrue.url, serviceKey).setPassword(student.id, "a-new-password-for-gotrue");
    const [request] = gotrue.requests;
    assert.equal(request.method, "PUT");
    assert.equal(request.path, `/auth/v1/admin/users/${student.id}`);
    assert.deepEqual(request.body, { password: "a-new-password-for-gotrue" });
    const [login] = await sql<{ matches: boolean }[]>`
      select extensions.crypt('a-new-password-for-gotrue', encrypted_password) = encrypted_password as matches
      from auth.users where id = ${student.id}`;
    assert.equal(login.matches, true);
  } finally {
    await gotrue.close();
  }
});
