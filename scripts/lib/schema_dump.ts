/**
 * The current schema, read from the database's catalog: every object our migrations own (schemas
 * `public`, `private`, `academy`, `analytics`, the extensions they install, triggers they put on `auth.users`) as a
 * normalised SQL statement, each assigned to a concern (supabase/schema_concerns.json). One reader for
 * three uses: `npm run gen` writes `supabase/schemas/` from it (where any object's current definition is one
 * file), the schema test fails when that folder is stale, and the squash test compares the baseline with the
 * chain of migrations it replaced. No pg_dump needed: it works on any Postgres the tests run on.
 */
import type postgres from "postgres";
import {
  type Catalog,
  readDomains,
  readEnums,
  readExtensions,
  readRelations,
  readRows,
  readSchemas,
  readSequences,
  stages,
} from "./schema_catalog.ts";
import {
  readConstraints,
  readDefaultPrivileges,
  readEventTriggers,
  readFunctions,
  readIndexes,
  readPolicies,
  readTriggers,
} from "./schema_rules.ts";

type Sql = postgres.Sql;

/** One statement of the schema, in its concern, with what it must follow to run. */
export interface SchemaItem {
  concern: string;
  /** The object it defines or belongs to (`schema.name`): a table's statements are kept together. */
  object: string;
  /** Sort key within a concern: what must exist first comes first (tables before their constraints…). */
  stage: number;
  /** The order it was read in: a revoke before its grants. */
  order: number;
  /** A stable name for comparison: `kind schema.name`. */
  key: string;
  sql: string;
}

export const ourSchemas = ["public", "private", "academy", "analytics"];

/** The concerns in the order a reader needs them, and which objects each holds (by regular expression). */
export interface Concerns {
  order: { name: string; title: string; objects: string[] }[];
}

const concernsFile = new URL("../../supabase/schema_concerns.json", import.meta.url);

export async function readConcerns(): Promise<Concerns> {
  return JSON.parse(await Deno.readTextFile(concernsFile));
}

/**
 * Which concern objects (`schema.name`) belong to: the latest of theirs in reading order, so a statement
 * that joins two concerns (a trigger calling another concern's function, a foreign key) runs after both.
 * Throws for an object no concern claims.
 */
function concernOf(concerns: Concerns, ...objects: string[]): string {
  let latest = -1;
  for (const object of objects) {
    const index = concerns.order.findIndex((concern) =>
      concern.objects.some((pattern) => new RegExp(`^(${pattern})$`).test(object))
    );
    if (index < 0) {
      throw new Error(`${object} belongs to no concern: add it to supabase/schema_concerns.json`);
    }
    latest = Math.max(latest, index);
  }
  return concerns.order[latest].name;
}

export async function dumpSchema(database: Sql, concerns: Concerns): Promise<SchemaItem[]> {
  // With an empty search path the catalog's functions name every object with its schema.
  return await database.begin(async (sql: postgres.TransactionSql) => {
    await sql`set local search_path = ''`;
    return await dumpWith(sql as unknown as Sql, concerns);
  }) as SchemaItem[];
}

/** Every object of our schemas, read kind by kind (schema_catalog.ts, schema_rules.ts), in an order that runs. */
async function dumpWith(sql: Sql, concerns: Concerns): Promise<SchemaItem[]> {
  const items: SchemaItem[] = [];
  const catalog: Catalog = {
    sql,
    schemas: ourSchemas,
    add: (object, stage, key, text, concern) =>
      items.push({
        concern: concern ?? concernOf(concerns, object),
        object,
        stage,
        key,
        sql: text,
        order: items.length,
      }),
    concernOf: (...objects) => concernOf(concerns, ...objects),
  };
  for (const read of [readSchemas, readExtensions, readEnums, readDomains, readSequences]) {
    await read(catalog);
  }
  await readRows(catalog, await readRelations(catalog));
  for (
    const read of [
      readConstraints,
      readIndexes,
      readPolicies,
      readFunctions,
      readTriggers,
      readEventTriggers,
      readDefaultPrivileges,
    ]
  ) await read(catalog);
  return items.sort((a, b) =>
    part(a) - part(b) || a.object.localeCompare(b.object) || a.stage - b.stage ||
    a.key.localeCompare(b.key) ||
    a.order - b.order
  );
}

/**
 * The part of a concern's file a statement goes in: schemas and extensions; each table with its keys, checks,
 * indexes and comments; the rows the schema puts in them; each function with its grants; the views; then, table
 * by table, what joins it to others (foreign keys, row level security, policies, triggers, grants).
 */
function part(item: SchemaItem): number {
  if (item.stage <= stages.type) return 0;
  const ofFunction = item.key.includes("function ");
  if (ofFunction) return 3;
  if ([stages.table, stages.constraint, stages.index, stages.comment].includes(item.stage as 3)) return 1;
  if (item.stage === stages.rows) return 2;
  if (item.stage === stages.view) return 4;
  return 5;
}

/** One line per statement, `<key> <sha-256 of the statement>`, sorted: what a database's schema is, short. */
export async function schemaFingerprint(items: SchemaItem[]): Promise<string> {
  const lines = await Promise.all(items.map(async (item) => {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(item.sql));
    return `${item.key} ${
      Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("")
    }`;
  }));
  return lines.sort().join("\n") + "\n";
}

/** One file per concern: `NN_<concern>.sql`, its statements in an order that runs. */
export function schemaFiles(items: SchemaItem[], concerns: Concerns, header: (title: string) => string) {
  return Object.fromEntries(concerns.order.map((concern, index) => {
    const mine = items.filter((item) => item.concern === concern.name);
    const body = mine.map((item) => item.sql).join("\n\n");
    return [
      `${String(index + 1).padStart(2, "0")}_${concern.name}.sql`,
      `${header(concern.title)}\n${body}\n`,
    ];
  }));
}
