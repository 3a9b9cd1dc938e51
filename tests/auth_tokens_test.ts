/** Tokens: forged, unsigned, expired and loose ones refused; HS256, ES256 and JWKS; roles from the database; access ends at once. */
import assert from "node:assert/strict";
import { decodeJwt, SignJWT, UnsecuredJWT } from "jose";

import { createJwtVerifier } from "../supabase/functions/_shared/auth.ts";
import { aida, insertStudent, saule } from "./support/fixtures.ts";

import {
  appDatabase,
  baseUrl,
  callFunction,
  jwtSecret,
  signedIn,
  signingKeyId,
  signingKeys,
  story,
  tokenFor,
} from "./support/server.ts";
import { expectError } from "./support/responses.ts";

const bolat = await insertStudent(appDatabase.sql, {
  managerId: aida.id,
  email: "bolat.tokens@example.kz",
  fullName: "Bolat",
});

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** The claims of a good token, with some changed (undefined removes one). */
function claims(changes: Record<string, unknown>): Record<string, unknown> {
  const base = {
    role: "authenticated",
    aud: "authenticated",
    sub: aida.id,
    iat: nowSeconds(),
    exp: nowSeconds() + 3600,
  };
  return Object.fromEntries(
    Object.entries({ ...base, ...changes }).filter(([, value]) => value !== undefined),
  );
}

/** Signs exactly these claims with the project's HS256 secret. */
function hs256(payload: Record<string, unknown>, kid?: string): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: "HS256", typ: "JWT", ...(kid ? { kid } : {}) })
    .sign(new TextEncoder().encode(jwtSecret));
}

story("forged, unsigned, expired and over-loose tokens → 401", async (t) => {
  const cases: [string, () => Promise<string>][] = [
    ["wrong HS256 secret", () => tokenFor(aida.id, { secret: "another-secret-of-at-least-32-characters!!" })],
    [
      "alg none",
      () => Promise.resolve(new UnsecuredJWT({ role: "authenticated" }).setSubject(aida.id).encode()),
    ],
    ["expired", () => tokenFor(aida.id, { expiresIn: Math.floor(Date.now() / 1000) - 60 })],
    ["ES256 signed by a key not in the JWKS", async () => {
      const { privateKey } = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
        "sign",
        "verify",
      ]);
      return await new SignJWT({ role: "authenticated" }).setProtectedHeader({
        alg: "ES256",
        kid: signingKeyId,
      })
        .setSubject(aida.id).setExpirationTime("1h").sign(privateKey);
    }],
    ["garbage", () => Promise.resolve("not.a.jwt")],
    // Looser than any token Supabase Auth issues (issue: faults and abuse, finding 8).
    ["no exp", () => hs256({ role: "authenticated", aud: "authenticated", sub: aida.id })],
    ["exp a century away", () => hs256(claims({ exp: nowSeconds() + 100 * 365 * 86_400 }))],
    ["exp eight days away", () => hs256(claims({ exp: nowSeconds() + 8 * 86_400 }))],
    ["iat in the future", () => hs256(claims({ iat: nowSeconds() + 3600 }))],
    ["another audience", () => hs256(claims({ aud: "anon" }))],
    ["no audience", () => hs256(claims({ aud: undefined }))],
    ["HS256 naming an unknown kid", () => hs256(claims({}), "someone-elses-key")],
  ];
  for (const [name, makeToken] of cases) {
    await t.step(name, async () => {
      const response = await callFunction("leaderboard", {
        headers: { authorization: `Bearer ${await makeToken()}` },
      });
      await expectError(response, 401, "invalid_token");
    });
  }
});

story("valid HS256 and ES256 (JWKS) tokens pass; the role comes from public.users", async () => {
  for (const alg of ["HS256", "ES256"] as const) {
    const manager = await callFunction("leaderboard", {
      headers: { authorization: `Bearer ${await tokenFor(aida.id, { alg })}` },
    });
    assert.equal(manager.status, 200);
    assert.ok(Array.isArray((await manager.json()).managers));

    const student = await callFunction("leaderboard", {
      headers: { authorization: `Bearer ${await tokenFor(bolat.id, { alg })}` },
    });
    await expectError(student, 403, "forbidden");
  }
  const stranger = await callFunction("leaderboard", {
    headers: { authorization: `Bearer ${await tokenFor(crypto.randomUUID())}` },
  });
  await expectError(stranger, 403, "forbidden");
});

