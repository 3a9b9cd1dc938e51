import assert from "node:assert/strict";
import { openSession } from "../scripts/lib/local_stack.ts";
import { z } from "zod";
import { createApp, zJson, zQuery } from "../supabase/functions/_shared/app.ts";
import { asCaller, connect, isTransactionPooler, withTransaction } from "../supabase/functions/_shared/db.ts";
import { HttpError, toHttpError } from "../supabase/functions/_shared/errors.ts";
import { describe, functionDocument, otherMediaTypes } from "../supabase/functions/_shared/openapi.ts";
import { createMigratedDatabase } from "./support/database.ts";
import { aida, daniyar, insertStudent } from "./support/fixtures.ts";

Deno.test("a transaction pooler URL turns prepared statements off", () => {
  assert.equal(isTransactionPooler("postgresql://u:p@aws-0-eu.pooler.supabase.com:6543/postgres"), true);
  assert.equal(
    isTransactionPooler("postgresql://u:p@db.example.supabase.co:5432/postgres?pgbouncer=true"),
    true,
  );
  assert.equal(isTransactionPooler("postgresql://u:p@db.example.supabase.co:5432/postgres"), false);
});

Deno.test("Postgres errors map to HTTP in one place and leak nothing", () => {
  const cases: [string, number, string][] = [
    ["23505", 409, "conflict"],
    ["23514", 400, "validation_failed"],
    ["22P02", 400, "validation_failed"],
    ["42501", 403, "forbidden"],
    ["40001", 503, "busy"],
    ["ECONNREFUSED", 503, "service_unavailable"],
    ["CONNECT_TIMEOUT", 503, "service_unavailable"],
    ["CONNECTION_CLOSED", 503, "service_unavailable"],
    ["08006", 503, "service_unavailable"],
    ["53300", 503, "service_unavailable"],
    ["57P01", 503, "service_unavailable"],
    ["57014", 503, "service_unavailable"],
    ["XX000", 500, "internal_error"],
  ];
  for (const [code, status, name] of cases) {
    const mapped = toHttpError(Object.assign(new Error(`detail with a secret for ${code}`), { code }));
    assert.equal(mapped.status, status, code);
    assert.equal(mapped.code, name, code);
    assert.doesNotMatch(mapped.message, /secret/);
  }
  // Our own SQL's messages (RAISE … USING ERRCODE) are safe to show; Postgres' own never are.
  const raised = (code: string, message: string, routine: string) =>
    toHttpError(Object.assign(new Error(message), { code, routine }));
  assert.equal(
    raised("22023", "limit must be between 1 and 100", "exec_stmt_raise").message,
    "limit must be between 1 and 100",
  );
  assert.equal(raised("P0002", "there is no manager x", "exec_stmt_raise").status, 404);
  assert.equal(raised("42501", "permission denied for table users", "aclcheck_error").message, "Not allowed");
  assert.equal(
    raised("22023", 'invalid value for parameter "TimeZone"', "parse_and_validate").message,
    "A parameter is not valid",
  );
  const own = new HttpError(422, "watch_threshold_not_met", "Watch more", { watch_percentage: 12.5 });
  assert.equal(toHttpError(own), own);
});

Deno.test({
  name: "withTransaction retries a serialization failure and commits once; other errors roll back",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const database = await createMigratedDatabase();
    const sql = connect(database.url, 4);
    try {
      await sql`create table public.counter (id int primary key, value int not null)`;
      await sql`insert into public.counter values (1, 0)`;
      // Two serializable increments that both read before either writes: one must fail with 40001
      // and be retried (a barrier makes the overlap certain, not a matter of timing).
      let attempts = 0;
      let reads = 0;
      let bothRead: () => void;
      const barrier = new Promise<void>((resolve) => bothRead = resolve);
      await Promise.all(Array.from({ length: 2 }, () =>
        withTransaction(async (tx) => {
          attempts++;
          await tx`set transaction isolation level serializable`;
          const [row] = await tx<{ value: number }[]>`select value from public.counter where id = 1`;
          if (++reads === 2) bothRead();
          await barrier;
          await tx`update public.counter set value = ${row.value + 1} where id = 1`;
        }, sql)));
      const [row] = await sql<{ value: number }[]>`select value from public.counter where id = 1`;
      assert.equal(row.value, 2, "every increment committed exactly once");
      assert.ok(attempts >= 3, `expected a retry, saw ${attempts} attempts`);

      await assert.rejects(
        withTransaction(async (tx) => {
          await tx`update public.counter set value = 100 where id = 1`;
          throw new HttpError(409, "conflict", "changed my mind");
        }, sql),
        HttpError,
      );
      const [after] = await sql<{ value: number }[]>`select value from public.counter where id = 1`;
      assert.equal(after.value, 2, "the failed transaction left nothing");
    } finally {
      await sql.end();
      await database.drop();
    }
  },
});

