import assert from "node:assert/strict";
import postgres from "postgres";
import { applyMigrations } from "../scripts/lib/database.ts";
import { bootstrapPlainPostgres, createEmptyDatabase, createMigratedDatabase } from "./support/database.ts";

// Shared by this file's stories, none of which depends on another's rows; `npm test` drops it at the end
// with every other tripwire_t_ database.
const database = await createMigratedDatabase();
const { sql } = database;

Deno.test("every table PostgREST exposes has row level security on and a policy", async () => {
  const tables = await sql<{ table: string; rls: boolean; policies: string }[]>`
    select c.relname as table, c.relrowsecurity as rls,
           (select count(*) from pg_policies p where p.schemaname = 'public' and p.tablename = c.relname) as policies
    from pg_class c
    where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
    order by c.relname`;
  assert.ok(tables.length >= 13, `expected the whole schema, got ${tables.map((t) => t.table)}`);
  for (const table of tables) {
    assert.equal(table.rls, true, `${table.table} has RLS off`);
    assert.ok(Number(table.policies) >= 1, `${table.table} has no policy`);
  }
});

Deno.test("the API roles may only read: every write goes through the functions", async () => {
  const writable = await sql<{ grantee: string; table_name: string; privilege_type: string }[]>`
    select grantee, table_name, privilege_type from information_schema.role_table_grants
    where table_schema in ('public', 'private') and grantee in ('anon', 'authenticated')
      and privilege_type <> 'SELECT'`;
  assert.deepEqual([...writable], []);
  const anonGrants = await sql`
    select table_name from information_schema.role_table_grants
    where table_schema in ('public', 'private') and grantee = 'anon'`;
  assert.deepEqual([...anonGrants], []);
  const privateReadable = await sql`
    select table_name from information_schema.role_table_grants
    where table_schema = 'private' and grantee = 'authenticated'`;
  assert.deepEqual([...privateReadable], []);
});

Deno.test("no column outside auth stores a password, and auth keeps only a hash", async () => {
  const columns = await sql<{ column: string }[]>`
    select table_schema || '.' || table_name || '.' || column_name as column
    from information_schema.columns
    where column_name ilike '%password%' and table_schema not in ('pg_catalog', 'information_schema')`;
  // GoTrue's bcrypt hash, and the AES-GCM sealed copies create-tripwire-user keeps for a replay or a
  // retried e-mail (a CHECK admits only the sealed form; see the student_creation migration).
  assert.deepEqual(columns.map((c) => c.column).sort(), [
    "auth.users.encrypted_password",
    "private.email_outbox.sealed_password",
    "private.idempotency_keys.sealed_password",
  ]);
  const sealed = `v1.${btoa("twelve bytes")}.${btoa("a ciphertext of some length")}`;
  await sql`
    insert into private.idempotency_keys (manager_id, idempotency_key, request_hash, sealed_password)
    values ('a0000000-0000-4000-8000-000000000002', 'schema-test', 'hash', ${sealed})`;
  await assert.rejects(
    sql`update private.idempotency_keys set sealed_password = 'Abcdefgh23456789wxyz' where idempotency_key = 'schema-test'`,
    { code: "23514", constraint_name: "idempotency_keys_sealed_password_sealed" },
  );
});

Deno.test("every foreign key is covered by an index whose leading columns are the key", async () => {
  const uncovered = await sql<{ constraint: string }[]>`
    select c.conrelid::regclass || '.' || c.conname as constraint
    from pg_constraint c
    where c.contype = 'f' and c.connamespace in ('public'::regnamespace, 'private'::regnamespace)
      and not exists (
        select 1 from pg_index i
        where i.indrelid = c.conrelid
          and (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
          and (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey
      )`;
  assert.deepEqual(uncovered.map((u) => u.constraint), []);
});

Deno.test("every table with updated_at keeps it current with a trigger", async () => {
  const missing = await sql<{ table: string }[]>`
    select c.table_schema || '.' || c.table_name as table
    from information_schema.columns c
    where c.column_name = 'updated_at' and c.table_schema in ('public', 'private')
      and not exists (
        select 1 from pg_trigger t
        where t.tgrelid = (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass
          and t.tgfoid = 'private.set_updated_at'::regproc
      )`;
  assert.deepEqual(missing.map((m) => m.table), []);

  await sql`update public.tripwire_modules set title = title where id = 16`;
  const [module] = await sql<{ moved: boolean }[]>`
    select updated_at > created_at as moved from public.tripwire_modules where id = 16`;
  assert.equal(module.moved, true);
});

