/**
 * Local sign-in (scripts/lib/local_auth/server.ts) through the real supabase-js client, as a front end uses it
 * against `npm start`: password grant, errors, refresh with rotation, the user, sign-out; the tokens it
 * issues are accepted by the functions.
 */
import assert from "node:assert/strict";
import { AuthApiError } from "@supabase/supabase-js";
import { sha256 } from "../supabase/functions/_shared/hash.ts";
import { failedSignInLimits, seededStaffPassword, startLocalAuth } from "../scripts/lib/local_auth/server.ts";
import { createMigratedDatabase } from "./support/database.ts";
import { aida } from "./support/fixtures.ts";
import { expectJson } from "./support/responses.ts";
import { appDatabase, baseUrl, jwtSecret, story } from "./support/server.ts";
import { newStudentBody, postStudent } from "./support/students.ts";
import { authPost, client, expectAuthError, newLogin, signIn } from "./support/sign_in.ts";

story(
  "a seeded manager signs in with the documented password; the session's token calls the functions",
  async () => {
    const supabase = client();
    const { data, error } = await supabase.auth.signInWithPassword({
      email: aida.email,
      password: seededStaffPassword,
    });
    assert.equal(error, null);
    assert.equal(data.user?.id, aida.id);
    assert.equal(data.user?.app_metadata.role, "manager");
    assert.equal(data.session?.token_type, "bearer");
    assert.equal(data.session?.expires_in, 3600);

    const stats = await supabase.functions.invoke("leaderboard/stats", { method: "GET" });
    assert.equal(stats.error, null);
    assert.equal(stats.data.manager_id, aida.id);

    const user = await supabase.auth.getUser();
    assert.equal(user.error, null);
    assert.equal(user.data.user?.email, aida.email);
    assert.equal(user.data.user?.user_metadata.full_name, "Aida Manager");
  },
);

story("a wrong password and an unknown e-mail get the same invalid_credentials error", async () => {
  for (const [email, password] of [[aida.email, "not-the-password"], ["nobody@tripwire.local", "whatever"]]) {
    const { data, error } = await client().auth.signInWithPassword({ email, password });
    assert.equal(data.session, null);
    assert.ok(error instanceof AuthApiError, String(error));
    assert.equal(error.status, 400);
    assert.equal(error.code, "invalid_credentials");
    assert.equal(error.message, "Invalid login credentials");
  }
  const missing = await authPost("token?grant_type=password", { email: aida.email });
  assert.equal((await expectJson(missing, 400)).error_code, "validation_failed");
  const grant = await authPost("token?grant_type=magic", { email: aida.email });
  assert.equal((await expectJson(grant, 400)).error_code, "unsupported_grant_type");
});

story("a student created by a manager signs in with the password the manager was shown", async () => {
  const body = newStudentBody("Signing Student", { send_welcome_email: false });
  const created = await expectJson(await postStudent(aida.id, body), 201);
  const supabase = client();
  const { data, error } = await supabase.auth.signInWithPassword({
    email: body.email,
    password: created.password,
  });
  assert.equal(error, null);
  assert.equal(data.user?.id, created.id);
  assert.equal(data.user?.app_metadata.role, "student");
  const beat = await supabase.functions.invoke("video-tracking", { body: { lesson_id: 67, segments: [] } });
  assert.equal(beat.error, null);
  assert.equal(beat.data.lesson_id, 67);
});

story(
  "a refresh rotates the token, stored only as its hash; presenting a used one ends the session",
  async () => {
    const supabase = client();
    const first = await supabase.auth.signInWithPassword({
      email: aida.email,
      password: seededStaffPassword,
    });
    const firstRefresh = first.data.session!.refresh_token;
    const stored = await appDatabase.sql<{ token: string }[]>`
    select token from auth.refresh_tokens where token in (${firstRefresh}, ${sha256(firstRefresh)})`;
    assert.deepEqual(stored.map((row) => row.token), [sha256(firstRefresh)], "only the hash is stored");

    const refreshed = await supabase.auth.refreshSession();
    assert.equal(refreshed.error, null);
    const second = refreshed.data.session!;
    assert.notEqual(second.refresh_token, firstRefresh);
    assert.equal((await supabase.functions.invoke("leaderboard/stats", { method: "GET" })).error, null);

    // The first token again: refused, and the session it belonged to is over (its newer token too).
    const reused = await authPost("token?grant_type=refresh_token", { refresh_token: firstRefresh });
    assert.equal((await expectJson(reused, 400)).error_code, "refresh_token_already_used");
    const after = await authPost("token?grant_type=refresh_token", { refresh_token: second.refresh_token });
    assert.equal((await expectJson(after, 400)).error_code, "refresh_token_not_found");
    const user = await fetch(`${baseUrl}/auth/v1/user`, {
      headers: { authorization: `Bearer ${second.access_token}` },
    });
    assert.equal((await expectJson(user, 403)).error_code, "session_not_found");
  },
);

