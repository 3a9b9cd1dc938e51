import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { applyMigrations, prepareDatabase } from "../scripts/lib/database.ts";
import { bootstrapPlainPostgres, createEmptyDatabase, isPlainPostgres } from "./support/database.ts";

const migrationFiles = (await readdir(new URL("../supabase/migrations/", import.meta.url)))
  .filter((file) => file.endsWith(".sql")).sort();

/** A fingerprint of everything the migrations create: tables, columns, constraints, indexes, policies. */
const schemaFingerprint = `
  select string_agg(item, E'\n' order by item) as fingerprint from (
    select format('column %s.%s.%s %s %s', table_schema, table_name, column_name, data_type, is_nullable) as item
      from information_schema.columns where table_schema in ('public', 'private')
    union all
    select format('constraint %s %s', conname, pg_get_constraintdef(oid))
      from pg_constraint where connamespace in ('public'::regnamespace, 'private'::regnamespace)
    union all
    select format('index %s', indexdef) from pg_indexes where schemaname in ('public', 'private')
    union all
    select format('policy %s.%s %s', tablename, policyname, qual) from pg_policies where schemaname = 'public'
    union all
    select format('trigger %s', tgname) from pg_trigger where not tgisinternal
    union all
    select format('event trigger %s', evtname) from pg_event_trigger
  ) items`;

Deno.test("the Supabase CLI applies every migration to an empty database, twice, without error", async () => {
  const database = await createEmptyDatabase();
  try {
    assert.equal(await isPlainPostgres(database.url), true, "a new database is plain Postgres");
    await bootstrapPlainPostgres(database.url);
    assert.equal(await isPlainPostgres(database.url), false, "the bootstrap adds the auth schema");

    await applyMigrations(database.url);
    const history = await database.sql<{ version: string }[]>`
      select version from supabase_migrations.schema_migrations order by version`;
    assert.deepEqual(history.map((row) => row.version), migrationFiles.map((file) => file.split("_")[0]));
    const [first] = await database.sql<{ fingerprint: string }[]>`${database.sql.unsafe(schemaFingerprint)}`;

    // Nothing pending: the CLI reports the database up to date and changes nothing.
    const output = await applyMigrations(database.url);
    assert.match(output, /up to date/i);

    // Forget the history and apply every file again: each migration is safe to re-run.
    await database.sql`delete from supabase_migrations.schema_migrations`;
    await applyMigrations(database.url);
    const [second] = await database.sql<{ fingerprint: string }[]>`${database.sql.unsafe(schemaFingerprint)}`;
    assert.equal(second.fingerprint, first.fingerprint);
    assert.match(first.fingerprint, /column public\.video_tracking\.watched_ranges nummultirange/);
  } finally {
    await database.drop();
  }
});

Deno.test("prepareDatabase bootstraps only a plain Postgres, and the seed can be applied again", async () => {
  const database = await createEmptyDatabase();
  try {
    await prepareDatabase(database.url);
    // A second run sees the auth schema (as on Supabase) and so never applies the bootstrap again.
    await database.sql`comment on table auth.users is 'marker left by the test'`;
    await prepareDatabase(database.url);
    const [marker] = await database.sql<{ comment: string }[]>`
      select obj_description('auth.users'::regclass) as comment`;
    assert.equal(marker.comment, "marker left by the test");

    const modules = await database.sql<{ id: number; position: number }[]>`
      select id, position from public.tripwire_modules order by position`;
    assert.deepEqual(modules.map((m) => [m.id, m.position]), [[16, 1], [17, 2], [18, 3]]);
    const lessons = await database.sql<{ id: number; module_id: number; min_watch_percentage: string }[]>`
      select id, module_id, min_watch_percentage from public.tripwire_lessons order by id`;
    assert.deepEqual(lessons.map((l) => [l.id, l.module_id, l.min_watch_percentage]), [
      [67, 16, "80.00"],
      [68, 17, "80.00"],
      [69, 18, "80.00"],
    ]);
    const staff = await database.sql<{ role: string; count: string }[]>`
      select role, count(*) from public.users group by role order by role`;
    assert.deepEqual(staff.map((s) => [s.role, Number(s.count)]), [["admin", 1], ["manager", 2]]);
    // The next module created by the API gets an id after the seeded ones.
    const [next] = await database.sql<{ id: number }[]>`
      insert into public.tripwire_modules (position, title) values (4, 'Bonus') returning id`;
    assert.equal(next.id, 19);
  } finally {
    await database.drop();
  }
});
