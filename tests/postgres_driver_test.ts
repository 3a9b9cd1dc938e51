/**
 * The postgres.js faults the vendored driver fixes (supabase/functions/_vendor/postgres), each reproduced as it
 * happened: a connection that Postgres closes under a query, a transaction or a result must leave every query
 * settled with its own answer or a connection error — never a crash, a hang, or another query's rows.
 * The pools have the functions' own settings (`poolSettings` from _shared/db.ts).
 *
 * The canary (tests/vendored_test.ts) runs this file against postgres.js's newest npm release instead, named by
 * POSTGRES_DRIVER_UNDER_TEST (the path of its `src/index.js`), to tell when the vendored fixes are no longer
 * needed.
 */
import assert from "node:assert/strict";
import { pathToFileURL } from "node:url";
import vendoredPostgres from "postgres";
import { poolSettings } from "../supabase/functions/_shared/db.ts";
import { toHttpError } from "../supabase/functions/_shared/errors.ts";
import { createEmptyDatabase } from "./support/database.ts";

const driverUnderTest = Deno.env.get("POSTGRES_DRIVER_UNDER_TEST");
const postgres: typeof vendoredPostgres = driverUnderTest
  ? (await import(pathToFileURL(driverUnderTest).href)).default
  : vendoredPostgres;
const connect = (url: string, max: number) => postgres(...poolSettings(url, max));

/** Runs `work` with the process's stray rejections kept (and returned), as npm start logs them and goes on. */
async function keepingStrayRejections(work: () => Promise<void>): Promise<string[]> {
  const stray: string[] = [];
  const keep = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    stray.push(String((event.reason as { code?: string })?.code ?? event.reason));
  };
  globalThis.addEventListener("unhandledrejection", keep);
  try {
    await work();
    await new Promise((resolve) => setTimeout(resolve, 50));
    return stray;
  } finally {
    globalThis.removeEventListener("unhandledrejection", keep);
  }
}

/** `promise`, or a failure naming `what` if it has not settled within 10 s (unpatched, some never do). */
async function settled<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const never = new Promise<never>((_, reject) =>
    timer = setTimeout(() => reject(new Error(`${what}: still waiting after 10 s`)), 10_000)
  );
  try {
    return await Promise.race([promise, never]);
  } finally {
    clearTimeout(timer);
  }
}

/** A lost connection, which the functions answer with 503 and Retry-After. */
const connectionLost = (error: unknown) => toHttpError(error).status === 503;

// postgres.js 3.4.9 writes small messages on the next tick; when the server had closed the connection in
// between, that write threw from a timer and ended the whole process (porsager/postgres#1208, reproduced
// here as its report does: a reserved connection whose backend is terminated).
Deno.test("a query on a connection the server closed fails with CONNECTION_CLOSED, never the process", async () => {
  const database = await createEmptyDatabase();
  const sql = postgres(database.url, { max: 2, onnotice: () => {} });
  const admin = postgres(database.url, { max: 1, onnotice: () => {} });
  try {
    const stray = await keepingStrayRejections(async () => {
      const reserved = await sql.reserve();
      const [{ pid }] = await reserved<{ pid: number }[]>`select pg_backend_pid() as pid`;
      await admin`select pg_terminate_backend(${pid})`;
      await new Promise((resolve) => setTimeout(resolve, 100));
      await assert.rejects(
        reserved`select 1`,
        (error: { code?: string }) => error.code === "CONNECTION_CLOSED",
      );
    });
    assert.deepEqual(stray, [], "unhandled rejections");
    const [{ one }] = await admin`select 1 as one`;
    assert.equal(one, 1, "this process and the server go on");
  } finally {
    await sql.end({ timeout: 1 });
    await admin.end();
    await database.drop();
  }
});

