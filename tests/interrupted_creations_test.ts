/**
 * Creating a student when a creation stops halfway (docs/architecture.md, "Creating a student"): a crash between the
 * login and the student, a key its request abandoned, the scheduler's sweep of a login whose student never came, a
 * retry that adopts its own login, and the creation that waited too long and finds its login taken or adopted.
 */
import assert from "node:assert/strict";
import { authAdmin } from "../supabase/functions/_shared/auth_admin.ts";
import { NewStudent } from "../supabase/functions/_domain/new_student.ts";
import { requestHash } from "../supabase/functions/_domain/idempotency.ts";
import { aida } from "./support/fixtures.ts";
import { appDatabase, callFunction, serviceKey, story } from "./support/server.ts";
import { newStudentBody, postStudent, staff } from "./support/students.ts";

const sql = appDatabase.sql;

async function loginExists(email: string): Promise<boolean> {
  const [row] = await sql`select 1 from auth.users where email = ${email}`;
  return Boolean(row);
}

story(
  "a key abandoned by a crashed request is taken over, and its half-made login deleted first",
  async () => {
    const body = newStudentBody("Crash Survivor");
    const input = NewStudent.parse(body);
    // What a crash between step 2 and step 3 leaves: a login, and the key still in progress.
    const orphanId = crypto.randomUUID();
    await authAdmin().createUser({
      id: orphanId,
      email: input.email,
      password: "Orphaned-Password-123",
      appMetadata: {},
      userMetadata: {},
    });
    await sql`
    insert into private.idempotency_keys (manager_id, idempotency_key, request_hash, resource_id, updated_at)
    values (${aida.id}, 'crashed-request', ${
      requestHash(
        input,
      )
    }, ${orphanId}, now() - interval '5 minutes')`;

    const response = await postStudent(aida.id, body, { "idempotency-key": "crashed-request" });
    const created = await response.json();
    assert.equal(response.status, 201, JSON.stringify(created));
    assert.notEqual(created.id, orphanId);
    const [orphan] = await sql`select 1 from auth.users where id = ${orphanId}`;
    assert.equal(orphan, undefined, "the abandoned login is gone");
    const [{ count }] = await sql`select count(*)::int from auth.users where email = ${input.email}`;
    assert.equal(count, 1);
  },
);

story(
  "a login left by a crash between the login and the student is deleted by the scheduler's sweep",
  async () => {
    // What a crash after createUser and before the student's transaction leaves: a login and its note.
    const orphan = crypto.randomUUID();
    await authAdmin().createUser({
      id: orphan,
      email: `orphan.${orphan.slice(0, 8)}@example.kz`,
      password: "x-Orphaned-Password-1",
      appMetadata: { role: "student", platform: "tripwire" },
      userMetadata: { full_name: "Never Written" },
    });
    await sql`insert into private.pending_logins (user_id, manager_id, created_at)
            values (${orphan}, ${aida.id}, now() - interval '6 minutes')`;
    // A creation in progress (a fresh note) is left alone.
    const inProgress = crypto.randomUUID();
    await sql`insert into private.pending_logins (user_id, manager_id) values (${inProgress}, ${aida.id})`;

    const sweep = await callFunction("create-tripwire-user/retry-emails", {
      method: "POST",
      headers: { authorization: `Bearer ${serviceKey}` },
    });
    const report = await sweep.json();
    assert.equal(sweep.status, 200);
    assert.ok(report.abandoned_logins_deleted >= 1);
    assert.equal((await sql`select 1 from auth.users where id = ${orphan}`).length, 0);
    assert.equal((await sql`select 1 from private.pending_logins where user_id = ${orphan}`).length, 0);
    assert.equal((await sql`select 1 from private.pending_logins where user_id = ${inProgress}`).length, 1);
    await sql`delete from private.pending_logins where user_id = ${inProgress}`;

    // A normal creation leaves no note behind.
    const created = await postStudent(aida.id, newStudentBody("Noted Student"));
    const { id } = await created.json();
    assert.equal((await sql`select 1 from private.pending_logins where user_id = ${id}`).length, 0);
  },
);

