/**
 * Creating a student at the edges: five managers racing for one e-mail, malformed bodies, exact amounts, no
 * password anywhere, the feed's name from the database, offers at their price or with a reason, smoke tests.
 */
import assert from "node:assert/strict";
import { aida, daniyar, saule } from "./support/fixtures.ts";
import { appDatabase, callFunction, serviceKey, story, tokenFor } from "./support/server.ts";
import {
  captureConsole,
  newStudentBody,
  postStudent,
  rowCounts,
  staff,
  tablesContaining,
} from "./support/students.ts";
import { expectJson } from "./support/responses.ts";

const sql = appDatabase.sql;

story("five managers racing for one e-mail: exactly one student, four 409s", async () => {
  const body = newStudentBody("Raced Student");
  const before = await rowCounts(sql);
  // Three of them are Aida's (a double click, a retry without a key): her requests must not take over each
  // other's login while it is being made.
  const managers = [aida.id, aida.id, aida.id, daniyar.id, saule.id];
  const responses = await Promise.all(managers.map((manager) => postStudent(manager, body)));
  const answers = await Promise.all(responses.map((response) => response.json()));
  const statuses = responses.map((response, i) =>
    response.status === 409 ? answers[i].error.code : response.status
  );
  assert.deepEqual(
    statuses.sort(),
    [201, "email_exists", "email_exists", "email_exists", "email_exists"].sort(),
  );
  const after = await rowCounts(sql);
  assert.equal(after["public.tripwire_users"], before["public.tripwire_users"] + 1);
  assert.equal(after["auth.users"], before["auth.users"] + 1, "the losers' logins were deleted again");
  const winner = answers[responses.findIndex((response) => response.status === 201)];
  const [login] = await sql`
    select encrypted_password = extensions.crypt(${winner.password}, encrypted_password) as works
    from auth.users where id = ${winner.id}`;
  assert.equal(login?.works, true, "the winner's login is there, with the password it was given");
});

/** Malformed requests: each must answer 400 validation_failed with a field path and write nothing. */
const badBodies: [string, string | unknown, string][] = [
  ["not JSON", "{email:", ""],
  ["empty body", "", ""],
  ["JSON array", [], ""],
  ["JSON string", '"hello"', ""],
  ["JSON null", "null", ""],
  ["no email", { full_name: "A", payment_amount: 1 }, "email"],
  ["email is a number", { email: 42, full_name: "A" }, "email"],
  ["email without @", { email: "bolat.example.kz", full_name: "A" }, "email"],
  ["email with two @", { email: "a@b@example.kz", full_name: "A" }, "email"],
  ["email with spaces inside", { email: "bo lat@example.kz", full_name: "A" }, "email"],
  ["email without domain dot", { email: "bolat@localhost", full_name: "A" }, "email"],
  ["email of 400 characters", { email: `${"a".repeat(390)}@example.kz`, full_name: "A" }, "email"],
  ["empty email", { email: "", full_name: "A" }, "email"],
  ["no full_name", { email: "a@example.kz" }, "full_name"],
  ["full_name only spaces", { email: "a@example.kz", full_name: "   " }, "full_name"],
  ["full_name of 201 characters", { email: "a@example.kz", full_name: "x".repeat(201) }, "full_name"],
  ["full_name with a newline", { email: "a@example.kz", full_name: "Bolat\nBcc: x@evil.kz" }, "full_name"],
  ["full_name is an object", { email: "a@example.kz", full_name: { first: "B" } }, "full_name"],
  ["phone too short", { email: "a@example.kz", full_name: "A", phone: "12345" }, "phone"],
  ["phone no country has", { email: "a@example.kz", full_name: "A", phone: "+7 000 000 00 00" }, "phone"],
  ["phone with letters", { email: "a@example.kz", full_name: "A", phone: "+7701CALLME" }, "phone"],
  ["phone too long", { email: "a@example.kz", full_name: "A", phone: "+7701123456789012" }, "phone"],
  ["phone is a number", { email: "a@example.kz", full_name: "A", phone: 77011234567 }, "phone"],
  ["negative amount", { email: "a@example.kz", full_name: "A", payment_amount: -1 }, "payment_amount"],
  ["three decimals", { email: "a@example.kz", full_name: "A", payment_amount: 10.005 }, "payment_amount"],
  ["amount too large", { email: "a@example.kz", full_name: "A", payment_amount: 1e12 }, "payment_amount"],
  ["amount as words", { email: "a@example.kz", full_name: "A", payment_amount: "ten" }, "payment_amount"],
  ["amount as boolean", { email: "a@example.kz", full_name: "A", payment_amount: true }, "payment_amount"],
  [
    "negative amount string",
    { email: "a@example.kz", full_name: "A", payment_amount: "-5.00" },
    "payment_amount",
  ],
  [
    "send_welcome_email as string",
    { email: "a@example.kz", full_name: "A", send_welcome_email: "yes" },
    "send_welcome_email",
  ],
  ["unknown field", { email: "a@example.kz", full_name: "A", role: "admin" }, "role"],
  ["granted_by smuggled in", { email: "a@example.kz", full_name: "A", granted_by: saule.id }, "granted_by"],
  ["password smuggled in", { email: "a@example.kz", full_name: "A", password: "hunter2hunter2" }, "password"],
  ["1 MB body", { email: "a@example.kz", full_name: "A", notes: "x".repeat(1024 * 1024) }, ""],
];