// Unpatched, a transaction whose connection died went on using that connection object: its own rollback
// ran on it while the pool was already reconnecting it for the next query, which then failed, hung, or
// answered with another query's rows.
Deno.test("a transaction whose connection dies fails alone: the query waiting for that connection gets its own answer", async () => {
  const database = await createEmptyDatabase();
  const sql = connect(database.url, 1);
  const admin = postgres(database.url, { max: 1, onnotice: () => {} });
  try {
    let waiting: Promise<unknown> | undefined;
    await assert.rejects(
      settled(
        sql.begin(async (tx) => {
          const [{ pid }] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`;
          // The pool's only connection is the transaction's: this query waits for it.
          waiting = sql`select 2 as two`.execute().then((rows) => [...rows]);
          await admin`select pg_terminate_backend(${pid})`;
          await tx`select 3`;
        }),
        "the transaction",
      ),
      connectionLost,
    );
    assert.deepEqual(await settled(waiting!, "the waiting query"), [{ two: 2 }]);
    assert.deepEqual([...await settled(sql`select 4 as four`.execute(), "the next query")], [{ four: 4 }]);
  } finally {
    await sql.end({ timeout: 1 });
    await admin.end();
    await database.drop();
  }
});

// Unpatched, a connection closed in the middle of a result kept that result's row count and error, so the
// next query on the reconnected connection failed with the old error or returned its row after empty slots.
Deno.test("a connection closed in the middle of a result: the next query answers exactly its own rows", async () => {
  const database = await createEmptyDatabase();
  const sql = connect(database.url, 1);
  try {
    await assert.rejects(
      sql`
        select g, repeat('x', 200) as filler,
               case when g = 2500 then pg_terminate_backend(pg_backend_pid()) end as ended
        from generate_series(1, 5000) as g`,
      connectionLost,
    );
    const rows = await sql`select 1 as one`;
    assert.deepEqual([...rows], [{ one: 1 }]);
    assert.equal(rows.length, 1);
  } finally {
    await sql.end({ timeout: 1 });
    await database.drop();
  }
});

// Unpatched, a failure while a new connection read the server's array types was a promise nobody held: an
// unhandled rejection, which ends a Deno process (and a deployed isolate). The query itself fails or is answered.
Deno.test("a new connection that cannot read the array types fails its first query, no unhandled rejection", async () => {
  const database = await createEmptyDatabase();
  const role = `typeless_${crypto.randomUUID().slice(0, 8)}`;
  await database.sql.unsafe(`create role ${role} login password 'typeless'`);
  await database.sql`revoke select on pg_catalog.pg_type from public`;
  const url = new URL(database.url);
  url.username = role;
  url.password = "typeless";
  const sql = connect(url.toString(), 1);
  try {
    const stray = await keepingStrayRejections(async () => {
      // 3.4.9 reads the types on connecting, so the first query fails with the permission error; a release that
      // reads them only when needed answers it.
      const first = await sql`select 1 as one`.then(
        () => "answered",
        (error: { code?: string }) => error.code,
      );
      assert.ok(first === "42501" || first === "answered", `the first query failed with ${first}`);
    });
    assert.deepEqual(stray, []);
    assert.deepEqual([...await sql`select 1 as one`], [{ one: 1 }], "the connection serves on");
  } finally {
    await sql.end({ timeout: 1 });
    // The role is the server's, not the database's: dropped while the database's pool is still open.
    await database.sql.unsafe(`drop role ${role}`);
    await database.drop();
  }
});

// The storm that found the faults above: backends terminated one by one, 30 times in 1.5 s, under
// transactions and plain queries. Every query settles (none hangs) with its own result or a connection error.
Deno.test("a storm of terminated connections: every query settles, with its own result or a connection error", async () => {
  const database = await createEmptyDatabase();
  const admin = postgres(database.url, { max: 1, onnotice: () => {} });
  try {
    for (let round = 0; round < 3; round++) {
      const sql = connect(database.url, 4);
      let stop = false;
      const wrong: string[] = [];
      const unexpected: string[] = [];
      let answered = 0;
      const worker = async (w: number) => {
        for (let i = 0; !stop; i++) {
          const id = w * 1_000_000 + i;
          try {
            if (w % 2 === 0) {
              const pair = await sql.begin(async (tx) => {
                const [a] = await tx<{ v: number }[]>`select ${id}::int as v`;
                const [b] = await tx<{ v: number }[]>`select ${id}::int + 1 as v, pg_sleep(0.001)`;
                return [a.v, b.v];
              });
              if (pair[0] !== id || pair[1] !== id + 1) wrong.push(`${id}: ${JSON.stringify(pair)}`);
            } else {
              const rows = await sql<{ v: number }[]>`select ${id}::int as v, pg_sleep(0.002)`;
              if (rows.length !== 1 || rows[0].v !== id) wrong.push(`${id}: ${JSON.stringify([...rows])}`);
            }
            answered++;
          } catch (error) {
            if (!connectionLost(error)) unexpected.push(String(error));
          }
        }
      };
      const stray = await keepingStrayRejections(async () => {
        const workers = Array.from({ length: 16 }, (_, w) => worker(w));
        for (let k = 0; k < 30; k++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          await admin`
            select pg_terminate_backend(pid) from pg_stat_activity
            where datname = current_database() and application_name = 'tripwire-functions'`;
        }
        stop = true;
        await settled(Promise.all(workers), `round ${round}: the workers' queries`);
        await settled(sql`select 1`.execute(), `round ${round}: a query after the storm`);
      });
      await sql.end({ timeout: 1 });
      assert.deepEqual(wrong, [], `round ${round}: answers of other queries`);
      assert.deepEqual(unexpected, [], `round ${round}: errors other than a lost connection`);
      // The storm did real work (how much depends on the machine and what else runs on it).
      assert.ok(answered > 20, `round ${round}: only ${answered} answered`);
      assert.deepEqual(stray, [], `round ${round}: unhandled rejections`);
    }
  } finally {
    await admin.end();
    await database.drop();
  }
});

/** A TCP relay to `url`'s server that counts what the client writes: one chunk per round trip it starts. */
function countingRelay(url: string) {
  const target = new URL(url);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const counter = { clientWrites: 0 };
  const pipe = async (from: Deno.Conn, to: Deno.Conn, count: boolean) => {
    const buffer = new Uint8Array(65_536);
    try {
      for (let read; (read = await from.read(buffer)) !== null;) {
        if (count) counter.clientWrites++;
        await to.write(buffer.subarray(0, read));
      }
    } catch {
      // either side closed
    }
    try {
      to.close();
    } catch {
      // already closed
    }
  };
  const serving = (async () => {
    for await (const client of listener) {
      const server = await Deno.connect({ hostname: target.hostname, port: Number(target.port || 5432) });
      void pipe(client, server, true);
      void pipe(server, client, false);
    }
  })().catch(() => {});
  const relayed = new URL(url);
  relayed.hostname = "127.0.0.1";
  relayed.port = String((listener.addr as Deno.NetAddr).port);
  relayed.searchParams.set("pgbouncer", "true"); // the functions' transaction-pooler settings: no prepare
  return {
    url: relayed.toString(),
    counter,
    async close() {
      listener.close();
      await serving;
    },
  };
}

// Patched: through a transaction pooler no statement is prepared, and postgres.js then asked the server for
// the parameters' types before every query (Parse, Describe, Flush; then Bind, Execute, Sync): two round trips.
// A query whose every parameter's type is given needs no such answer, so it goes in one (the heartbeat's).
Deno.test("through a pooler, a query whose parameters are all typed takes one round trip, not two", async () => {
  const database = await createEmptyDatabase();
  const relay = countingRelay(database.url);
  const sql = connect(relay.url, 1);
  try {
    await sql`select 1`; // connected, the types read
    const roundTrips = async (query: () => Promise<unknown>) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const before = relay.counter.clientWrites;
      await query();
      await new Promise((resolve) => setTimeout(resolve, 20));
      return relay.counter.clientWrites - before;
    };
    const at = new Date("2026-12-07T10:00:00.000Z");
    let typed: Record<string, unknown> | undefined;
    const typedTrips = await roundTrips(async () => {
      [typed] = await sql`
        select ${sql.typed('{"a": [1, 2]}', 25)}::jsonb as doc, ${sql.typed(2.5, 1700)} + 1 as sum,
               ${sql.typed(7, 23)} as seven, ${at} as at, ${sql.typed("x", 25)} as text`;
    });
    assert.deepEqual(typed, { doc: { a: [1, 2] }, sum: "3.5", seven: 7, at, text: "x" });
    let untyped: Record<string, unknown> | undefined;
    const untypedTrips = await roundTrips(async () => {
      [untyped] = await sql`select ${"x"} as text, ${7}::int as seven`;
    });
    assert.deepEqual(untyped, { text: "x", seven: 7 });
    assert.deepEqual({ typedTrips, untypedTrips }, { typedTrips: 1, untypedTrips: 2 });
    await assert.rejects(sql`select ${sql.typed("nope", 25)}::int`, /invalid input syntax/);
    const [{ after }] = await sql`select ${sql.typed(1, 23)} + 1 as after`;
    assert.equal(after, 2, "the connection goes on after a failed one-trip query");
  } finally {
    await sql.end({ timeout: 1 });
    await relay.close();
    await database.drop();
  }
});
