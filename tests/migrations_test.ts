import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import postgres from "postgres";
import { applyMigrations, prepareDatabase } from "../scripts/lib/database.ts";
import { currentSchemaFiles, schemaFolder } from "../scripts/lib/generated.ts";
import { dumpSchema, readConcerns, schemaFingerprint } from "../scripts/lib/schema_dump.ts";
import {
  bootstrapPlainPostgres,
  createEmptyDatabase,
  isPlainPostgres,
  migrationsProject,
} from "./support/database.ts";
import { shapeAsSupabase, supabasePostgresRole } from "./support/supabase_role.ts";

const migrationsFolder = new URL("../supabase/migrations/", import.meta.url);
const migrationFiles = (await readdir(migrationsFolder)).filter((file) => file.endsWith(".sql")).sort();
/** The squashed baseline: one migration per concern, replacing the 38 before it (docs/architecture.md). */
const baselineFiles = migrationFiles.filter((file) => file <= "20261206110060_scheduling.sql");

/**
 * Where the baseline deliberately differs from the chain it replaced (made before anything was deployed),
 * and why: by statement key, each changed, added or removed.
 */
const explainedDifferences: Record<string, string> = {
  "type public.student_status": "A sale's status is an enum the generated types carry to TypeScript.",
  "type public.access_revoking_status":
    "The statuses that end access: one list, in SQL, carried to TypeScript.",
  "type public.activity_event_type": "The feed's event types: one list, in SQL, carried to TypeScript.",
  "table public.tripwire_users": "status is a student_status (was text with a CHECK).",
  "table public.sales_activity_log": "event_type is an activity_event_type (was text with a CHECK).",
  "constraint public.tripwire_users.tripwire_users_status_valid": "Replaced by the student_status enum.",
  "constraint public.sales_activity_log.sales_activity_log_event_type_valid": "Replaced by the enum.",
  "function private.access_revoked(status public.student_status)":
    "The one test of whether a status ends access.",
  "grant function private.access_revoked(status public.student_status)": "Not callable through the API.",
  "index public.tripwire_users_active_by_manager": "Its predicate compares with the enum.",
  "index public.tripwire_users_revoked_by_manager": "Its predicate is private.access_revoked(status).",
  "function private.record_heartbeats(batch jsonb, heartbeats_per_second real, heartbeat_burst real, max_playback_rate numeric, max_idle_seconds numeric, tolerance_seconds numeric, max_stored_ranges integer)":
    "Asks private.access_revoked instead of listing the statuses.",
  "function analytics.refresh_sales_stats(rebuild boolean)":
    "Asks private.access_revoked instead of listing the statuses.",
};

Deno.test("the baseline builds the schema the 38 migrations it replaced built, every difference explained", async () => {
  assert.equal(baselineFiles.length, 7);
  const database = await createEmptyDatabase();
  // A project folder holding only the baseline, so later migrations do not count.
  const project = await migrationsProject((file) => baselineFiles.includes(file));
  try {
    await bootstrapPlainPostgres(database.url);
    await applyMigrations(database.url, project.path);
    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    const fingerprint = await schemaFingerprint(await dumpSchema(sql, await readConcerns())).finally(() =>
      sql.end()
    );
    const before = (await Deno.readTextFile(new URL("./fixtures/schema_before_squash.txt", import.meta.url)))
      .split("\n").filter((line) => line && !line.startsWith("#"));
    const after = fingerprint.split("\n").filter(Boolean);
    // Every statement of the old chain's schema is in the baseline's, and nothing else, by name and by text,
    // except where explained; and every explanation is of a real difference.
    const key = (line: string) => line.slice(0, line.lastIndexOf(" "));
    const different = new Set([
      ...before.filter((line) => !after.includes(line)),
      ...after.filter((line) => !before.includes(line)),
    ].map(key));
    assert.deepEqual([...different].filter((name) => !(name in explainedDifferences)), [], "unexplained");
    assert.deepEqual(Object.keys(explainedDifferences).filter((name) => !different.has(name)), [], "stale");
  } finally {
    await project.remove();
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
      insert into public.tripwire_modules (position, title)
      values (4, '{"ru": "Бонус", "en": "Bonus"}') returning id`;
    assert.equal(next.id, 19);
  } finally {
    await database.drop();
  }
});

Deno.test("as Supabase's own postgres role, not a superuser: every migration, the seed and the course apply", async () => {
  const database = await createEmptyDatabase();
  try {
    const url = await shapeAsSupabase(database.url, { withCron: false });
    await prepareDatabase(url);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const [me] = await sql<{ role: string; superuser: boolean; settings: boolean }[]>`
        select current_user as role, rolsuper as superuser,
               pg_has_role(current_user, 'pg_read_all_settings', 'member') as settings
        from pg_roles where rolname = current_user`;
      assert.deepEqual({ ...me }, { role: supabasePostgresRole, superuser: false, settings: false });
      const history = await sql<{ version: string }[]>`
        select version from supabase_migrations.schema_migrations order by version`;
      assert.deepEqual(history.map((row) => row.version), migrationFiles.map((file) => file.split("_")[0]));
      const [owner] = await sql<{ owner: string }[]>`
        select tableowner as owner from pg_tables where schemaname = 'public' and tablename = 'tripwire_users'`;
      assert.equal(owner.owner, supabasePostgresRole);
      // The image's PostgREST watch stays the only one: the migration added no event trigger of its own.
      const triggers = await sql<{ name: string }[]>`select evtname as name from pg_event_trigger order by 1`;
      assert.deepEqual(triggers.map((row) => row.name), ["pgrst_ddl_watch", "pgrst_drop_watch"]);
      // The jobs' SQL runs as this role, as pg_cron runs them as the role that scheduled them.
      await sql`select analytics.refresh_sales_stats()`;
      await sql`select private.housekeeping()`;
      assert.match(await applyMigrations(url), /up to date/i);
    } finally {
      await sql.end();
    }
  } finally {
    await database.drop();
  }
});

Deno.test("every table, view, function, policy and enum in supabase/schemas says why it exists (comment on)", async () => {
  const uncommented: string[] = [];
  for (const file of (await readdir(schemaFolder)).filter((name) => name.endsWith(".sql")).sort()) {
    const text = await Deno.readTextFile(`${schemaFolder}${file}`);
    const has = (comment: string) => text.includes(`\ncomment on ${comment}`);
    for (
      const [, kind, name] of text.matchAll(
        /^create (?:or replace )?(table|view|materialized view|type) ([\w.]+)/gim,
      )
    ) {
      if (!has(`${kind.toLowerCase()} ${name} is `)) uncommented.push(`${file}: ${kind} ${name}`);
    }
    for (const [, name] of text.matchAll(/^create or replace function ([\w.]+)\(/gim)) {
      if (!has(`function ${name}(`)) uncommented.push(`${file}: function ${name}`);
    }
    for (const [, name, table] of text.matchAll(/^create policy ("[^"]+"|\w+) on ([\w.]+)/gm)) {
      if (!has(`policy ${name} on ${table} is `)) uncommented.push(`${file}: policy ${name} on ${table}`);
    }
  }
  assert.deepEqual(uncommented, [], "add a comment on in a new migration, then npm run gen");
});
