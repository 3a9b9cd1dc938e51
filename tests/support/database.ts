/**
 * Real Postgres databases for the tests, on the server `npm test` started (or DATABASE_URL's).
 * Every test that needs isolation gets its own database; migrated ones are cloned from a template
 * that the real Supabase CLI migrated once per run.
 */
import postgres from "postgres";
import {
  bootstrapPlainPostgres,
  createScratchDatabase,
  isPlainPostgres,
  prepareDatabase,
} from "../../scripts/lib/database.ts";

export const serverUrl = Deno.env.get("TEST_DATABASE_URL") ?? "";
if (!serverUrl) {
  throw new Error(
    "No database: run the tests with `npm test`, which starts Postgres and sets TEST_DATABASE_URL",
  );
}

/** Prefix of every database the tests create; `npm test` drops leftovers with it. */
export const testDatabasePrefix = "tripwire_t_";

export interface TestDatabase {
  name: string;
  url: string;
  sql: postgres.Sql;
  drop(): Promise<void>;
}

function connectTo(url: string, max = 5): postgres.Sql {
  return postgres(url, { max, onnotice: () => {} });
}

async function createDatabase(template?: string): Promise<TestDatabase> {
  const database = await createScratchDatabase(serverUrl, testDatabasePrefix, template);
  const sql = connectTo(database.url);
  return {
    name: database.name,
    url: database.url,
    sql,
    async drop() {
      await sql.end();
      await database.drop();
    },
  };
}

/** A new, empty database: nothing bootstrapped, nothing migrated. */
export function createEmptyDatabase(): Promise<TestDatabase> {
  return createDatabase();
}

let template: Promise<string> | undefined;

async function migratedTemplate(): Promise<string> {
  const database = await createDatabase();
  await database.sql.end();
  await prepareDatabase(database.url);
  // The tests create hundreds of students a minute as one manager; tests/abuse_test.ts checks the limit.
  const sql = connectTo(database.url, 1);
  await sql`update academy.settings set student_creations_per_minute = 1000000`.finally(() => sql.end());
  return database.name;
}

/** A new database bootstrapped, migrated by the Supabase CLI and seeded. */
export async function createMigratedDatabase(): Promise<TestDatabase> {
  template ??= migratedTemplate();
  return await createDatabase(await template);
}

export { bootstrapPlainPostgres, isPlainPostgres };

/**
 * A Supabase project folder for `applyMigrations(url, folder)`: the repository's migrations that `keep`
 * accepts, plus `extra` ones (file name → SQL), as a developer's checkout would hold them.
 */
export async function migrationsProject(
  keep: (file: string) => boolean,
  extra: Record<string, string> = {},
): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await Deno.makeTempDir({ prefix: "tripwire-project-" });
  await Deno.mkdir(`${path}/supabase/migrations`, { recursive: true });
  await Deno.writeTextFile(`${path}/supabase/config.toml`, 'project_id = "tripwire-test"\n');
  const migrations = new URL("../../supabase/migrations/", import.meta.url);
  for await (const entry of Deno.readDir(migrations)) {
    if (keep(entry.name)) {
      await Deno.copyFile(new URL(entry.name, migrations), `${path}/supabase/migrations/${entry.name}`);
    }
  }
  for (const [name, sql] of Object.entries(extra)) {
    await Deno.writeTextFile(`${path}/supabase/migrations/${name}`, sql);
  }
  return { path, remove: () => Deno.remove(path, { recursive: true }) };
}
