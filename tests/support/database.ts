/**
 * Real Postgres databases for the tests, on the server `npm test` started (or DATABASE_URL's).
 * Every test that needs isolation gets its own database; migrated ones are cloned from a template
 * that the real Supabase CLI migrated once per run.
 */
import postgres from "postgres";
import {
  bootstrapPlainPostgres,
  isPlainPostgres,
  prepareDatabase,
  withDatabase,
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
  const name = `${testDatabasePrefix}${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = connectTo(serverUrl, 1);
  try {
    if (template) await admin.unsafe(`create database ${name} template ${template}`);
    else await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(serverUrl, name);
  const sql = connectTo(url);
  return {
    name,
    url,
    sql,
    async drop() {
      await sql.end();
      const admin = connectTo(serverUrl, 1);
      try {
        await admin.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await admin.end();
      }
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
  return database.name;
}

/** A new database bootstrapped, migrated by the Supabase CLI and seeded. */
export async function createMigratedDatabase(): Promise<TestDatabase> {
  template ??= migratedTemplate();
  return await createDatabase(await template);
}

export { bootstrapPlainPostgres, isPlainPostgres };