story("two concurrent refreshes with one token: exactly one gets a new session", async () => {
  const signedIn = await client().auth.signInWithPassword({
    email: aida.email,
    password: seededStaffPassword,
  });
  const token = signedIn.data.session!.refresh_token;
  const answers = await Promise.all(
    [1, 2].map(() => authPost("token?grant_type=refresh_token", { refresh_token: token })),
  );
  assert.deepEqual(answers.map((answer) => answer.status).sort(), [200, 400]);
  await Promise.all(answers.map((answer) => answer.body?.cancel()));
});

story("sign-out ends the session: its refresh token and GET /user are refused", async () => {
  const supabase = client();
  const { data } = await supabase.auth.signInWithPassword({
    email: aida.email,
    password: seededStaffPassword,
  });
  const session = data.session!;
  const other = await client().auth.signInWithPassword({ email: aida.email, password: seededStaffPassword });
  assert.equal((await supabase.auth.signOut({ scope: "local" })).error, null);
  assert.equal((await supabase.auth.getSession()).data.session, null);

  const refresh = await authPost("token?grant_type=refresh_token", { refresh_token: session.refresh_token });
  assert.equal((await expectJson(refresh, 400)).error_code, "refresh_token_not_found");
  const user = await fetch(`${baseUrl}/auth/v1/user`, {
    headers: { authorization: `Bearer ${session.access_token}` },
  });
  assert.equal((await expectJson(user, 403)).error_code, "session_not_found");
  // scope=local leaves the user's other sessions; global ends them too.
  const otherToken = other.data.session!.access_token;
  const stillIn = await fetch(`${baseUrl}/auth/v1/user`, {
    headers: { authorization: `Bearer ${otherToken}` },
  });
  assert.equal((await expectJson(stillIn)).id, aida.id);
  const global = await authPost("logout?scope=global", {}, otherToken);
  assert.equal(global.status, 204);
  const ended = await fetch(`${baseUrl}/auth/v1/user`, {
    headers: { authorization: `Bearer ${otherToken}` },
  });
  assert.equal((await expectJson(ended, 403)).error_code, "session_not_found");

  const none = await fetch(`${baseUrl}/auth/v1/user`);
  assert.equal((await expectJson(none, 401)).error_code, "no_authorization");
  const forged = await fetch(`${baseUrl}/auth/v1/user`, { headers: { authorization: "Bearer not.a.jwt" } });
  assert.equal((await expectJson(forged, 403)).error_code, "bad_jwt");
});

story("a browser's preflight to /auth/v1 is allowed from any origin with supabase-js's headers", async () => {
  const response = await fetch(`${baseUrl}/auth/v1/token?grant_type=password`, {
    method: "OPTIONS",
    headers: {
      origin: "http://127.0.0.1:54323",
      "access-control-request-method": "POST",
      "access-control-request-headers":
        "apikey,authorization,content-type,x-client-info,x-supabase-api-version",
    },
  });
  await response.body?.cancel();
  assert.equal(response.status, 204);
  assert.equal(response.headers.get("access-control-allow-origin"), "*");
  assert.match(response.headers.get("access-control-allow-headers") ?? "", /x-supabase-api-version/);
});

story("the local sign-in refuses to start on a database where Supabase Auth owns auth.users", async () => {
  const database = await createMigratedDatabase();
  try {
    await database.sql.unsafe(`
      do $$ begin
        if not exists (select 1 from pg_roles where rolname = 'supabase_auth_admin') then
          create role supabase_auth_admin nologin;
        end if;
      end $$;
      alter table auth.users owner to supabase_auth_admin`);
    await assert.rejects(
      startLocalAuth({ databaseUrl: database.url, jwtSecret, secretKeys: [], issuer: "test" }),
      /refuses to start: Supabase Auth runs on this database/,
    );
  } finally {
    await database.drop();
  }
});

