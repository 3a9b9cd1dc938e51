/**
 * Local sign-in (scripts/lib/local_auth.ts) through the real supabase-js client, as a front end uses it
 * against `npm start`: password grant, errors, refresh with rotation, the user, sign-out; the tokens it
 * issues are accepted by the functions.
 */
import assert from "node:assert/strict";
import {
  AuthApiError,
  createClient,
  isAuthWeakPasswordError,
  type SupabaseClient,
} from "@supabase/supabase-js";
import { sha256 } from "../supabase/functions/_shared/hash.ts";
import { failedSignInLimits, seededStaffPassword, startLocalAuth } from "../scripts/lib/local_auth.ts";
import { createMigratedDatabase } from "./support/database.ts";
import { aida } from "./support/fixtures.ts";
import { expectJson } from "./support/responses.ts";
import { appDatabase, baseUrl, jwtSecret, story } from "./support/server.ts";
import { newStudentBody, postStudent, tablesContaining } from "./support/students.ts";
import { startResendServer } from "../scripts/lib/resend_server.ts";
import { localStackHandler } from "../scripts/serve.ts";
import { ResendEmailSender } from "../supabase/functions/_domain/email.ts";
import postgres from "postgres";

/** A browser-like client with its own session storage. */
function client(): SupabaseClient {
  const storage = new Map<string, string>();
  return createClient(baseUrl, "local-publishable-key", {
    auth: {
      persistSession: true,
      autoRefreshToken: false,
      detectSessionInUrl: false,
      storage: {
        getItem: (key) => storage.get(key) ?? null,
        setItem: (key, value) => void storage.set(key, value),
        removeItem: (key) => void storage.delete(key),
      },
    },
  });
}

