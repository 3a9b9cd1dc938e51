/** The HTTP frame of every function: CORS, 401 without a token, 404, 405 with Allow, HEAD, the body limit, request ids. */
import assert from "node:assert/strict";

import { createApp } from "../supabase/functions/_shared/app.ts";

import { aida, insertStudent } from "./support/fixtures.ts";
import { captureConsole } from "./support/students.ts";
import { appDatabase, callFunction, story, tokenFor } from "./support/server.ts";
import { expectError } from "./support/responses.ts";
import { deployedFunctions } from "../scripts/lib/deployed.ts";
import { signedInOperations } from "./support/contract.ts";

/** Every function config.toml deploys. */
const functionNames = Object.keys(deployedFunctions());
/** Every documented operation that takes a signed-in user, with an example path. */
const signedInRoutes = signedInOperations();
const bolat = await insertStudent(appDatabase.sql, {
  managerId: aida.id,
  email: "bolat.http@example.kz",
  fullName: "Bolat",
});

story("a browser's CORS preflight is answered for every function", async () => {
  for (const name of functionNames) {
    const response = await callFunction(name, {
      method: "OPTIONS",
      headers: {
        origin: "https://academy.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, x-client-info, apikey",
      },
    });
    await response.body?.cancel();
    assert.equal(response.status, 204, name);
    assert.equal(response.headers.get("access-control-allow-origin"), "*");
    assert.match(response.headers.get("access-control-allow-headers") ?? "", /authorization/);
    assert.match(response.headers.get("access-control-allow-headers") ?? "", /x-client-info/);
    assert.match(response.headers.get("access-control-allow-methods") ?? "", /POST/);
  }
});

story("no token → 401 JSON on every route that takes a signed-in user, in every function", async () => {
  assert.deepEqual(
    [...new Set(signedInRoutes.map(({ path }) => path.split("/")[1]))].sort(),
    // payments' webhooks take no user's token (a provider's signature is its credential), its offers, links
    // and review queue do; certificate-pdf takes only the project's secret key (tests/certificate_pdf_test.ts).
    functionNames.filter((name) => name !== "certificate-pdf").sort(),
  );
  for (const { method, path } of signedInRoutes) {
    const response = await callFunction(path.slice(1), {
      method,
      headers: { origin: "https://academy.example" },
    });
    await expectError(response, 401, "missing_token");
    assert.equal(response.headers.get("access-control-allow-origin"), "*", "errors carry CORS headers too");
    assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer/);
  }
});

story("unknown routes and functions → 404 JSON", async () => {
  const token = await tokenFor(aida.id);
  await expectError(
    await callFunction("leaderboard/nothing-here", { headers: { authorization: `Bearer ${token}` } }),
    404,
    "not_found",
  );
  await expectError(await callFunction("no-such-function"), 404, "not_found");
});

story("a known path with a method it does not serve → 405 with Allow, on every function", async () => {
  const cases: [string, string, string][] = [
    ["create-tripwire-user", "DELETE", "POST, OPTIONS"],
    ["create-tripwire-user/retry-emails", "GET", "POST, OPTIONS"],
    ["video-tracking", "PUT", "GET, HEAD, POST, OPTIONS"],
    ["complete-lesson", "GET", "POST, OPTIONS"],
    ["complete-lesson/certificate/TW-2026-000001/00112233445566778899", "POST", "GET, HEAD, OPTIONS"],
    ["leaderboard", "POST", "GET, HEAD, OPTIONS"],
    ["leaderboard/chart", "PATCH", "GET, HEAD, OPTIONS"],
    ["leaderboard/refresh", "GET", "POST, OPTIONS"],
  ];
  for (const [path, method, allow] of cases) {
    const response = await callFunction(path, { method, headers: { origin: "https://academy.example" } });
    await expectError(response, 405, "method_not_allowed");
    assert.equal(response.headers.get("allow"), allow, path);
    assert.equal(response.headers.get("access-control-allow-origin"), "*", "with CORS headers");
  }
});

story("HEAD on a GET route answers as GET, without a body, on every function that has one", async () => {
  const manager = { authorization: `Bearer ${await tokenFor(aida.id)}` };
  const student = { authorization: `Bearer ${await tokenFor(bolat.id)}` };
  const cases: [string, Record<string, string>][] = [
    ["leaderboard?period=all", manager],
    ["leaderboard/stats", manager],
    ["video-tracking?lesson_id=67", student],
    ["complete-lesson/certificate/TW-2026-999999/00112233445566778899", {}],
  ];
  for (const [path, headers] of cases) {
    const get = await callFunction(path, { headers });
    const getBody = await get.text();
    const head = await callFunction(path, { method: "HEAD", headers });
    assert.equal(head.status, get.status, path);
    assert.equal(head.headers.get("content-type"), get.headers.get("content-type"), path);
    assert.equal(head.headers.get("etag"), get.headers.get("etag"), path);
    assert.equal(await head.text(), "", path);
    assert.ok(getBody.length > 0, path);
  }
});

story("a body over the limit is refused before anything runs", async () => {
  const response = await callFunction("create-tripwire-user", {
    method: "POST",
    headers: { authorization: `Bearer ${await tokenFor(aida.id)}`, "content-type": "application/json" },
    body: JSON.stringify({ full_name: "x".repeat(1024 * 1024) }),
  });
  const body = await expectError(response, 400, "validation_failed");
  assert.ok(Array.isArray(body.error.details));
});

story("every response carries a request id; a 5xx body names it and nothing else", async () => {
  const ok = await callFunction("leaderboard", {
    headers: { authorization: `Bearer ${await tokenFor(aida.id)}`, "x-request-id": "trace-12345678" },
  });
  assert.equal(ok.headers.get("x-request-id"), "trace-12345678");
  await ok.body?.cancel();

  // A real fault inside a handler, in the frame every function shares.
  const probe = createApp("probe").get("/", () => {
    throw new Error("connection to the database lost: secret detail");
  });
  const { lines } = await captureConsole(async () => {
    const response = await probe.fetch(
      new Request("http://local/probe", { headers: { "x-request-id": "trace-87654321" } }),
    );
    assert.equal(response.status, 500);
    assert.equal(response.headers.get("x-request-id"), "trace-87654321");
    assert.deepEqual(await response.json(), {
      error: {
        code: "internal_error",
        message: "Something went wrong on our side",
        request_id: "trace-87654321",
      },
    });
  });
  assert.ok(
    lines.some((line) => line.includes("trace-87654321") && line.includes("secret detail")),
    "logged",
  );
});
