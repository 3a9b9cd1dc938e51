import assert from "node:assert/strict";
import { jwtVerify } from "jose";
import { localJwtSecret, localSecretKey } from "../scripts/lib/local_stack.ts";
import { freePort, startStackProcess } from "../scripts/lib/processes.ts";
import { functions } from "../scripts/lib/functions.ts";
import { checkedFetch, signedInOperations } from "./support/contract.ts";
import { createEmptyDatabase } from "./support/database.ts";

const repoRoot = new URL("../", import.meta.url).pathname;

async function token(email: string, databaseUrl: string): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "scripts/token.ts", email],
    cwd: repoRoot,
    env: { DATABASE_URL: databaseUrl },
  }).output();
  assert.equal(output.success, true, new TextDecoder().decode(output.stderr));
  return new TextDecoder().decode(output.stdout).trim();
}

/** Checks the functions the stack serves; returns the student a manager sold the course to there. */
async function checkFunctions(port: number, managerToken: string): Promise<{ email: string }> {
  const base = `http://127.0.0.1:${port}/functions/v1`;
  // Every function the stack serves refuses a request without a token.
  for (const { method, path } of signedInOperations()) {
    const anonymous = await checkedFetch(`${base}${path}`, { method });
    assert.equal(anonymous.status, 401, path);
    assert.equal((await anonymous.json()).error.code, "missing_token");
  }
  const leaderboard = await checkedFetch(`${base}/leaderboard`, {
    headers: { authorization: `Bearer ${managerToken}` },
  });
  const board = await leaderboard.json();
  assert.equal(leaderboard.status, 200, JSON.stringify(board));
  assert.ok(board.managers.some((manager: { full_name: string }) => manager.full_name === "Aida Manager"));
  assert.ok(board.refreshed_at, "the stack refreshed the views when it started");

  // A manager sells the course on the local stack: the local AuthAdmin makes the login.
  const created = await checkedFetch(`${base}/create-tripwire-user`, {
    method: "POST",
    headers: { authorization: `Bearer ${managerToken}`, "content-type": "application/json" },
    body: JSON.stringify({ email: `local.${crypto.randomUUID()}@example.kz`, full_name: "Local Student" }),
  });
  const student = await created.json();
  assert.equal(created.status, 201, JSON.stringify(student));
  assert.equal(student.welcome_email, "sent");
  assert.match(student.password, /^[A-Za-z0-9]{20}$/);

  const scheduled = await checkedFetch(`${base}/create-tripwire-user/retry-emails`, {
    method: "POST",
    headers: { authorization: `Bearer ${localSecretKey}` },
  });
  assert.equal(scheduled.status, 200);
  assert.equal((await scheduled.json()).emails.attempted, 0);
  return student;
}

Deno.test({
  name: "npm start on a plain Postgres (DATABASE_URL): bootstrap, CLI migrations, seed, every function URL",
  sanitizeResources: false,
  fn: async () => {
    const database = await createEmptyDatabase();
    const port = freePort();
    const stack = await startStackProcess({ DATABASE_URL: database.url, FUNCTIONS_PORT: String(port) });
    try {
      assert.match(stack.printed, /Using DATABASE_URL/);
      assert.match(
        stack.printed,
        /Scheduled jobs run by this process every minute: tripwire-deliver-webhooks, tripwire-refresh-conversion, tripwire-refresh-retention, tripwire-refresh-sales-stats, tripwire-retry-emails/,
      );
      for (const name of Object.keys(functions)) {
        assert.ok(stack.printed.includes(`http://127.0.0.1:${port}/functions/v1/${name}`), name);
      }
      const [history] = await database.sql<{ count: string }[]>`
        select count(*) from supabase_migrations.schema_migrations`;
      assert.ok(Number(history.count) >= 7);

      const managerToken = await token("aida.manager@tripwire.local", database.url);
      const { payload } = await jwtVerify(managerToken, new TextEncoder().encode(localJwtSecret));
      assert.equal(payload.sub, "a0000000-0000-4000-8000-000000000002");
      assert.equal(payload.role, "authenticated");
      const student = await checkFunctions(port, managerToken);

      // Everything it signs, serves and prints follows the ports it was given, not 54321.
      const signed = await checkedFetch(
        `http://127.0.0.1:${port}/functions/v1/video-tracking/video?lesson_id=67`,
        {
          headers: { authorization: `Bearer ${await token(student.email, database.url)}` },
        },
      );
      const { url } = await signed.json();
      assert.equal(signed.status, 200);
      assert.equal(new URL(url).port, String(port), url);
      const video = await fetch(url, { headers: { range: "bytes=0-99" } });
      await video.body?.cancel();
      assert.equal(video.status, 206, "the stack's own Storage serves it");
      const reference = await (await fetch(`http://127.0.0.1:${port}/functions/v1/openapi.json`)).json();
      assert.equal(reference.servers[0].url, `http://127.0.0.1:${port}/functions/v1`);
      assert.match(stack.printed, new RegExp(`Storage at http://127\\.0\\.0\\.1:${port}/storage/v1`));
      assert.match(stack.printed, /A token for a seeded user: DATABASE_URL=<the same URL> npm run token/);
    } finally {
      await stack.stop();
      await database.drop();
    }
  },
});