Deno.test("zod validation answers 400 with field paths; malformed JSON is a 400 too", async () => {
  const app = createApp("probe")
    .post(
      "/",
      zJson(z.object({ email: z.email(), amount: z.number().min(0) }).strict()),
      (c) => c.json(c.req.valid("json")),
    )
    .get(
      "/",
      zQuery(z.object({ limit: z.coerce.number().int().min(1).max(100) })),
      (c) => c.json(c.req.valid("query")),
    );

  const bad = await app.request("/probe", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "nope", amount: -1, extra: true }),
  });
  assert.equal(bad.status, 400);
  const body = await bad.json();
  assert.equal(body.error.code, "validation_failed");
  const paths = body.error.details.map((d: { path: string }) => d.path).sort();
  assert.deepEqual(paths, ["amount", "email", "extra"], "an unknown field is reported at its own path");

  const malformed = await app.request("/probe", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{not json",
  });
  assert.equal(malformed.status, 400);
  const malformedBody = await malformed.json();
  assert.equal(malformedBody.error.code, "validation_failed");
  assert.deepEqual(malformedBody.error.details, [{
    path: "",
    message: "a JSON body with Content-Type: application/json",
  }]);

  const query = await app.request("/probe?limit=1000");
  assert.equal(query.status, 400);
  assert.equal((await query.json()).error.details[0].path, "limit");

  const good = await app.request("/probe?limit=5");
  assert.deepEqual(await good.json(), { limit: 5 });
});

Deno.test({
  name: "asCaller makes row level security apply on the functions' direct connection",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const database = await createMigratedDatabase();
    const sql = connect(database.url, 2);
    try {
      const gulnara = await insertStudent(database.sql, {
        managerId: aida.id,
        email: "gulnara@example.kz",
        fullName: "Gulnara",
      });
      await insertStudent(database.sql, {
        managerId: daniyar.id,
        email: "timur@example.kz",
        fullName: "Timur",
      });
      const asGulnara = await asCaller(
        { sub: gulnara.id, session_id: await openSession(database.sql, gulnara.id) },
        (tx) => tx<{ user_id: string }[]>`select user_id from public.tripwire_users`,
        sql,
      );
      // Nobody signed in: no grant on the table at all.
      await assert.rejects(
        asCaller("anon", (tx) => tx`select user_id from public.tripwire_users`, sql),
        (error: { code?: string }) => error.code === "42501",
      );
      assert.deepEqual(asGulnara.map((row) => row.user_id), [gulnara.id]);
      // The setting is local to that transaction: the pool's next one is the owner again.
      const [all] = await sql<{ count: string }[]>`select count(*) from public.tripwire_users`;
      assert.equal(Number(all.count), 2);
    } finally {
      await sql.end();
      await database.drop();
    }
  },
});

Deno.test("the frame documents and serves answers that are not JSON: a CSV export, a PDF", async () => {
  const app = createApp("probe")
    .get(
      "/report.csv",
      describe({
        summary: "A report",
        access: "manager",
        ok: { status: 200, mediaType: "text/csv", description: "The report as CSV." },
      }),
      (c) => c.body("name,amount\r\nAida,1000\r\n", 200, { "content-type": "text/csv; charset=utf-8" }),
    )
    .get(
      "/certificate.pdf",
      describe({
        summary: "A document",
        access: "public",
        ok: { status: 200, mediaType: "application/pdf", description: "The document." },
      }),
      (c) => c.body("%PDF-1.7\n%%EOF\n", 200, { "content-type": "application/pdf" }),
    );
  const document = await functionDocument("probe", app) as unknown as {
    paths: Record<
      string,
      { get: { responses: Record<string, { content: Record<string, { schema: unknown }> }> } }
    >;
  };
  const csv = document.paths["/probe/report.csv"].get.responses["200"].content;
  assert.deepEqual(csv, { "text/csv": { schema: otherMediaTypes["text/csv"] } });
  const pdf = document.paths["/probe/certificate.pdf"].get.responses["200"].content;
  assert.deepEqual(pdf, { "application/pdf": { schema: otherMediaTypes["application/pdf"] } });
  // Errors stay JSON whatever the success answer is.
  assert.ok(document.paths["/probe/report.csv"].get.responses["500"]);

  const report = await app.request("/probe/report.csv");
  assert.equal(report.status, 200);
  assert.match(report.headers.get("content-type") ?? "", /^text\/csv/);
  assert.equal(await report.text(), "name,amount\r\nAida,1000\r\n");
  const certificate = await app.request("/probe/certificate.pdf");
  assert.match(certificate.headers.get("content-type") ?? "", /^application\/pdf/);
  assert.ok((await certificate.text()).startsWith("%PDF-"));
});

Deno.test("the client's address is the entry the trusted proxies appended, never one the client wrote", async () => {
  const { clientAddress } = await import("../supabase/functions/_shared/client_address.ts");
  const forwarded = (value: string) => new Headers({ "x-forwarded-for": value });
  assert.equal(clientAddress(forwarded("6.6.6.6, 203.0.113.9"), 1), "203.0.113.9");
  assert.equal(clientAddress(forwarded("6.6.6.6, 203.0.113.9, 10.0.0.2"), 2), "203.0.113.9");
  assert.equal(clientAddress(forwarded("203.0.113.9"), 2), "203.0.113.9", "fewer hops: the outermost one's");
  assert.equal(clientAddress(forwarded("6.6.6.6, 203.0.113.9"), 0), null, "no proxy: nothing is believed");
  assert.equal(clientAddress(new Headers(), 1), null);
  assert.equal(clientAddress(forwarded("6.6.6.6, not-an-address"), 1), null);
  assert.equal(clientAddress(forwarded("2001:DB8:0:0::1"), 1), "2001:db8::1");
});
