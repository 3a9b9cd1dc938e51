import assert from "node:assert/strict";
import {
  aida,
  asRole,
  daniyar,
  insertManager,
  insertStudent,
  saule,
  studentTables,
} from "./support/fixtures.ts";
import { createMigratedDatabase } from "./support/database.ts";
import { openSession } from "../scripts/lib/local_stack.ts";

// Shared by this file's stories, none of which depends on another's rows; `npm test` drops it at the end
// with every other tripwire_t_ database.
const database = await createMigratedDatabase();
const { sql } = database;

// Aida sold the course to Bolat and Dana; Daniyar sold it to Erlan.
const bolat = await insertStudent(sql, { managerId: aida.id, email: "bolat@example.kz", fullName: "Bolat" });
const dana = await insertStudent(sql, { managerId: aida.id, email: "dana@example.kz", fullName: "Dana" });
const erlan = await insertStudent(sql, {
  managerId: daniyar.id,
  email: "erlan@example.kz",
  fullName: "Erlan",
});
// All three have finished the course, so every per-student table has a row of each.
for (const [index, student] of [bolat, dana, erlan].entries()) {
  await sql`
    insert into public.certificates (user_id, certificate_number, full_name, course)
    values (${student.id}, ${`TW-2026-90000${index}`}, 'Graduate', private.course_snapshot())`;
}

async function visibleStudentIds(claims: Record<string, unknown>, table: string): Promise<string[]> {
  const rows = await asRole(
    sql,
    "authenticated",
    claims,
    (tx) => tx<{ user_id: string }[]>`select distinct user_id from ${tx("public." + table)} order by user_id`,
  );
  return rows.map((row) => row.user_id);
}

Deno.test("anon reads nothing at all", async () => {
  const tables = await sql<{ name: string }[]>`
    select relname as name from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r'`;
  for (const { name } of tables) {
    await assert.rejects(
      asRole(sql, "anon", {}, (tx) => tx`select * from ${tx("public." + name)}`),
      (error: { code?: string }) => error.code === "42501",
      `anon could read ${name}`,
    );
  }
  await assert.rejects(
    asRole(sql, "anon", {}, (tx) => tx`select * from private.email_outbox`),
    (error: { code?: string }) => error.code === "42501",
  );
});

Deno.test("Bolat, a student, reads only his own rows in every student table", async () => {
  for (const table of studentTables) {
    assert.deepEqual(await visibleStudentIds({ sub: bolat.id }, table), [bolat.id], table);
  }
  const users = await asRole(
    sql,
    "authenticated",
    { sub: bolat.id },
    (tx) => tx`select id from public.users`,
  );
  assert.deepEqual(users.map((u) => u.id), [bolat.id]);
  const feed = await asRole(
    sql,
    "authenticated",
    { sub: bolat.id },
    (tx) => tx`select id from public.sales_activity_log`,
  );
  assert.equal(feed.length, 0);
});

Deno.test("Aida, a manager, reads her students Bolat and Dana but not Daniyar's Erlan", async () => {
  const hers = [bolat.id, dana.id].sort();
  for (const table of studentTables) {
    assert.deepEqual(await visibleStudentIds({ sub: aida.id }, table), hers, table);
  }
  const users = await asRole(sql, "authenticated", { sub: aida.id }, (tx) => tx`select id from public.users`);
  assert.deepEqual(users.map((u) => u.id).sort(), [aida.id, ...hers].sort());
  const feed = await asRole(
    sql,
    "authenticated",
    { sub: aida.id },
    (tx) => tx`select distinct manager_id from public.sales_activity_log`,
  );
  assert.deepEqual(feed.map((row) => row.manager_id), [aida.id]);
});

Deno.test("Saule, the admin, reads every student", async () => {
  const all = [bolat.id, dana.id, erlan.id].sort();
  for (const table of studentTables) {
    assert.deepEqual(await visibleStudentIds({ sub: saule.id }, table), all, table);
  }
});

Deno.test("signed-in users read the course and the achievement catalogue; nobody writes through the API", async () => {
  const lessons = await asRole(
    sql,
    "authenticated",
    { sub: erlan.id },
    (tx) => tx`select id from public.tripwire_lessons`,
  );
  assert.equal(lessons.length, 3);
  const catalogue = await asRole(
    sql,
    "authenticated",
    { sub: erlan.id },
    (tx) => tx`select code from public.achievements`,
  );
  assert.equal(catalogue.length, 4);
  await assert.rejects(
    asRole(
      sql,
      "authenticated",
      { sub: aida.id },
      (tx) => tx`update public.tripwire_users set payment_amount = 0`,
    ),
    (error: { code?: string }) => error.code === "42501",
  );
  await assert.rejects(
    asRole(sql, "authenticated", { sub: saule.id }, (tx) => tx`delete from public.certificates`),
    (error: { code?: string }) => error.code === "42501",
  );
});