story("a role claimed in the token or the body is ignored", async () => {
  const token = await new SignJWT({
    role: "authenticated",
    app_metadata: { role: "admin" },
    user_role: "admin",
    session_id: (await signedIn(bolat.id)).session_id,
  })
    .setProtectedHeader({ alg: "ES256", kid: signingKeyId }).setSubject(bolat.id).setAudience("authenticated")
    .setExpirationTime("1h").sign(signingKeys.privateKey);
  const response = await callFunction("create-tripwire-user", {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ role: "admin" }),
  });
  await expectError(response, 403, "forbidden");
});

story("the asymmetric keys can also come from the project's JWKS URL", async () => {
  const jwk = await crypto.subtle.exportKey("jwk", signingKeys.publicKey);
  let served = 0;
  // A test server answering as Supabase Auth's /auth/v1/.well-known/jwks.json does.
  const auth = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    if (new URL(request.url).pathname !== "/auth/v1/.well-known/jwks.json") {
      return new Response("not found", { status: 404 });
    }
    served++;
    return Response.json({ keys: [{ ...jwk, kid: signingKeyId, alg: "ES256", use: "sig" }] });
  });
  try {
    const verify = createJwtVerifier({
      jwksUrl: new URL(`http://127.0.0.1:${auth.addr.port}/auth/v1/.well-known/jwks.json`),
    });
    const claims = await verify(await tokenFor(aida.id, { alg: "ES256" }));
    assert.equal(claims.sub, aida.id);
    assert.equal(served, 1);
    // HS256 is refused by a verifier that holds no legacy secret.
    await assert.rejects(verify(await tokenFor(aida.id)), /not accepted/);
  } finally {
    await auth.shutdown();
  }
});

story("a remembered token still expires, and a token with another signature is verified afresh", async () => {
  let now = Date.now();
  const verify = createJwtVerifier({ jwtSecret, now: () => now });
  const exp = Math.floor(now / 1000) + 30;
  const token = await tokenFor(aida.id, { expiresIn: exp });
  assert.equal((await verify(token)).sub, aida.id);
  assert.equal((await verify(token)).sub, aida.id);

  // Same header and payload, another signature: not the remembered string, so it is checked.
  const [header, payload] = token.split(".");
  const forged = `${header}.${payload}.${"A".repeat(43)}`;
  await assert.rejects(verify(forged), /not valid/);

  now = exp * 1000 + 1;
  await assert.rejects(verify(token), /expired/);
});

story("an HS256 token may name a configured kid; a token valid for six days passes", async () => {
  const verify = createJwtVerifier({ jwtSecret, jwtSecretKids: ["legacy-2026"] });
  assert.equal((await verify(await hs256(claims({}), "legacy-2026"))).sub, aida.id);
  assert.equal((await verify(await hs256(claims({})))).sub, aida.id);
  assert.equal((await verify(await hs256(claims({ exp: nowSeconds() + 6 * 86_400 })))).sub, aida.id);
  await assert.rejects(verify(await hs256(claims({}), "legacy-2025")), /signing key/);
});