Deno.test("constraints refuse impossible values", async (t) => {
  const cases: [string, string][] = [
    [
      "a lesson percentage above 100",
      "update public.tripwire_lessons set min_watch_percentage = 101 where id = 67",
    ],
    ["a module position of zero", "update public.tripwire_modules set position = 0 where id = 16"],
    ["an unknown role", "update public.users set role = 'owner' where email = 'aida.manager@tripwire.local'"],
    [
      "an upper-case e-mail",
      "update public.users set email = 'Aida@x.kz' where email = 'aida.manager@tripwire.local'",
    ],
  ];
  for (const [name, statement] of cases) {
    await t.step(name, async () => {
      await assert.rejects(sql.unsafe(statement), (error: { code?: string }) => error.code === "23514");
    });
  }
});

async function nextNotification(url: string, statement: string): Promise<string[]> {
  const listener = postgres(url, { max: 1, onnotice: () => {} });
  const received: string[] = [];
  try {
    await listener.listen("pgrst", (payload) => received.push(payload));
    const actor = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await actor.unsafe(statement);
    } finally {
      await actor.end();
    }
    // Notifications are delivered at commit; give the listener's socket a moment to read them.
    for (let i = 0; i < 50 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 50));
    return received;
  } finally {
    await listener.end();
  }
}

Deno.test("DDL that changes the API makes PostgREST reload its schema cache", async (t) => {
  await t.step("create table → reload schema", async () => {
    const received = await nextNotification(database.url, "create table public.pgrst_probe (id int)");
    assert.ok(received.includes("reload schema"), `got ${JSON.stringify(received)}`);
  });
  await t.step("create function → reload schema", async () => {
    const received = await nextNotification(
      database.url,
      "create function public.pgrst_probe_fn() returns int language sql as 'select 1'",
    );
    assert.ok(received.includes("reload schema"));
  });
  await t.step("drop table → reload schema", async () => {
    const received = await nextNotification(database.url, "drop table public.pgrst_probe");
    assert.ok(received.includes("reload schema"));
  });
  await t.step("a temporary table → no notification", async () => {
    const received = await nextNotification(database.url, "create temp table scratch (id int)");
    assert.deepEqual(received, []);
  });
  await t.step("an index (no API change) → no notification", async () => {
    const received = await nextNotification(
      database.url,
      "create index tripwire_modules_title_probe on public.tripwire_modules (title)",
    );
    assert.deepEqual(received, []);
  });
});

Deno.test("our schema watch is installed once, and not at all where Supabase's already is", async () => {
  const ours = await sql<{ evtname: string; evtevent: string }[]>`
    select evtname, evtevent from pg_event_trigger order by evtname`;
  assert.deepEqual([...ours].map((e) => [e.evtname, e.evtevent]), [
    ["tripwire_pgrst_ddl_watch", "ddl_command_end"],
    ["tripwire_pgrst_drop_watch", "sql_drop"],
  ]);

  // A database shaped like Supabase's image: its own watch exists before our migrations run.
  const supabaseLike = await createEmptyDatabase();
  try {
    await bootstrapPlainPostgres(supabaseLike.url);
    await supabaseLike.sql.unsafe(`
      create function extensions.pgrst_ddl_watch() returns event_trigger language plpgsql
        as $$ begin notify pgrst, 'reload schema'; end $$;
      create function extensions.pgrst_drop_watch() returns event_trigger language plpgsql
        as $$ begin notify pgrst, 'reload schema'; end $$;
      create event trigger pgrst_ddl_watch on ddl_command_end execute function extensions.pgrst_ddl_watch();
      create event trigger pgrst_drop_watch on sql_drop execute function extensions.pgrst_drop_watch();`);
    await applyMigrations(supabaseLike.url);
    const triggers = await supabaseLike.sql<{ evtname: string }[]>`
      select evtname from pg_event_trigger order by evtname`;
    assert.deepEqual(triggers.map((e) => e.evtname), ["pgrst_ddl_watch", "pgrst_drop_watch"]);
  } finally {
    await supabaseLike.drop();
  }
});
