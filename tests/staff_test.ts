/**
 * The academy's staff through the API: Saule, the admin, creates a manager who signs in with the password
 * shown once, deactivates her (her login is banned, every function refuses her, her sales stay), and
 * reactivates her; each change audited with Saule as the actor.
 */
import assert from "node:assert/strict";
import { aida, saule } from "./support/fixtures.ts";
import { expectError, expectJson } from "./support/responses.ts";
import { appDatabase, baseUrl, callAs, story } from "./support/server.ts";
import { newStudentBody, postStudent } from "./support/students.ts";

const sql = appDatabase.sql;

/** As an admin in a browser at the academy: the gateway passes the client's address. */
const as = (userId: string, path: string, body?: unknown) =>
  callAs(userId, path, body, { "x-forwarded-for": "198.51.100.77" });

function signIn(email: string, password: string) {
  return fetch(`${baseUrl}/auth/v1/token?grant_type=password`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": "198.51.100.78" },
    body: JSON.stringify({ email, password }),
  });
}

story("Saule hires Kamila, who sells; deactivated she can do nothing, and her sale stays hers", async (t) => {
  const email = `kamila.${crypto.randomUUID().slice(0, 8)}@academy.kz`;
  const created = await expectJson(
    await as(saule.id, "staff", { email, full_name: "Kamila Manager", role: "manager" }),
    201,
  );
  const kamila = created.id;

  await t.step("the password is shown once and signs her in; she sells", async () => {
    assert.equal(created.role, "manager");
    assert.match(created.password, /^[A-Za-z0-9]{20}$/);
    const session = await signIn(email, created.password);
    assert.equal(session.status, 200);
    await session.body?.cancel();
    await expectJson(await postStudent(kamila, newStudentBody("Kamila's Student")), 201);
    const list = await expectJson(await as(saule.id, "staff"));
    const row = list.staff.find((member: { id: string }) => member.id === kamila);
    assert.deepEqual([row.students_sold, row.deactivated_at], [1, null]);
  });

  await t.step("only admins manage staff; a taken e-mail is 409; bad input a 400 on the field", async () => {
    await expectError(
      await as(aida.id, "staff", { email: "x@academy.kz", full_name: "X" }),
      403,
      "forbidden",
    );
    await expectError(await as(aida.id, "staff"), 403, "forbidden");
    await expectError(await as(saule.id, "staff", { email, full_name: "Again" }), 409, "email_exists");
    const bad = await expectError(
      await as(saule.id, "staff", { email: "y@academy.kz", full_name: "Y", role: "student" }),
      400,
      "validation_failed",
    );
    assert.equal(bad.error.details[0].path, "role");
  });

  await t.step("deactivated: no sign-in, no function; her students and figures stay", async () => {
    const deactivated = await expectJson(await as(saule.id, `staff/${kamila}/deactivate`, {}));
    assert.ok(deactivated.deactivated_at);
    await expectError(await postStudent(kamila, newStudentBody("Too Late")), 403, "account_deactivated");
    await expectError(await as(kamila, "leaderboard/stats"), 403, "forbidden");
    const refused = await signIn(email, created.password);
    assert.equal(refused.status, 400);
    assert.equal((await refused.json()).error_code, "user_banned");
    const [{ sold }] = await sql<{ sold: number }[]>`
      select count(*)::int as sold from public.tripwire_users where granted_by = ${kamila}`;
    assert.equal(sold, 1);
    // Idempotent: again changes nothing.
    const again = await expectJson(await as(saule.id, `staff/${kamila}/deactivate`, {}));
    assert.equal(again.deactivated_at, deactivated.deactivated_at);
  });

  await t.step("reactivated, she works again", async () => {
    await expectJson(await as(saule.id, `staff/${kamila}/reactivate`, {}));
    const session = await signIn(email, created.password);
    assert.equal(session.status, 200);
    await session.body?.cancel();
    await expectJson(await postStudent(kamila, newStudentBody("Back At Work")), 201);
  });

  await t.step(
    "an admin cannot deactivate themselves, nor the last admin; students are not staff",
    async () => {
      await expectError(
        await as(saule.id, `staff/${saule.id}/deactivate`, {}),
        409,
        "cannot_deactivate_self",
      );
      const [student] = await sql<{ user_id: string }[]>`
      select user_id from public.tripwire_users where granted_by = ${kamila} limit 1`;
      await expectError(
        await as(saule.id, `staff/${student.user_id}/deactivate`, {}),
        404,
        "staff_not_found",
      );
    },
  );

  await t.step("the audit names Saule, her address, and what changed", async () => {
    const page = await expectJson(await as(saule.id, `audit?target_id=${kamila}`));
    assert.deepEqual(page.entries.map((entry: { action: string }) => entry.action), [
      "staff.changed",
      "staff.changed",
      "staff.changed",
    ]);
    for (const entry of page.entries) {
      assert.equal(entry.actor_id, saule.id);
      assert.equal(entry.actor_role, "admin");
      assert.equal(entry.client_ip, "198.51.100.77");
    }
    assert.deepEqual(page.entries[2].changes.role, { before: null, after: "manager" });
    assert.equal(page.entries[1].changes.deactivated_at.before, null);
    assert.equal(page.entries[0].changes.deactivated_at.after, null);
  });
});

story("two admins deactivating each other at once: one of them stays active", async () => {
  const ruslan = await expectJson(
    await as(saule.id, "staff", {
      email: `ruslan.${crypto.randomUUID().slice(0, 8)}@academy.kz`,
      full_name: "Ruslan Admin",
      role: "admin",
    }),
    201,
  );
  try {
    const answers = await Promise.all([
      as(saule.id, `staff/${ruslan.id}/deactivate`, {}),
      as(ruslan.id, `staff/${saule.id}/deactivate`, {}),
    ]);
    const statuses = answers.map((answer) => answer.status);
    await Promise.all(answers.map((answer) => answer.body?.cancel()));
    assert.equal(statuses.filter((status) => status === 200).length, 1, statuses.join());
    const [{ active }] = await sql<{ active: number }[]>`
      select count(*)::int as active from public.users
      where id in (${saule.id}, ${ruslan.id}) and deactivated_at is null`;
    assert.equal(active, 1);
  } finally {
    await sql`update public.users set deactivated_at = null where id = ${saule.id}`;
    await sql`update auth.users set banned_until = null where id = ${saule.id}`;
  }
});

story("each staff member's students_sold is the maintained count, equal to a plain recount", async () => {
  await expectJson(await postStudent(aida.id, newStudentBody("Counted Student")), 201);
  const list = await expectJson(await as(saule.id, "staff"));
  const recount = await sql<{ id: string; sold: number }[]>`
    select u.id, (select count(*)::int from public.tripwire_users t where t.granted_by = u.id) as sold
    from public.users u where u.role in ('manager', 'admin')`;
  const sold = Object.fromEntries(recount.map((row) => [row.id, row.sold]));
  for (const member of list.staff) assert.equal(member.students_sold, sold[member.id], member.full_name);
  assert.ok(list.staff.some((member: { students_sold: number }) => member.students_sold > 0));
});