story(
  `${badBodies.length} malformed bodies → 400 validation_failed with a field path, nothing written`,
  async (t) => {
    const before = await rowCounts(sql);
    for (const [name, body, path] of badBodies) {
      await t.step(name, async () => {
        const response = await postStudent(aida.id, body);
        const answer = await expectJson(response, 400);
        assert.equal(answer.error.code, "validation_failed");
        assert.ok(
          Array.isArray(answer.error.details) && answer.error.details.length > 0,
          JSON.stringify(answer),
        );
        assert.ok(
          answer.error.details.some((detail: { path: string }) => detail.path === path),
          `expected a detail at "${path}": ${JSON.stringify(answer.error.details)}`,
        );
      });
    }
    await t.step("wrong content type", async () => {
      const response = await callFunction("create-tripwire-user", {
        method: "POST",
        headers: { authorization: `Bearer ${await tokenFor(aida.id)}`, "content-type": "text/plain" },
        body: JSON.stringify(newStudentBody("Plain Text")),
      });
      assert.equal((await expectJson(response, 400)).error.code, "validation_failed");
    });
    await t.step("malformed Idempotency-Key", async () => {
      const response = await postStudent(aida.id, newStudentBody("Bad Key"), {
        "idempotency-key": "x".repeat(300),
      });
      const answer = await expectJson(response, 400);
      assert.equal(answer.error.details[0].path, "Idempotency-Key");
    });
    assert.deepEqual(await rowCounts(sql), before);
  },
);

story(
  "a phone as managers write it is accepted and kept as E.164; the error says how to write it",
  async () => {
    const written = [
      "+7 701 123 45 67",
      "87011234567",
      "+7 (701) 123-45-67",
      "8-701-123-45-67",
      "8 701 123 4567",
    ];
    for (const [index, phone] of written.entries()) {
      const body = newStudentBody(`Phone Format ${"ABCDE"[index]}`, { phone, send_welcome_email: false });
      const created = await expectJson(await postStudent(aida.id, body), 201);
      assert.equal(created.phone, "+77011234567", phone);
      const [row] = await sql`select phone from public.tripwire_users where user_id = ${created.id}`;
      assert.equal(row.phone, "+77011234567");
    }
    // Another country's number with its code stays that country's.
    const london = await expectJson(
      await postStudent(
        aida.id,
        newStudentBody("Phone London", { phone: "+44 20 7946 0958", send_welcome_email: false }),
      ),
      201,
    );
    assert.equal(london.phone, "+442079460958");
    const refused = await postStudent(aida.id, newStudentBody("Phone Bad", { phone: "8 701 12" }));
    const answer = await refused.json();
    assert.equal(refused.status, 400);
    assert.equal(answer.error.details[0].path, "phone");
    assert.match(answer.error.details[0].message, /with its country code \(\+7 701 123 45 67\)/);
  },
);

story("a decimal string amount is accepted exactly; the amount defaults to 0", async () => {
  const exact = await expectJson(
    await postStudent(aida.id, newStudentBody("Exact", { payment_amount: "1999.99" })),
    201,
  );
  assert.equal(exact.payment_amount, 1999.99);
  const free = newStudentBody("Free Trial");
  delete (free as { payment_amount?: number }).payment_amount;
  const zero = await expectJson(await postStudent(aida.id, free), 201);
  assert.equal(zero.payment_amount, 0);
  const amounts = await sql`
    select payment_amount from public.tripwire_users where user_id in (${exact.id}, ${zero.id})
    order by payment_amount`;
  assert.deepEqual(amounts.map((row) => row.payment_amount), ["0.00", "1999.99"]);
});