story("ten wrong passwords for one e-mail: then even the right one answers 429 for a while", async () => {
  const bolat = await newLogin("Guessed Student");
  for (let i = 0; i < failedSignInLimits.perEmail.failures; i++) {
    await expectAuthError(
      await signIn(bolat.email, `wrong-${i}`, `198.51.100.${i}`),
      400,
      "invalid_credentials",
    );
  }
  const refused = await signIn(bolat.email, bolat.password, "198.51.100.200");
  await expectAuthError(refused, 429, "over_request_rate_limit");
  const wait = Number(refused.headers.get("retry-after"));
  assert.ok(wait > 0 && wait <= failedSignInLimits.perEmail.windowSeconds, `Retry-After ${wait}`);
  // Another person is not locked out by it.
  const other = await newLogin("Unguessed Student");
  assert.equal((await signIn(other.email, other.password, "198.51.100.201")).status, 200);
});

story("thirty wrong passwords from one address: that address waits, others sign in", async () => {
  const dana = await newLogin("Sprayed Student");
  const attacker = "203.0.113.7";
  for (let i = 0; i < failedSignInLimits.perAddress.failures; i++) {
    await expectAuthError(
      await signIn(`nobody-${i}@example.kz`, "guess", attacker),
      400,
      "invalid_credentials",
    );
  }
  const refused = await signIn(dana.email, dana.password, attacker);
  await expectAuthError(refused, 429, "over_request_rate_limit");
  assert.ok(Number(refused.headers.get("retry-after")) > 0);
  assert.equal((await signIn(dana.email, dana.password, "203.0.113.8")).status, 200);
});

story("a refresh token no longer works for a banned or a deleted user, as GoTrue refuses both", async () => {
  for (const [change, code] of [["banned", "user_banned"], ["deleted", "refresh_token_not_found"]] as const) {
    const person = await newLogin(`Refreshed ${change}`);
    const session = await (await signIn(person.email, person.password, "192.0.2.1")).json();
    if (change === "banned") {
      await appDatabase
        .sql`update auth.users set banned_until = now() + interval '1 day' where id = ${person.id}`;
    } else {
      await appDatabase.sql`update auth.users set deleted_at = now() where id = ${person.id}`;
    }
    await expectAuthError(
      await authPost("token?grant_type=refresh_token", { refresh_token: session.refresh_token }),
      400,
      code,
    );
  }
});

story(
  "80 concurrent sign-ins for one student, 79 wrong and the right one last: only the limit's worth are checked",
  async () => {
    const target = await newLogin("Raced Student");
    const attacker = "203.0.113.66";
    // All sent at once over their own connections; the right password goes last.
    const answers = await Promise.all(
      Array.from({ length: 80 }, (_, i) =>
        fetch(`${baseUrl}/auth/v1/token?grant_type=password`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-forwarded-for": `10.9.${i}.1, ${attacker}` },
          body: JSON.stringify({ email: target.email, password: i === 79 ? target.password : `wrong-${i}` }),
        }).then(async (response) => ({ status: response.status, body: await response.json() }))),
    );
    const checked = answers.filter((answer) => answer.status !== 429);
    assert.equal(
      checked.length,
      failedSignInLimits.perEmail.failures,
      JSON.stringify(answers.map((a) => a.status)),
    );
    assert.ok(checked.every((answer) => answer.body.error_code === "invalid_credentials"));
    assert.equal(answers[79].status, 429, "the right password, arriving after the limit, is not checked");
  },
);

story(
  "the per-client limit keys on the address the trusted proxy appended, not on what the client wrote",
  async () => {
    const real = "203.0.113.99";
    // A client writes a new first entry each time; the gateway appends the address it really came from.
    for (let i = 0; i < failedSignInLimits.perAddress.failures; i++) {
      await expectAuthError(
        await signIn(`sprayed-${i}@example.kz`, "guess", `192.0.2.${i}, ${real}`),
        400,
        "invalid_credentials",
      );
    }
    const dana = await newLogin("Behind The Sprayer");
    await expectAuthError(
      await signIn(dana.email, dana.password, `192.0.2.250, ${real}`),
      429,
      "over_request_rate_limit",
    );
    assert.equal((await signIn(dana.email, dana.password, `${real}, 203.0.113.100`)).status, 200);
  },
);

story(
  "sign-in and recovery refuse control characters and large bodies with a 400 or 413, not a 500",
  async () => {
    for (
      const body of [{ email: "bolat\u0000@example.kz", password: "x" }, {
        email: "a@example.kz",
        password: "p\u0000",
      }]
    ) {
      await expectAuthError(await authPost("token?grant_type=password", body), 400, "validation_failed");
    }
    await expectAuthError(
      await authPost("recover", { email: "nul\u0000@example.kz" }),
      400,
      "validation_failed",
    );
    const huge = await fetch(`${baseUrl}/auth/v1/token?grant_type=password`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "a@example.kz", password: "x".repeat(50 * 1024 * 1024) }),
    });
    await expectAuthError(huge, 413, "request_too_large");
  },
);