Deno.test("one sentence says who reads a student's rows: private.can_read_student", async (t) => {
  await t.step("the student, the manager who sold to them and an admin; nobody else", async () => {
    const canRead = async (sub: string, student: string) =>
      (await asRole(sql, "authenticated", { sub }, (tx) =>
        tx<{ allowed: boolean }[]>`
        select private.can_read_student(${student}) as allowed`))[0].allowed;
    assert.equal(await canRead(bolat.id, bolat.id), true);
    assert.equal(await canRead(bolat.id, dana.id), false);
    assert.equal(await canRead(aida.id, bolat.id), true);
    assert.equal(await canRead(aida.id, erlan.id), false);
    assert.equal(await canRead(daniyar.id, erlan.id), true);
    assert.equal(await canRead(saule.id, erlan.id), true);
  });

  await t.step("every per-student table's read policy is that one call", async () => {
    const policies = await sql<{ table: string; qual: string }[]>`
      select tablename as table, qual from pg_policies where schemaname = 'public' and cmd = 'SELECT'
      order by tablename`;
    const perStudent = policies.filter((policy) => policy.qual.includes("can_read_student"));
    assert.deepEqual(
      perStudent.map((policy) => policy.table),
      [...studentTables.filter((table) => table !== "tripwire_users"), "student_refunds", "users"].sort(),
    );
    for (const policy of perStudent) assert.match(policy.qual, /^private\.can_read_student\((user_id|id)\)$/);
  });

  await t.step("a manager's read of one student still uses each table's index (explain)", async () => {
    for (const table of studentTables) {
      const plan = await asRole(sql, "authenticated", { sub: aida.id }, async (tx) => {
        // The tables are tiny here; forbid sequential scans so the plan shows whether an index can serve.
        await tx`set local enable_seqscan = off`;
        const rows = await tx.unsafe(`explain select * from public.${table} where user_id = $1`, [bolat.id]);
        return rows.map((row) => row["QUERY PLAN"]).join("\n");
      });
      assert.match(plan, /Index (Only )?Scan|Bitmap Index Scan/, `${table}:\n${plan}`);
      assert.doesNotMatch(plan, /Seq Scan/, `${table}:\n${plan}`);
    }
  });
});

Deno.test("access ends at once: a deactivated admin or manager, an erased student, a deleted or banned user and an ended session read nothing", async () => {
  // A second admin and a manager with a student of his own, then each of them taken out; the token they still
  // hold names them, and PostgREST would run their queries with it until it expires.
  const formerAdmin = await insertManager(sql, "Former Admin");
  await sql`update public.users set role = 'admin' where id = ${formerAdmin.id}`;
  const formerManager = await insertManager(sql, "Former Manager");
  const hisStudent = await insertStudent(sql, {
    managerId: formerManager.id,
    email: `his.student.${crypto.randomUUID().slice(0, 8)}@example.kz`,
    fullName: "His Student",
  });
  const erasedStudent = await insertStudent(sql, {
    managerId: aida.id,
    email: `erased.${crypto.randomUUID().slice(0, 8)}@example.kz`,
    fullName: "To Be Erased",
  });
  const bannedManager = await insertManager(sql, "Banned Manager");
  await insertStudent(sql, {
    managerId: bannedManager.id,
    email: `banned.sale.${crypto.randomUUID().slice(0, 8)}@example.kz`,
    fullName: "Sold By The Banned",
  });
  const deletedAdmin = await insertManager(sql, "Deleted Admin");
  await sql`update public.users set role = 'admin' where id = ${deletedAdmin.id}`;
  // Each holds a token naming a session of theirs, opened before they were taken out.
  const people = [formerAdmin, formerManager, erasedStudent, bannedManager, deletedAdmin, { id: aida.id }];
  const claimsBefore = await Promise.all(
    people.map(async ({ id }) => ({ sub: id, session_id: await openSession(sql, id) })),
  );
  for (const claims of claimsBefore) {
    assert.ok((await visibleStudentIds(claims, "tripwire_users")).length > 0, "each read something before");
  }
  assert.deepEqual(await visibleStudentIds(claimsBefore[1], "tripwire_users"), [hisStudent.id]);
  await sql`update public.users set deactivated_at = now() where id in (${formerAdmin.id}, ${formerManager.id})`;
  // Erasure deletes the login (the function asks Supabase Auth), then scrubs the rows.
  await sql`delete from auth.users where id = ${erasedStudent.id}`;
  await sql`select private.erase_person(${erasedStudent.id})`;
  await sql`update auth.users set banned_until = now() + interval '1 day' where id = ${bannedManager.id}`;
  await sql`delete from auth.users where id = ${deletedAdmin.id}`;
  // Aida signed out of that session (Supabase Auth deletes it); she is still a manager.
  await sql`delete from auth.sessions where id = ${claimsBefore[5].session_id}`;
  const nobody = { sub: crypto.randomUUID(), session_id: crypto.randomUUID() };
  const noSession = { sub: aida.id };

  // Every table a signed-in user may read, but the course's catalogue (the same for everyone, nothing personal).
  const catalogue = ["achievements", "course", "tripwire_lessons", "tripwire_modules"];
  const tables = (await sql<{ name: string }[]>`
    select c.relname as name from pg_class c
    where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'
      and has_table_privilege('authenticated', c.oid, 'select')
    order by 1`).map((row) => row.name).filter((name) => !catalogue.includes(name));
  assert.ok(tables.includes("tripwire_users") && tables.includes("sales_activity_log"), tables.join(", "));
  for (const claims of [...claimsBefore, nobody]) {
    for (const table of tables) {
      const [{ rows }] = await asRole(
        sql,
        "authenticated",
        claims,
        (tx) => tx<{ rows: number }[]>`select count(*)::int as rows from ${tx("public." + table)}`,
      );
      assert.equal(rows, 0, `${claims.sub} still reads ${rows} rows of ${table}`);
    }
    await assert.rejects(
      asRole(sql, "authenticated", claims, (tx) => tx`select * from public.get_manager_stats()`),
      (error: { code?: string }) => error.code === "42501",
      `${claims.sub} still reads the leaderboard`,
    );
  }
  // A new sign-in of Aida's reads again; a token naming no session at all never does.
  assert.ok((await visibleStudentIds({ sub: aida.id }, "tripwire_users")).length > 0);
  const [{ rows }] = await asRole(
    sql,
    "authenticated",
    { ...noSession, session_id: "not-a-session" },
    (tx) => tx<{ rows: number }[]>`select count(*)::int as rows from public.tripwire_users`,
  );
  assert.equal(rows, 0);
});