story("no plain-text password in any table or log line, whatever happened to the request", async () => {
  const passwords: string[] = [];
  const { lines } = await captureConsole(async () => {
    const created = await expectJson(await postStudent(aida.id, newStudentBody("Logged Student")), 201);
    passwords.push(created.password);
    const body = newStudentBody("Retried Student");
    const first = await expectJson(
      await postStudent(daniyar.id, body, { "idempotency-key": "log-scan-1" }),
      201,
    );
    const replay = await expectJson(
      await postStudent(daniyar.id, body, { "idempotency-key": "log-scan-1" }),
      201,
    );
    assert.equal(replay.password, first.password);
    passwords.push(first.password);
    // A failure that reaches the error log.
    await sql`
      create or replace function public.tripwire_test_fault() returns trigger language plpgsql as $$
      begin raise exception 'injected fault'; end $$`;
    await sql`create trigger tripwire_test_fault before insert on public.user_statistics
      for each row execute function public.tripwire_test_fault()`;
    try {
      const failed = await postStudent(aida.id, newStudentBody("Failed Student"));
      assert.equal(failed.status, 500);
      await failed.body?.cancel();
    } finally {
      await sql`drop trigger tripwire_test_fault on public.user_statistics`;
      await sql`drop function public.tripwire_test_fault()`;
    }
    const retry = await callFunction("create-tripwire-user/retry-emails", {
      method: "POST",
      headers: { apikey: serviceKey },
    });
    await expectJson(retry, 200);
  });
  assert.ok(lines.some((line) => line.includes("email_sent")), "the local sender logged the e-mails");
  assert.ok(lines.some((line) => line.includes("injected fault")), "the fault was logged");
  for (const password of passwords) {
    assert.deepEqual(lines.filter((line) => line.includes(password)), []);
    assert.deepEqual(await tablesContaining(sql, password), []);
  }
});

story("the manager's name in the feed comes from the database, not from the token", async () => {
  const body = await expectJson(await postStudent(daniyar.id, newStudentBody("Feed Student")), 201);
  const [entry] =
    await sql`select details ->> 'manager_name' as name from public.sales_activity_log where student_id = ${body.id}`;
  assert.equal(entry.name, staff.daniyar.fullName);
});

story(
  "Aida sells an offer: at its price, or at another amount with a reason — each audited with the sale",
  async () => {
    const auditReason = async (id: string) => {
      const [row] = await sql`
      select reason from private.audit_log where target_id = ${id} and action = 'student.created'`;
      return row.reason;
    };
    const atPrice = await expectJson(
      await postStudent(
        aida.id,
        newStudentBody("Offer Price", { offer_id: "tripwire", payment_amount: "490" }),
      ),
      201,
    );
    assert.equal(await auditReason(atPrice.id), "Offer tripwire at its price 490.00");

    const before = await sql`select count(*)::int as n from public.tripwire_users`;
    const noReason = await postStudent(
      aida.id,
      newStudentBody("Offer Discount", { offer_id: "tripwire", payment_amount: 390 }),
    );
    assert.equal(noReason.status, 400);
    const refused = await noReason.json();
    assert.equal(refused.error.details[0].path, "price_reason");
    assert.match(refused.error.details[0].message, /490\.00/);
    assert.deepEqual(await sql`select count(*)::int as n from public.tripwire_users`, before);

    const discounted = await expectJson(
      await postStudent(
        aida.id,
        newStudentBody("Offer Discount", {
          offer_id: "tripwire",
          payment_amount: 390,
          price_reason: "A friend's discount",
        }),
      ),
      201,
    );
    assert.equal(
      await auditReason(discounted.id),
      "Offer tripwire: 390.00 instead of 490.00. A friend's discount",
    );

    const unknown = await postStudent(
      aida.id,
      newStudentBody("Offer Unknown", { offer_id: "no-such-offer" }),
    );
    assert.equal(unknown.status, 400);
    assert.equal((await unknown.json()).error.details[0].path, "offer_id");
  },
);

story("a smoke-test student: only an admin makes one, no e-mail, and erasing it leaves no row", async () => {
  const before = await rowCounts(appDatabase.sql);
  const refused = await postStudent(aida.id, newStudentBody("Smoke By Manager", { smoke_test: true }));
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).error.code, "forbidden");
  assert.deepEqual(await rowCounts(appDatabase.sql), before, "a refusal changes nothing");

  const smoke = await expectJson(
    await postStudent(saule.id, newStudentBody("Smoke By Admin", { smoke_test: true })),
    201,
  );
  assert.equal(smoke.welcome_email, "skipped", "a smoke test sends no e-mail");
  const [events] = await appDatabase.sql`
    select count(*)::int as all, count(*) filter (where not fanned_out)::int as to_deliver
    from private.webhook_events where student_id = ${smoke.id}`;
  assert.deepEqual({ ...events }, { all: 1, to_deliver: 0 }, "its events never go out");

  const erased = await callFunction(`students/${smoke.id}/erase`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${await tokenFor(saule.id)}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ reason: "smoke test" }),
  });
  assert.equal(erased.status, 200);
  assert.deepEqual((await erased.json()).kept, []);
  assert.deepEqual(await tablesContaining(appDatabase.sql, smoke.id), ["private.audit_log"]);
});
