import assert from "node:assert/strict";
import postgres from "postgres";
import { prepareDatabase, startEmbeddedPostgres } from "../scripts/lib/database.ts";
import { freePort, startStackProcess } from "../scripts/lib/processes.ts";
import { signLocalTokenAt } from "../scripts/lib/local_stack.ts";
import { loadConfig } from "../supabase/functions/_shared/config.ts";
import { checkedFetch } from "./support/contract.ts";

const aida = { id: "a0000000-0000-4000-8000-000000000002", email: "aida.manager@tripwire.local" };

Deno.test({
  name: "the database stops under a running function server: 503 with Retry-After, then 200 once it is back",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const dataDir = await Deno.makeTempDir({ prefix: "tripwire-outage-" });
    await Deno.chmod(dataDir, 0o755);
    const port = freePort();
    const options = { dataDir: `${dataDir}/data`, port, persistent: true };
    let database = await startEmbeddedPostgres(options);
    await prepareDatabase(database.url);
    const functionsPort = freePort();
    const stack = await startStackProcess({
      DATABASE_URL: database.url,
      FUNCTIONS_PORT: String(functionsPort),
      SCHEDULER_INTERVAL_MS: "0",
      DB_STATEMENT_TIMEOUT_MS: "1000",
    });
    const functions = `http://127.0.0.1:${functionsPort}/functions/v1`;
    const leaderboard = `${functions}/leaderboard`;
    const headers = { authorization: `Bearer ${await signLocalTokenAt(database.url, aida)}` };
    try {
      await t.step("up: 200", async () => {
        const response = await checkedFetch(leaderboard, { headers });
        assert.equal(response.status, 200);
        await response.body?.cancel();
      });

      await t.step(
        "a statement past DB_STATEMENT_TIMEOUT_MS: 503 service_unavailable, not a hang",
        async () => {
          const created = await checkedFetch(`${functions}/create-tripwire-user`, {
            method: "POST",
            headers: { ...headers, "content-type": "application/json" },
            body: JSON.stringify({ email: "slow.student@example.kz", full_name: "Slow Student" }),
          });
          const student = await created.json();
          assert.equal(created.status, 201, JSON.stringify(student));
          const studentToken = await signLocalTokenAt(database.url, student);
          // Another session holds the student's profile row, which a completion locks first.
          const sql = postgres(database.url, { max: 1, onnotice: () => {} });
          try {
            await sql.begin(async (tx) => {
              await tx`select 1 from public.tripwire_user_profile where user_id = ${student.id} for update`;
              const response = await checkedFetch(`${functions}/complete-lesson`, {
                method: "POST",
                headers: { authorization: `Bearer ${studentToken}`, "content-type": "application/json" },
                body: JSON.stringify({ lesson_id: 67 }),
              });
              const body = await response.json();
              assert.equal(response.status, 503, JSON.stringify(body));
              assert.equal(body.error.code, "service_unavailable");
              assert.ok(Number(response.headers.get("retry-after")) >= 1);
            });
          } finally {
            await sql.end();
          }
        },
      );

      await database.stop();
      await t.step("down: 503 service_unavailable with Retry-After, every time", async () => {
        for (let attempt = 0; attempt < 3; attempt++) {
          const response = await checkedFetch(leaderboard, { headers });
          const body = await response.json();
          assert.equal(response.status, 503, JSON.stringify(body));
          assert.equal(body.error.code, "service_unavailable");
          assert.ok(Number(response.headers.get("retry-after")) >= 1);
          assert.ok(body.error.request_id);
        }
      });

      database = await startEmbeddedPostgres(options);
      await t.step("back: 200 again, with no restart of the function server", async () => {
        const response = await checkedFetch(leaderboard, { headers });
        assert.equal(response.status, 200, await response.clone().text());
        await response.body?.cancel();
      });
    } finally {
      await stack.stop();
      await database.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("bad configuration is refused at boot, naming the variable", async (t) => {
  const base = {
    DATABASE_URL: "postgresql://u@127.0.0.1:1/d",
    APP_LOGIN_URL: "https://academy.example/login",
  };
  const cases: [string, Record<string, string>, RegExp][] = [
    ["DB_POOL_SIZE not a number", { ...base, DB_POOL_SIZE: "lots" }, /DB_POOL_SIZE/],
    ["DB_POOL_SIZE zero", { ...base, DB_POOL_SIZE: "0" }, /DB_POOL_SIZE/],
    [
      "SUPABASE_SECRET_KEYS not JSON",
      { ...base, SUPABASE_SECRET_KEYS: "sb_secret_{" },
      /SUPABASE_SECRET_KEYS must be JSON/,
    ],
    ["SUPABASE_SECRET_KEYS a list", { ...base, SUPABASE_SECRET_KEYS: "[1, 2]" }, /SUPABASE_SECRET_KEYS/],
    ["SUPABASE_JWKS not a key set", { ...base, SUPABASE_JWKS: '{"kty": "EC"}' }, /SUPABASE_JWKS/],
    [
      "SUPABASE_URL not a URL",
      { ...base, SUPABASE_URL: "project.supabase.co" },
      /SUPABASE_URL must be a URL/,
    ],
    ["no database URL", {}, /TRIPWIRE_DB_URL or SUPABASE_DB_URL or DATABASE_URL must be set/],
    [
      "deployed without the sign-in link the e-mails carry",
      { DATABASE_URL: base.DATABASE_URL },
      /APP_LOGIN_URL must be set/,
    ],
    ["LOCAL_STACK unknown", { ...base, LOCAL_STACK: "yes" }, /LOCAL_STACK must be "on" or "off"/],
  ];
  for (const [name, env, message] of cases) {
    await t.step(name, () => {
      assert.throws(() => loadConfig(env), message);
    });
  }

  await t.step("a function started alone exits at boot, and says which variable", async () => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "supabase/functions/leaderboard/index.ts"],
      cwd: new URL("../", import.meta.url).pathname,
      env: { ...base, DB_POOL_SIZE: "ten", DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${freePort()}` },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.success, false);
    assert.match(new TextDecoder().decode(output.stderr), /Bad configuration: DB_POOL_SIZE/);
  });

  await t.step("good configuration: defaults filled in", () => {
    const config = loadConfig({ ...base, SUPABASE_SECRET_KEYS: '{"default": "sb_secret_x"}' });
    assert.equal(config.databasePoolSize, 3);
    assert.equal(config.statementTimeoutMs, 8_000);
    assert.deepEqual(config.secretKeys, ["sb_secret_x"]);
    assert.equal(config.local, false);
    assert.equal(config.loginUrl, "https://academy.example/login");
  });

  await t.step("the pooler: TRIPWIRE_DB_URL wins over SUPABASE_DB_URL, which wins over DATABASE_URL", () => {
    const pooled = "postgresql://postgres.ref:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres";
    const direct = "postgresql://postgres:pw@db.ref.supabase.co:5432/postgres";
    assert.equal(
      loadConfig({ ...base, SUPABASE_DB_URL: direct, TRIPWIRE_DB_URL: pooled }).databaseUrl,
      pooled,
    );
    assert.equal(loadConfig({ ...base, SUPABASE_DB_URL: direct }).databaseUrl, direct);
    assert.equal(loadConfig(base).databaseUrl, base.DATABASE_URL);
  });

  await t.step("no localhost outside the local stack: only there does the login link default", () => {
    const local = loadConfig({ DATABASE_URL: base.DATABASE_URL, LOCAL_STACK: "on" });
    assert.equal(local.loginUrl, "http://127.0.0.1:54323/");
  });
});
