/**
 * The audit trail: every staff action on money, access or a person's data writes one append-only row in its
 * own transaction — who, from where, what, and the fields before and after — and admins read it.
 */
import assert from "node:assert/strict";
import { aida, insertManager, saule } from "./support/fixtures.ts";
import { expectError, expectJson } from "./support/responses.ts";
import { appDatabase, callAs, callFunction, story, tokenFor } from "./support/server.ts";
import { newStudentBody, postStudent } from "./support/students.ts";

const sql = appDatabase.sql;
/**
 * Aida at work in her browser, through the gateway that appends her address (203.0.113.50) to whatever
 * X-Forwarded-For her browser sent (here a made-up 198.51.100.66, which the audit must not believe).
 */
const aidasBrowser = { "x-forwarded-for": "198.51.100.66, 203.0.113.50", "user-agent": "AidaBrowser/1.0" };
const asAida = (path: string, body: unknown) => callAs(aida.id, path, body, aidasBrowser);

async function readAudit(userId: string, query: string) {
  return await callFunction(`audit?${query}`, {
    headers: { authorization: `Bearer ${await tokenFor(userId)}` },
  });
}

story(
  "Aida sells, refunds part, suspends, reactivates and resets a password: Saule reads each",
  async (t) => {
    const body = newStudentBody("Audited Student");
    const created = await expectJson(await postStudent(aida.id, body, aidasBrowser), 201);
    const id = created.id;
    await expectJson(await asAida(`students/${id}/refund`, { amount: 90, reason: "part back" }));
    await expectJson(await asAida(`students/${id}/suspend`, { reason: "unpaid rest" }));
    await expectJson(await asAida(`students/${id}/reactivate`, { reason: "paid" }));
    await expectJson(await asAida(`students/${id}/reset-password`, {}));
    // A refused refund changes nothing, and so writes no audit row.
    await expectError(
      await asAida(`students/${id}/refund`, { amount: 1000, reason: "x" }),
      422,
      "refund_exceeds_payment",
    );

    const page = await expectJson(await readAudit(saule.id, `target_id=${id}`));
    await t.step("one row per action, newest first, with who and from where", () => {
      assert.deepEqual(page.entries.map((entry: { action: string }) => entry.action), [
        "student.password_reset",
        "student.reactivated",
        "student.suspended",
        "student.refunded",
        "student.created",
      ]);
      for (const entry of page.entries) {
        assert.equal(entry.actor_id, aida.id);
        assert.equal(entry.actor_role, "manager");
        assert.equal(entry.target_type, "student");
        assert.equal(entry.client_ip, "203.0.113.50");
        assert.equal(entry.user_agent, "AidaBrowser/1.0");
        assert.match(entry.request_id, /.{8,}/);
      }
    });

    await t.step(
      "the fields that changed, before and after; reasons kept; names as they are now, no e-mail or password",
      () => {
        const byAction = Object.fromEntries(
          page.entries.map((entry: { action: string }) => [entry.action, entry]),
        );
        assert.deepEqual(byAction["student.created"].changes, {
          status: { before: null, after: "active" },
          payment_amount: { before: null, after: "490.00" },
          granted_by: { before: null, after: aida.id },
          full_name: { before: null, after: "(personal)" },
          email: { before: null, after: "(personal)" },
        });
        assert.deepEqual(byAction["student.refunded"].changes, { refunded_amount: { before: 0, after: 90 } });
        assert.equal(byAction["student.refunded"].reason, "part back");
        assert.deepEqual(byAction["student.suspended"].changes, {
          status: { before: "active", after: "suspended" },
        });
        assert.deepEqual(byAction["student.reactivated"].changes, {
          status: { before: "suspended", after: "active" },
        });
        assert.deepEqual(byAction["student.password_reset"].changes, {
          password: { before: "(secret)", after: "(secret)" },
        });
        // The page names the people as they are now (read from users, a tombstone once erased), for a person
        // reading it; never an e-mail or a password.
        assert.equal(byAction["student.refunded"].target_name, "Audited Student");
        assert.equal(byAction["student.refunded"].actor_name, "Aida Manager");
        const text = JSON.stringify(page);
        assert.ok(!text.includes(body.email) && !text.includes(created.password));
      },
    );

    await t.step(
      "the trail itself keeps no name, e-mail or password: they are read when it is shown",
      async () => {
        const [{ stored }] = await appDatabase.sql<{ stored: string }[]>`
        select coalesce(string_agg(to_jsonb(a)::text, ' '), '') as stored from private.audit_log a
        where a.target_id = ${created.id}`;
        assert.ok(stored.length > 0);
        assert.ok(
          !stored.includes(body.email) && !stored.includes("Audited Student") &&
            !stored.includes(created.password),
        );
      },
    );

    await t.step("a page at a time, without a gap or a repeat", async () => {
      const seen: number[] = [];
      let cursor: string | null = null;
      do {
        const next = await expectJson(
          await readAudit(saule.id, `target_id=${id}&limit=2${cursor ? `&after=${cursor}` : ""}`),
        );
        seen.push(...next.entries.map((entry: { id: number }) => entry.id));
        cursor = next.next_cursor;
      } while (cursor);
      assert.deepEqual(seen, page.entries.map((entry: { id: number }) => entry.id));
    });

    await t.step("filters: by action and by actor", async () => {
      const refunds = await expectJson(await readAudit(saule.id, `action=student.refunded&target_id=${id}`));
      assert.equal(refunds.entries.length, 1);
      const aidas = await expectJson(await readAudit(saule.id, `actor_id=${aida.id}&limit=100`));
      assert.ok(aidas.entries.every((entry: { actor_id: string }) => entry.actor_id === aida.id));
    });

    await t.step("only admins read it", async () => {
      await expectError(await readAudit(aida.id, ""), 403, "forbidden");
      await expectError(await callFunction("audit"), 401, "missing_token");
    });
  },
);