async function authPost(path: string, body: unknown, token?: string): Promise<Response> {
  return await fetch(`${baseUrl}/auth/v1/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
}

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
      startLocalAuth({ databaseUrl: database.url, jwtSecret, issuer: "test" }),
      /refuses to start: Supabase Auth runs on this database/,
    );
  } finally {
    await database.drop();
  }
});

/** A new student made through the API, with the password the manager was shown. */
async function newLogin(name: string): Promise<{ email: string; password: string; id: string }> {
  const created = await expectJson(await postStudent(aida.id, newStudentBody(name)), 201);
  return { email: created.email, password: created.password, id: created.id };
}

function signIn(email: string, password: string, address?: string): Promise<Response> {
  return fetch(`${baseUrl}/auth/v1/token?grant_type=password`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(address ? { "x-forwarded-for": address } : {}) },
    body: JSON.stringify({ email, password }),
  });
}

async function expectAuthError(response: Response, status: number, code: string) {
  const body = await response.json();
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(body.error_code, code);
  return body;
}

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

/**
 * A local sign-in of its own whose e-mails go to a server that answers as Resend does, so the story reads
 * the recovery link from the e-mail a student would get.
 */
async function recoveryStack() {
  const resend = startResendServer();
  const sender = new ResendEmailSender(resend.apiKey, "Tripwire <no-reply@tripwire.local>", resend.url);
  let port = 0;
  const auth = await startLocalAuth({
    databaseUrl: appDatabase.url,
    jwtSecret,
    issuer: "tripwire-tests",
    externalUrl: "http://placeholder",
    siteUrl: "http://127.0.0.1:54323/",
    redirectOrigins: ["https://academy.example"],
    emailSender: sender,
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, localStackHandler(auth));
  port = server.addr.port;
  const url = `http://127.0.0.1:${port}`;
  const anonymous = () => createClient(url, "local-publishable-key", { auth: { persistSession: false } });
  /** The link in the last e-mail to `email`, pointed at this server, once the e-mails asked for are sent. */
  const linkFor = async (email: string) => {
    await auth.settled();
    const mail = resend.accepted.findLast((sent) => sent.body.to.includes(email));
    const link = mail?.body.text.match(/http:\/\/placeholder\/verify\?\S+/)?.[0];
    assert.ok(link, `an e-mail with a link to ${email}`);
    return { mail: mail!, link: link.replace("http://placeholder", `${url}/auth/v1`) };
  };
  return {
    url,
    resend,
    anonymous,
    linkFor,
    settled: () => auth.settled(),
    async close() {
      await server.shutdown();
      await auth.close();
      await resend.close();
    },
  };
}

/** Follows a recovery link as a browser does, without following the redirect: its target's fragment. */
async function follow(link: string): Promise<{ location: URL; fragment: URLSearchParams }> {
  const response = await fetch(link, { redirect: "manual" });
  await response.body?.cancel();
  assert.equal(response.status, 303);
  const location = new URL(response.headers.get("location")!);
  return { location, fragment: new URLSearchParams(location.hash.slice(1)) };
}

story("Bolat forgot his password: a link by e-mail, a new password, no manager involved", async (t) => {
  const stack = await recoveryStack();
  try {
    const created = await postStudent(
      aida.id,
      newStudentBody("Bolat Forgetful", { send_welcome_email: false }),
    );
    const bolat = await expectJson(created, 201);
    const redirectTo = "https://academy.example/";

    await t.step(
      "resetPasswordForEmail answers {} and e-mails a link, in the academy's language",
      async () => {
        const { error } = await stack.anonymous().auth.resetPasswordForEmail(bolat.email, { redirectTo });
        assert.equal(error, null);
        const { mail, link } = await stack.linkFor(bolat.email);
        assert.equal(mail.body.subject, "Восстановление пароля к курсу Tripwire");
        assert.match(mail.body.text, /«Забыли пароль\?»/);
        assert.match(mail.headers["idempotency-key"], /^password-recovery-email\/\d+$/);
        const url = new URL(link);
        assert.equal(url.searchParams.get("type"), "recovery");
        assert.equal(url.searchParams.get("redirect_to"), redirectTo);
        // Stored only as a hash: the link itself is nowhere in the database once sent.
        const [row] = await appDatabase.sql`
        select a.recovery_token, o.status, o.sealed_password from auth.users a
        join private.email_outbox o on o.user_id = a.id and o.template = 'password_recovery'
        where a.id = ${bolat.id} order by o.id desc limit 1`;
        assert.equal(row.recovery_token, sha256(url.searchParams.get("token")!));
        assert.deepEqual([row.status, row.sealed_password], ["sent", null]);
        assert.deepEqual(await tablesContaining(appDatabase.sql, url.searchParams.get("token")!), []);
      },
    );

    await t.step("an unknown e-mail gets the same answer, and nothing is sent", async () => {
      const before = stack.resend.accepted.length;
      const { data, error } = await stack.anonymous().auth.resetPasswordForEmail("nobody@example.kz", {
        redirectTo,
      });
      assert.equal(error, null);
      assert.deepEqual(data, {});
      await stack.settled();
      assert.equal(stack.resend.accepted.length, before);
    });

    await t.step("asking again within a minute: 429 for a known and an unknown e-mail alike", async () => {
      for (const email of [bolat.email, "nobody@example.kz"]) {
        const response = await fetch(`${stack.url}/auth/v1/recover`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email }),
        });
        assert.equal(response.status, 429);
        assert.ok(Number(response.headers.get("retry-after")) > 0);
        const body = await response.json();
        assert.equal(body.error_code, "over_email_send_rate_limit");
        assert.match(body.msg, /^For security purposes, you can only request this after \d+ seconds\.$/);
      }
    });

    const { link } = await stack.linkFor(bolat.email);
    let session: { access_token: string; refresh_token: string };

    await t.step("the link signs him in once: to the redirect, the session in the fragment", async () => {
      const { location, fragment } = await follow(link);
      assert.equal(`${location.origin}${location.pathname}`, redirectTo);
      assert.equal(fragment.get("type"), "recovery");
      assert.equal(fragment.get("token_type"), "bearer");
      assert.equal(fragment.get("expires_in"), "3600");
      session = {
        access_token: fragment.get("access_token")!,
        refresh_token: fragment.get("refresh_token")!,
      };
      const again = await follow(link);
      assert.equal(again.fragment.get("error_code"), "otp_expired", "a link works once");
      assert.equal(again.fragment.get("error"), "access_denied");
      assert.equal(again.fragment.get("error_description"), "Email link is invalid or has expired");
    });

    await t.step("updateUser: too short, the same password, then a new one; other sessions end", async () => {
      const supabase = client();
      const other = client();
      const { error: oldSignIn } = await other.auth.signInWithPassword({
        email: bolat.email,
        password: bolat.password,
      });
      assert.equal(oldSignIn, null, "his old password still works until he changes it");
      await supabase.auth.setSession(session);

      const short = await supabase.auth.updateUser({ password: "short" });
      // supabase-js reads GoTrue's weak_password answer into its AuthWeakPasswordError, with the reasons.
      assert.ok(isAuthWeakPasswordError(short.error), String(short.error));
      assert.equal(short.error.status, 422);
      assert.equal(short.error.code, "weak_password");
      assert.deepEqual(short.error.reasons, ["length"]);

      const same = await supabase.auth.updateUser({ password: bolat.password });
      assert.equal(same.error?.code, "same_password");

      const changed = await supabase.auth.updateUser({ password: "a-new-password-of-his" });
      assert.equal(changed.error, null);
      assert.equal(changed.data.user?.id, bolat.id);
      const refreshed = await other.auth.refreshSession();
      assert.ok(refreshed.error, "the other session ended with the change");
    });

    await t.step("the new password signs him in; the old one no longer does", async () => {
      const fresh = client();
      const old = await fresh.auth.signInWithPassword({ email: bolat.email, password: bolat.password });
      assert.equal(old.error?.code, "invalid_credentials");
      const signedIn = await fresh.auth.signInWithPassword({
        email: bolat.email,
        password: "a-new-password-of-his",
      });
      assert.equal(signedIn.error, null);
      const dashboard = await fresh.functions.invoke("student-dashboard", { method: "GET" });
      assert.equal(dashboard.error, null, "his course opens with it");
    });

    await t.step("Dana's links: a foreign redirect, a tampered token, an hour old", async () => {
      const dana = await expectJson(
        await postStudent(aida.id, newStudentBody("Dana Forgetful", { send_welcome_email: false })),
        201,
      );
      const asked = await fetch(
        `${stack.url}/auth/v1/recover?redirect_to=${encodeURIComponent("https://evil.example/")}`,
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email: dana.email.toUpperCase() }),
        },
      );
      assert.deepEqual(await asked.json(), {});
      const { link } = await stack.linkFor(dana.email);
      assert.equal(
        new URL(link).searchParams.get("redirect_to"),
        "http://127.0.0.1:54323/",
        "only allowed origins",
      );
      const tampered = new URL(link);
      tampered.searchParams.set("token", "0".repeat(56));
      assert.equal((await follow(tampered.toString())).fragment.get("error_code"), "otp_expired");
      await appDatabase.sql`
        update auth.users set recovery_sent_at = now() - interval '61 minutes' where id = ${dana.id}`;
      const expired = await follow(link);
      assert.equal(expired.fragment.get("error_code"), "otp_expired", "an hour old");
      assert.equal(expired.location.origin, "http://127.0.0.1:54323");
    });
  } finally {
    await stack.close();
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

story(
  "recovery answers before any e-mail work, known address or not, and a client may ask only so often",
  async () => {
    const stack = await recoveryStack();
    const locker = postgres(appDatabase.url, { max: 1, onnotice: () => {} });
    try {
      const known = await expectJson(
        await postStudent(aida.id, newStudentBody("Locked Out", { send_welcome_email: false })),
        201,
      );
      const ask = (email: string, address = "198.51.100.150") =>
        fetch(`${stack.url}/auth/v1/recover`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-forwarded-for": address },
          body: JSON.stringify({ email }),
          // A hang detector, not a timing: the old recovery waited on the locked table below for ever.
          signal: AbortSignal.timeout(10_000),
        });
      // While another transaction holds auth.users, nothing that reads it can finish: the answers come anyway,
      // the same for an address with a login and one without.
      let release!: () => void;
      const held = new Promise<void>((resolve) => release = resolve);
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => locked = resolve);
      const holding = locker.begin(async (tx) => {
        await tx`lock table auth.users in access exclusive mode`;
        locked();
        await held;
      });
      await isLocked;
      const answers = await Promise.all([ask(known.email), ask("nobody.locked@example.kz")]);
      for (const answer of answers) assert.deepEqual([answer.status, await answer.json()], [200, {}]);
      release();
      await holding;
      const { mail } = await stack.linkFor(known.email);
      assert.ok(mail.body.to.includes(known.email), "the e-mail went once the table was free");

      // Per client: five recovery e-mails a quarter of an hour, whichever addresses they are for.
      const client = "198.51.100.151";
      for (let i = 0; i < 5; i++) assert.equal((await ask(`spray.${i}@example.kz`, client)).status, 200);
      const refused = await ask("spray.5@example.kz", client);
      await expectAuthError(refused, 429, "over_email_send_rate_limit");
      assert.equal((await ask("spray.5@example.kz", "198.51.100.152")).status, 200, "another client may");
    } finally {
      await locker.end();
      await stack.close();
    }
  },
);
