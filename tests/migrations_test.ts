import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import postgres from "postgres";
import { applyMigrations, prepareDatabase } from "../scripts/lib/database.ts";
import { currentSchemaFiles, schemaFolder } from "../scripts/lib/generated.ts";
import { dumpSchema, readConcerns, schemaFingerprint } from "../scripts/lib/schema_dump.ts";
import { bootstrapPlainPostgres, createEmptyDatabase, isPlainPostgres } from "./support/database.ts";

const migrationsFolder = new URL("../supabase/migrations/", import.meta.url);
const migrationFiles = (await readdir(migrationsFolder)).filter((file) => file.endsWith(".sql")).sort();
/** The squashed baseline: one migration per concern, replacing the 38 before it (docs/architecture.md). */
const baselineFiles = migrationFiles.filter((file) => file <= "20261206110060_scheduling.sql");

Deno.test("the baseline builds exactly the schema the 38 migrations it replaced built", async () => {
  assert.equal(baselineFiles.length, 7);
  const database = await createEmptyDatabase();
  // A project folder holding only the baseline, so later migrations do not count.
  const project = await Deno.makeTempDir({ prefix: "tripwire-baseline-" });
  try {
    await Deno.mkdir(`${project}/supabase/migrations`, { recursive: true });
    await Deno.writeTextFile(`${project}/supabase/config.toml`, 'project_id = "tripwire-baseline"\n');
    for (const file of baselineFiles) {
      await Deno.copyFile(new URL(file, migrationsFolder), `${project}/supabase/migrations/${file}`);
    }
    await bootstrapPlainPostgres(database.url);
    await applyMigrations(database.url, project);
    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    const fingerprint = await schemaFingerprint(await dumpSchema(sql, await readConcerns())).finally(() =>
      sql.end()
    );
    const before = (await Deno.readTextFile(new URL("./fixtures/schema_before_squash.txt", import.meta.url)))
      .split("\n").filter((line) => line && !line.startsWith("#"));
    const after = fingerprint.split("\n").filter(Boolean);
    // Every statement of the old chain's schema is in the baseline's, and nothing else: by name and by text.
    assert.deepEqual(
      {
        missing: before.filter((line) => !after.includes(line)),
        added: after.filter((line) => !before.includes(line)),
      },
      { missing: [], added: [] },
    );
  } finally {
    await Deno.remove(project, { recursive: true });
    await database.drop();
  }
});

Deno.test("the Supabase CLI applies every migration to an empty database, then has nothing to do; supabase/schemas is current", async () => {
  const database = await createEmptyDatabase();
  try {
    assert.equal(await isPlainPostgres(database.url), true, "a new database is plain Postgres");
    await bootstrapPlainPostgres(database.url);
    assert.equal(await isPlainPostgres(database.url), false, "the bootstrap adds the auth schema");

    await applyMigrations(database.url);
    const history = await database.sql<{ version: string }[]>`
      select version from supabase_migrations.schema_migrations order by version`;
    assert.deepEqual(history.map((row) => row.version), migrationFiles.map((file) => file.split("_")[0]));
    // Nothing pending: the CLI reports the database up to date and changes nothing.
    assert.match(await applyMigrations(database.url), /up to date/i);

    // Where any object is defined now: one generated file per concern, which must match the migrations.
    const expected = await currentSchemaFiles(database.url);
    const committed: Record<string, string> = {};
    for await (const entry of Deno.readDir(schemaFolder)) {
      committed[entry.name] = await Deno.readTextFile(`${schemaFolder}${entry.name}`);
    }
    assert.deepEqual(Object.keys(committed).sort(), Object.keys(expected).sort(), "run npm run gen:schema");
    for (const [name, text] of Object.entries(expected)) {
      assert.equal(committed[name], text, `supabase/schemas/${name} is stale: run npm run gen:schema`);
    }
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