story(
  "access ends at once: a token of an erased, deleted, signed-out or banned person opens nothing, though it has not expired",
  async (t) => {
    const student = async (name: string) => {
      const made = await insertStudent(appDatabase.sql, {
        managerId: aida.id,
        email: `${name}.${crypto.randomUUID().slice(0, 8)}@example.kz`,
        fullName: name,
      });
      return { ...made, token: await tokenFor(made.id) };
    };
    /** Every route a student's token opens, tried with `token`: the statuses answered. */
    const studentRoutes = async (token: string) => {
      const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      const calls: [string, RequestInit][] = [
        ["student-dashboard", { headers }],
        ["student-dashboard/export", { headers }],
        ["video-tracking", {
          method: "POST",
          headers,
          body: JSON.stringify({ lesson_id: 67, segments: [] }),
        }],
        ["video-tracking/video?lesson_id=67", { headers }],
        ["video-tracking?lesson_id=67", { headers }],
        ["complete-lesson", { method: "POST", headers, body: JSON.stringify({ lesson_id: 67 }) }],
      ];
      const statuses: Record<string, number> = {};
      for (const [path, init] of calls) {
        const response = await callFunction(path, init);
        statuses[path] = response.status;
        const body = await response.json();
        if (response.status !== 200) assert.ok(body.error.code, JSON.stringify(body));
      }
      return statuses;
    };
    const refused = (statuses: Record<string, number>, status: number) =>
      Object.values(statuses).every((answer) => answer === status);

    const before = await student("still-here");
    const opened = await studentRoutes(before.token);
    assert.equal(opened["student-dashboard"], 200, JSON.stringify(opened));
    assert.equal(opened["video-tracking"], 200, JSON.stringify(opened));

    await t.step("erased through the API: 403 on every route", async () => {
      const erased = await student("erased");
      assert.equal((await studentRoutes(erased.token))["student-dashboard"], 200);
      const erasure = await callFunction(`students/${erased.id}/erase`, {
        method: "POST",
        headers: { authorization: `Bearer ${await tokenFor(saule.id)}`, "content-type": "application/json" },
        body: JSON.stringify({ reason: "asked in writing" }),
      });
      assert.equal(erasure.status, 200, await erasure.text());
      const after = await studentRoutes(erased.token);
      assert.ok(
        Object.values(after).every((status) => status === 401 || status === 403),
        JSON.stringify(after),
      );
    });

    await t.step("the login deleted: every route refuses", async () => {
      const deleted = await student("deleted");
      await appDatabase.sql`delete from auth.users where id = ${deleted.id}`;
      assert.ok(refused(await studentRoutes(deleted.token), 401));
    });

    await t.step("signed out (Supabase Auth deleted the session): 401, and a new sign-in works", async () => {
      const leaving = await student("signed-out");
      await appDatabase.sql`delete from auth.sessions where user_id = ${leaving.id}`;
      const after = await studentRoutes(leaving.token);
      assert.ok(refused(after, 401), JSON.stringify(after));
      assert.equal((await studentRoutes(await tokenFor(leaving.id)))["student-dashboard"], 200);
    });

    await t.step("a session past its time box, a banned person, a token naming no session: 401", async () => {
      const boxed = await student("time-boxed");
      await appDatabase
        .sql`update auth.sessions set not_after = now() - interval '1 second' where user_id = ${boxed.id}`;
      assert.ok(refused(await studentRoutes(boxed.token), 401));
      const banned = await student("banned");
      await appDatabase
        .sql`update auth.users set banned_until = now() + interval '1 day' where id = ${banned.id}`;
      assert.ok(refused(await studentRoutes(banned.token), 401));
      const sessionless = await student("sessionless");
      const noSession = await tokenFor(sessionless.id, { session: "" });
      assert.ok(refused(await studentRoutes(noSession), 401));
      const othersSession = await tokenFor(sessionless.id, {
        session: (await signedIn(before.id)).session_id,
      });
      assert.ok(refused(await studentRoutes(othersSession), 401), "a session is its own person's");
    });

    await t.step("staff: a signed-out admin's token opens no staff route", async () => {
      const token = await tokenFor(saule.id);
      const payload = decodeJwt(token);
      const headers = { authorization: `Bearer ${token}` };
      for (const path of ["students", "leaderboard", "staff", "audit", "payments/offers"]) {
        const response = await callFunction(path, { headers });
        await response.body?.cancel();
        assert.equal(response.status, 200, path);
      }
      await appDatabase.sql`delete from auth.sessions where id = ${payload.session_id as string}`;
      for (const path of ["students", "leaderboard", "staff", "audit", "payments/offers"]) {
        const response = await callFunction(path, { headers });
        const body = await response.json();
        assert.ok(
          [401, 403].includes(response.status),
          `${path}: ${response.status} ${JSON.stringify(body)}`,
        );
      }
    });
  },
);

story(
  "without a session: 401 missing_token, saying to sign in, whatever key stands in for the token",
  async () => {
    const { createClient, FunctionsHttpError } = await import("@supabase/supabase-js");
    const anonKey = await new SignJWT({ role: "anon" })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode(jwtSecret));
    // supabase-js with the project's key and no session, and the key itself sent as a bearer token.
    const client = createClient(baseUrl, "sb_publishable_tripwire_tests", {
      auth: { persistSession: false },
    });
    const { error } = await client.functions.invoke("leaderboard/stats", { method: "GET" });
    assert.ok(error instanceof FunctionsHttpError, String(error));
    const answers = [error.context as Response];
    for (const key of ["sb_publishable_tripwire_tests", "sb_secret_tripwire_tests", anonKey]) {
      answers.push(await callFunction("leaderboard/stats", { headers: { authorization: `Bearer ${key}` } }));
    }
    for (const response of answers) {
      assert.equal(response.status, 401);
      const body = await response.json();
      assert.equal(body.error.code, "missing_token");
      assert.match(body.error.message, /^Sign in first/);
    }
  },
);
