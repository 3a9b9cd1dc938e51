/**
 * A forgotten password through the local Supabase Auth (scripts/lib/local_auth/recovery.ts) and the real
 * supabase-js client: the e-mail with its link, the link followed into a session, the new password, and a
 * recovery that answers before any e-mail work and only so often.
 */
import assert from "node:assert/strict";
import { createClient, isAuthWeakPasswordError } from "@supabase/supabase-js";
import { sha256 } from "../supabase/functions/_shared/hash.ts";
import { startLocalAuth } from "../scripts/lib/local_auth/server.ts";
import { aida } from "./support/fixtures.ts";
import { expectJson } from "./support/responses.ts";
import { appDatabase, jwtSecret, story } from "./support/server.ts";
import { newStudentBody, postStudent, tablesContaining } from "./support/students.ts";
import { startResendServer } from "../scripts/lib/resend_server.ts";
import { localStackHandler } from "../scripts/serve.ts";
import { ResendEmailSender } from "../supabase/functions/_domain/email.ts";
import postgres from "postgres";
import { client, expectAuthError } from "./support/sign_in.ts";

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
    secretKeys: [],
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