Deno.test("npm run token without a stack says how to reach one, not a raw connection error", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "scripts/token.ts", "aida.manager@tripwire.local"],
    cwd: repoRoot,
    // Only what a fresh shell has: no DATABASE_URL from these tests.
    env: {
      LOCAL_DB_PORT: String(freePort()),
      ...Object.fromEntries(["HOME", "PATH", "DENO_DIR"].flatMap((name) => {
        const value = Deno.env.get(name);
        return value === undefined ? [] : [[name, value]];
      })),
    },
    clearEnv: true,
  }).output();
  assert.equal(output.success, false);
  const said = new TextDecoder().decode(output.stderr);
  assert.match(said, /^Cannot reach the local stack's Postgres on 127\.0\.0\.1:\d+ /);
  assert.match(said, /npm start/);
  assert.match(said, /LOCAL_DB_PORT or DATABASE_URL/);
});

Deno.test({
  name: "npm start with nothing given: an embedded Postgres 17 with a persistent data folder",
  sanitizeResources: false,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "tripwire-start-" });
    await Deno.chmod(dataDir, 0o755);
    const env = {
      DATABASE_URL: "",
      LOCAL_DB_DIR: `${dataDir}/postgres`,
      LOCAL_DB_PORT: String(freePort()),
      FUNCTIONS_PORT: String(freePort()),
    };
    try {
      const first = await startStackProcess(env);
      assert.match(first.printed, /Postgres 17 \(embedded\)/);
      const databaseUrl = `postgresql://postgres:postgres@127.0.0.1:${env.LOCAL_DB_PORT}/postgres`;
      const managerToken = await token("daniyar.manager@tripwire.local", databaseUrl);
      // While it runs, another start on the same data folder (its own ports) is refused in one sentence.
      const again = await startWrong({ ...env, LOCAL_DB_PORT: String(freePort()) });
      assert.equal(again.code, 1, again.stderr);
      assert.match(
        again.stderr,
        /^npm start: Another npm start is using the data folder .*postgres \(its Postgres/,
      );
      await checkFunctions(Number(env.FUNCTIONS_PORT), managerToken);
      assert.equal((await first.stop()).success, true, "stops cleanly on SIGTERM");

      // A second start reuses the data folder: nothing to migrate, same users.
      const second = await startStackProcess(env);
      await checkFunctions(
        Number(env.FUNCTIONS_PORT),
        await token("daniyar.manager@tripwire.local", databaseUrl),
      );
      await second.stop();
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

/** `npm start` with `env`, to its end: it must not start. */
async function startWrong(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "scripts/start.ts"],
    cwd: repoRoot,
    env: { WEB_PORT: String(freePort()), FUNCTIONS_PORT: String(freePort()), ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

Deno.test("npm start started wrong: one plain sentence, exit 1, nothing left running", async (t) => {
  const oneSentence = (stderr: string, pattern: RegExp) => {
    const lines = stderr.trim().split("\n");
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0], pattern);
  };
  await t.step("a database nobody answers at", async () => {
    const port = freePort();
    const result = await startWrong({ DATABASE_URL: `postgresql://postgres@127.0.0.1:${port}/postgres` });
    assert.equal(result.code, 1);
    oneSentence(
      result.stderr,
      new RegExp(`^npm start: DATABASE_URL \\(127\\.0\\.0\\.1:${port}\\) cannot be used: nothing answers`),
    );
  });
  await t.step("a database that does not exist", async () => {
    const database = await createEmptyDatabase();
    await database.drop();
    const result = await startWrong({ DATABASE_URL: database.url });
    assert.equal(result.code, 1);
    oneSentence(result.stderr, /^npm start: DATABASE_URL .* cannot be used: that database does not exist/);
  });
  await t.step("not a Postgres URL", async () => {
    const result = await startWrong({ DATABASE_URL: "localhost:5432/postgres" });
    assert.equal(result.code, 1);
    oneSentence(result.stderr, /^npm start: DATABASE_URL is not a Postgres URL/);
  });
  await t.step("a busy port: refused before its Postgres starts, so none is left running", async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "tripwire-start-busy-" });
    await Deno.chmod(dataDir, 0o755);
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (taken.addr as Deno.NetAddr).port;
    const databasePort = freePort();
    try {
      const result = await startWrong({
        DATABASE_URL: "",
        LOCAL_DB_DIR: `${dataDir}/postgres`,
        LOCAL_DB_PORT: String(databasePort),
        FUNCTIONS_PORT: String(port),
      });
      assert.equal(result.code, 1);
      oneSentence(
        result.stderr,
        new RegExp(`^npm start: Port ${port} \\(the functions\\) is already taken.*FUNCTIONS_PORT`),
      );
      await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: databasePort }), "no Postgres left");
      await assert.rejects(Deno.stat(`${dataDir}/postgres/postmaster.pid`));
    } finally {
      taken.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  });
});