story("settings and staff changed in SQL are audited by the database itself", async () => {
  await sql`update academy.settings set partial_refund_ends_access = true`;
  await sql`update academy.settings set partial_refund_ends_access = false`;
  const manager = await insertManager(sql, "New Seller");
  const settings = await expectJson(await readAudit(saule.id, "action=settings.changed&limit=2"));
  assert.deepEqual(settings.entries.map((entry: { changes: unknown }) => entry.changes), [
    { partial_refund_ends_access: { before: true, after: false } },
    { partial_refund_ends_access: { before: false, after: true } },
  ]);
  assert.equal(settings.entries[0].actor_role, "database");
  const staff = await expectJson(await readAudit(saule.id, `action=staff.changed&target_id=${manager.id}`));
  assert.deepEqual(staff.entries[0].changes.role, { before: null, after: "manager" });
  assert.deepEqual(staff.entries[0].changes.full_name, { before: null, after: "(personal)" });
});

story("nobody can change or remove an audit row, not even the database owner", async () => {
  const [{ count }] = await sql<{ count: number }[]>`select count(*)::int as count from private.audit_log`;
  assert.ok(count > 0);
  for (
    const statement of [
      sql`update private.audit_log set reason = 'rewritten'`,
      sql`delete from private.audit_log`,
      sql`truncate private.audit_log`,
    ]
  ) {
    await assert.rejects(statement, { code: "42501" });
  }
  const [after] = await sql<{ count: number }[]>`select count(*)::int as count from private.audit_log`;
  assert.equal(after.count, count);
});

story(
  "what leaves and where it goes is audited: exports, endpoints registered, resumed, disabled, resent",
  async () => {
    // The CSV exports: who took which file with which filters.
    const exported = await callFunction("students/export.csv?status=active", {
      headers: { authorization: `Bearer ${await tokenFor(aida.id)}`, ...aidasBrowser },
    });
    await exported.body?.cancel();
    assert.equal(exported.status, 200);
    const books = await callFunction("students/sales.csv", {
      headers: { authorization: `Bearer ${await tokenFor(saule.id)}` },
    });
    await books.body?.cancel();
    assert.equal(books.status, 200);
    const exports = await expectJson(await readAudit(saule.id, "action=export.downloaded"));
    const [sales, students] = exports.entries;
    assert.deepEqual([sales.actor_id, sales.target_type, sales.target_id], [saule.id, "export", "sales.csv"]);
    assert.deepEqual([students.actor_id, students.target_id], [aida.id, "students.csv"]);
    assert.equal(students.changes.filters.after.status, "active");
    assert.equal(students.client_ip, "203.0.113.50");

    // An endpoint: registered (its secret never in the audit), disabled; resumed and resent are audited alike.
    const endpoint = await expectJson(
      await callAs(saule.id, "webhooks/endpoints", {
        url: "https://93.184.215.14/crm",
        event_types: ["student.created"],
      }),
      201,
    );
    await expectJson(await callAs(saule.id, `webhooks/endpoints/${endpoint.id}/resume`, {}));
    await expectJson(await callAs(saule.id, `webhooks/endpoints/${endpoint.id}/disable`, {}));
    const trail = await expectJson(await readAudit(saule.id, `target_id=${endpoint.id}`));
    assert.deepEqual(
      trail.entries.map((entry: { action: string }) => entry.action),
      ["webhook.endpoint_disabled", "webhook.endpoint_resumed", "webhook.endpoint_created"],
    );
    const created = trail.entries[2];
    assert.equal(created.changes.url.after, "https://93.184.215.14/crm");
    assert.deepEqual(created.changes.event_types.after, ["student.created"]);
    assert.equal(created.changes.secret.after, "(secret)");
    assert.ok(!JSON.stringify(trail).includes(endpoint.secret), "the secret is not in the audit");
  },
);