story(
  "a keyed retry after a crash between login and student adopts its own login; another manager's it does not",
  async () => {
    const body = newStudentBody("Adopted Login");
    const input = NewStudent.parse(body);
    // What a crash between the login and the student leaves once the key was given back: the login, its note,
    // no student.
    const interrupted = crypto.randomUUID();
    await authAdmin().createUser({
      id: interrupted,
      email: input.email,
      password: "Interrupted-Password-1",
      appMetadata: { role: "student", platform: "tripwire", granted_by: aida.id },
      userMetadata: { full_name: input.full_name },
    });
    await sql`insert into private.pending_logins (user_id, manager_id) values (${interrupted}, ${aida.id})`;

    const retried = await postStudent(aida.id, body, { "idempotency-key": `adopt-${interrupted}` });
    const created = await retried.json();
    assert.equal(retried.status, 201, JSON.stringify(created));
    assert.equal(created.id, interrupted, "the interrupted attempt's login, adopted");
    const [{ logins }] =
      await sql`select count(*)::int as logins from auth.users where email = ${input.email}`;
    assert.equal(logins, 1);
    // The new password is the one that works: the interrupted attempt's is gone.
    const [login] = await sql`
      select encrypted_password = extensions.crypt(${created.password}, encrypted_password) as works
      from auth.users where id = ${interrupted}`;
    assert.equal(login.works, true);
    assert.equal((await sql`select 1 from private.pending_logins where user_id = ${interrupted}`).length, 0);

    // Someone else's login (another manager's, or no note at all) is never adopted: that is email_exists.
    const other = newStudentBody("Not Yours");
    const otherInput = NewStudent.parse(other);
    const foreign = crypto.randomUUID();
    await authAdmin().createUser({
      id: foreign,
      email: otherInput.email,
      password: "Foreign-Password-12",
      appMetadata: {},
      userMetadata: {},
    });
    await sql`insert into private.pending_logins (user_id, manager_id) values (${foreign}, ${staff.daniyar.id})`;
    const refused = await postStudent(aida.id, other);
    assert.equal(refused.status, 409);
    assert.equal((await refused.json()).error.code, "email_exists");
    await sql`delete from private.pending_logins where user_id = ${foreign}`;
  },
);

story("a creation whose login was swept while it waited writes no student without a login", async () => {
  const body = newStudentBody("Slow Creation");
  // The sweep takes the note (and the login) the moment the login is made: the student must not be written.
  await sql`
    create or replace function public.tripwire_test_sweep() returns trigger language plpgsql as $$
    begin delete from private.pending_logins where user_id = new.id; return new; end $$`;
  await sql`create trigger tripwire_test_sweep after insert on auth.users
            for each row execute function public.tripwire_test_sweep()`;
  let response: Response;
  try {
    response = await postStudent(aida.id, body);
  } finally {
    await sql`drop trigger tripwire_test_sweep on auth.users`;
    await sql`drop function public.tripwire_test_sweep()`;
  }
  const answer = await response.json();
  assert.equal(response.status, 503, JSON.stringify(answer));
  assert.equal((await sql`select 1 from public.tripwire_users where email = ${body.email}`).length, 0);
  assert.equal(await loginExists(body.email), false, "the compensation deleted the login");
});

story(
  "a creation whose login another request adopted while it waited answers email_exists, the login left alone",
  async () => {
    const body = newStudentBody("Overtaken Creation");
    // A retry adopts the login the moment it is made (it renews the note's time): the first creation's claim is gone.
    await sql`
    create or replace function public.tripwire_test_adopt() returns trigger language plpgsql as $$
    begin update private.pending_logins set created_at = now() + interval '1 second' where user_id = new.id;
          return new; end $$`;
    await sql`create trigger tripwire_test_adopt after insert on auth.users
            for each row execute function public.tripwire_test_adopt()`;
    let response: Response;
    try {
      response = await postStudent(aida.id, body);
    } finally {
      await sql`drop trigger tripwire_test_adopt on auth.users`;
      await sql`drop function public.tripwire_test_adopt()`;
    }
    const answer = await response.json();
    assert.equal(response.status, 409, JSON.stringify(answer));
    assert.equal(answer.error.code, "email_exists", "the address is the adopter's now");
    assert.equal((await sql`select 1 from public.tripwire_users where email = ${body.email}`).length, 0);
    assert.equal(await loginExists(body.email), true, "the adopter's login is left alone");
    const [note] =
      await sql`select user_id from private.pending_logins p join auth.users a on a.id = p.user_id
                           where a.email = ${body.email}`;
    assert.ok(note, "the adopter's note is left alone");
    await sql`delete from private.pending_logins where user_id = ${note.user_id}`;
    await sql`delete from auth.users where id = ${note.user_id}`;
  },
);
