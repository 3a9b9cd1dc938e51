/**
 * The local Supabase Auth's admin routes (scripts/lib/local_auth/admin.ts) through supabase-js's admin client, as
 * the functions call them in every environment: a login made, read, given a new password, banned and let back,
 * deleted; only for a server key; GoTrue's answers for a taken address, a weak password and a bad body.
 */
import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import { SignJWT } from "jose";
import { appDatabase, baseUrl, jwtSecret, serviceKey, story, tokenFor } from "./support/server.ts";
import { expectAuthError, signIn } from "./support/sign_in.ts";
import { staff } from "./support/students.ts";

const sql = appDatabase.sql;
const admin = () => createClient(baseUrl, serviceKey, { auth: { persistSession: false } }).auth.admin;
const newEmail = (name: string) => `${name}.${crypto.randomUUID().slice(0, 8)}@example.kz`.toLowerCase();

function adminCall(method: string, path: string, body: unknown, headers: Record<string, string>) {
  return fetch(`${baseUrl}/auth/v1/admin/${path}`, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

story(
  "a login made through the admin API signs in, changes password, is banned, let back and deleted",
  async () => {
    const id = crypto.randomUUID();
    const email = newEmail("Admin.Made");
    const created = await admin().createUser({
      id,
      email: email.toUpperCase(),
      password: "first-password-1",
      email_confirm: true,
      app_metadata: { role: "student" },
      user_metadata: { full_name: "Admin Made" },
    });
    assert.equal(created.error, null);
    assert.equal(created.data.user?.id, id);
    assert.equal(created.data.user?.email, email, "kept in lower case, as GoTrue keeps it");
    assert.deepEqual(created.data.user?.app_metadata, {
      provider: "email",
      providers: ["email"],
      role: "student",
    });
    const [identity] = await sql`select provider, identity_data ->> 'email' as email from auth.identities
                               where user_id = ${id}`;
    assert.deepEqual({ ...identity }, { provider: "email", email });
    assert.equal((await signIn(email, "first-password-1")).status, 200);

    const read = await admin().getUserById(id);
    assert.equal(read.data.user?.user_metadata.full_name, "Admin Made");

    const changed = await admin().updateUserById(id, {
      password: "second-password-2",
      user_metadata: { lang: "kk" },
    });
    assert.equal(changed.error, null);
    assert.deepEqual(changed.data.user?.user_metadata, { full_name: "Admin Made", lang: "kk" }, "merged");
    await expectAuthError(await signIn(email, "first-password-1"), 400, "invalid_credentials");
    assert.equal((await signIn(email, "second-password-2")).status, 200);

    // A ban refuses sign-in; as GoTrue's, it leaves the sessions as they are (the functions end access themselves).
    const [{ sessions }] =
      await sql`select count(*)::int as sessions from auth.sessions where user_id = ${id}`;
    assert.equal((await admin().updateUserById(id, { ban_duration: "876000h" })).error, null);
    await expectAuthError(await signIn(email, "second-password-2"), 400, "user_banned");
    const [{ after }] = await sql`select count(*)::int as after from auth.sessions where user_id = ${id}`;
    assert.equal(after, sessions);
    assert.equal((await admin().updateUserById(id, { ban_duration: "none" })).error, null);
    assert.equal((await signIn(email, "second-password-2")).status, 200);

    assert.equal((await admin().deleteUser(id)).error, null);
    assert.equal((await sql`select 1 from auth.users where id = ${id}`).length, 0);
    const again = await admin().deleteUser(id);
    assert.equal(again.error?.status, 404);
    assert.equal(again.error?.code, "user_not_found");
  },
);

story(
  "GoTrue's answers: a taken address 422 email_exists, a weak password, a bad body, a bad ban",
  async () => {
    const email = newEmail("Taken");
    assert.equal(
      (await admin().createUser({ email, password: "a-good-password", email_confirm: true })).error,
      null,
    );
    const taken = await admin().createUser({ email: email.toUpperCase(), password: "another-password" });
    assert.equal(taken.error?.status, 422);
    assert.equal(taken.error?.code, "email_exists");

    const weak = await admin().createUser({ email: newEmail("Weak"), password: "short" });
    assert.equal(weak.error?.status, 422);
    assert.equal(weak.error?.code, "weak_password");

    const key = { apikey: serviceKey, authorization: `Bearer ${serviceKey}` };
    await expectAuthError(
      await adminCall("POST", "users", { email: "not-an-address" }, key),
      400,
      "validation_failed",
    );
    await expectAuthError(
      await adminCall("POST", "users", { email: newEmail("Id"), id: "not-a-uuid" }, key),
      400,
      "validation_failed",
    );
    const unknown = await expectAuthError(
      await adminCall("POST", "users", { email: newEmail("Phone"), phone: "+77011234567" }, key),
      400,
      "validation_failed",
    );
    assert.match(unknown.msg, /does not take this field/);
    await expectAuthError(
      await adminCall("PUT", `users/${staff.aida.id}`, { ban_duration: "forever" }, key),
      400,
      "validation_failed",
    );
    await expectAuthError(await adminCall("GET", "users/not-a-uuid", undefined, key), 404, "user_not_found");
    await expectAuthError(await adminCall("POST", "users", [1], key), 400, "bad_json");
  },
);

story("only a server key calls the admin routes: a secret key, or a service_role token", async () => {
  await expectAuthError(
    await adminCall("GET", `users/${staff.aida.id}`, undefined, {}),
    401,
    "no_authorization",
  );
  const person = await tokenFor(staff.aida.id);
  await expectAuthError(
    await adminCall("GET", `users/${staff.aida.id}`, undefined, { authorization: `Bearer ${person}` }),
    403,
    "not_admin",
  );
  await expectAuthError(
    await adminCall("GET", `users/${staff.aida.id}`, undefined, {
      apikey: "sb_publishable_not_a_secret",
      authorization: "Bearer sb_publishable_not_a_secret",
    }),
    403,
    "bad_jwt",
  );
  const serviceRole = await new SignJWT({ role: "service_role" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .sign(new TextEncoder().encode(jwtSecret));
  const answer = await adminCall("GET", `users/${staff.aida.id}`, undefined, {
    authorization: `Bearer ${serviceRole}`,
  });
  assert.equal(answer.status, 200);
  assert.equal((await answer.json()).id, staff.aida.id);
});
