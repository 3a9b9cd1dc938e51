/**
 * The readers of the catalog the schema dump is made of (schema_dump.ts): each reads one kind of object from
 * Postgres' catalog and adds it as a normalised statement, with the helpers that quote and order them. The
 * objects, their columns and their rows are here; the rules between tables (schema_rules.ts) apart.
 */
import type postgres from "postgres";

type Sql = postgres.Sql;

/** Adds a statement: its object (`schema.name`), its stage, a stable key, the SQL, and its concern if not the object's. */
export type Add = (object: string, stage: number, key: string, text: string, concern?: string) => void;

/** What every reader gets: the catalog (with an empty search path), our schemas, and where its statements go. */
export interface Catalog {
  sql: Sql;
  schemas: string[];
  add: Add;
  /** The concern of a statement that joins objects: the latest of theirs in reading order. */
  concernOf: (...objects: string[]) => string;
}

/** A table or view as read, for the rows reader too. */
export type Relation = Awaited<ReturnType<typeof readRelations>>[number];

export const stages = {
  schema: 0,
  extension: 1,
  type: 2,
  table: 3,
  rows: 4,
  function: 5,
  view: 6,
  constraint: 7,
  foreignKey: 8,
  index: 9,
  security: 10,
  policy: 11,
  trigger: 12,
  grant: 13,
  comment: 14,
} as const;

export const ident = (name: string) =>
  /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
export const qualified = (schema: string, name: string) => `${ident(schema)}.${ident(name)}`;
export const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

export const privilegeNames: Record<string, string> = {
  r: "select",
  a: "insert",
  w: "update",
  d: "delete",
  D: "truncate",
  x: "references",
  t: "trigger",
  X: "execute",
  U: "usage",
  C: "create",
};

/**
 * The `revoke` and `grant` statements (one item, a line each) for an ACL as the catalog holds it (null: the
 * defaults, nothing said). A non-null ACL starts from nothing for the roles an API could use, so the result
 * does not depend on a platform's default privileges; grantees with the same privileges share a statement.
 */
export function grants(acl: string[] | null, owner: string, object: string): string[] {
  if (!acl) return [];
  const byPrivileges = new Map<string, string[]>();
  for (const entry of acl) {
    const match = entry.match(/^(.*)=([a-zA-Z*]*)\/(.*)$/);
    if (!match) throw new Error(`unreadable ACL entry ${entry} on ${object}`);
    const grantee = match[1] === "" ? "public" : match[1].replace(/^"(.*)"$/, "$1");
    if (grantee === owner) continue;
    const privileges = [...match[2].replaceAll("*", "")].map((letter) => privilegeNames[letter]).sort().join(
      ", ",
    );
    byPrivileges.set(privileges, [...byPrivileges.get(privileges) ?? [], ident(grantee)]);
  }
  return [
    [
      `revoke all on ${object} from public, anon, authenticated, service_role;`,
      ...[...byPrivileges].sort(([a], [b]) => a.localeCompare(b)).map(([privileges, grantees]) =>
        `grant ${privileges} on ${object} to ${grantees.sort().join(", ")};`
      ),
    ].join("\n"),
  ];
}

/** The schemas themselves, with their grants. */
export async function readSchemas({ sql, schemas, add }: Catalog) {
  for (
    const schema of await sql<
      { name: string; acl: string[] | null; owner: string; comment: string | null }[]
    >`
    select n.nspname as name, n.nspacl::text[] as acl, pg_get_userbyid(n.nspowner) as owner,
           obj_description(n.oid, 'pg_namespace') as comment
    from pg_namespace n where n.nspname = any(${schemas}) and n.nspname <> 'public' order by 1`
  ) {
    add(
      schema.name,
      stages.schema,
      `schema ${schema.name}`,
      `create schema if not exists ${ident(schema.name)};`,
    );
    for (const grant of grants(schema.acl, schema.owner, `schema ${ident(schema.name)}`)) {
      add(schema.name, stages.grant, `grant schema ${schema.name}`, grant);
    }
  }
}

/** The extensions the migrations install. */
export async function readExtensions({ sql, add }: Catalog) {
  for (
    const extension of await sql<{ name: string; schema: string }[]>`
    select e.extname as name, e.extnamespace::regnamespace::text as schema
    from pg_extension e where e.extname not in ('plpgsql', 'pg_cron', 'pg_net') order by 1`
  ) {
    add(
      `extension.${extension.name}`,
      stages.extension,
      `extension ${extension.name}`,
      `create extension if not exists ${ident(extension.name)} with schema ${ident(extension.schema)};`,
    );
  }
}

/** Enum types, with their comments. */
export async function readEnums({ sql, schemas, add }: Catalog) {
  for (
    const type of await sql<{ schema: string; name: string; labels: string[]; comment: string | null }[]>`
    select n.nspname as schema, t.typname as name,
           array(select e.enumlabel::text from pg_enum e where e.enumtypid = t.oid order by e.enumsortorder) as labels,
           obj_description(t.oid, 'pg_type') as comment
    from pg_type t join pg_namespace n on n.oid = t.typnamespace
    where n.nspname = any(${schemas}) and t.typtype = 'e' order by 1, 2`
  ) {
    const name = qualified(type.schema, type.name);
    add(
      `${type.schema}.${type.name}`,
      stages.type,
      `type ${type.schema}.${type.name}`,
      [
        `create type ${name} as enum (${type.labels.map(literal).join(", ")});`,
        ...(type.comment === null ? [] : [`comment on type ${name} is ${literal(type.comment)};`]),
      ].join("\n\n"),
    );
  }
}

/** Domains, with their checks and comments. */
export async function readDomains({ sql, schemas, add }: Catalog) {
  for (
    const domain of await sql<
      { schema: string; name: string; base: string; checks: string[]; comment: string | null }[]
    >`
    select n.nspname as schema, t.typname as name, pg_catalog.format_type(t.typbasetype, t.typtypmod) as base,
           array(select 'constraint ' || quote_ident(c.conname) || ' ' || pg_get_constraintdef(c.oid)
                 from pg_constraint c where c.contypid = t.oid order by c.conname) as checks,
           obj_description(t.oid, 'pg_type') as comment
    from pg_type t join pg_namespace n on n.oid = t.typnamespace
    where n.nspname = any(${schemas}) and t.typtype = 'd' order by 1, 2`
  ) {
    add(
      `${domain.schema}.${domain.name}`,
      stages.type,
      `domain ${domain.schema}.${domain.name}`,
      [
        `create domain ${qualified(domain.schema, domain.name)} as ${domain.base}\n  ${
          domain.checks.join("\n  ")
        };`,
        ...(domain.comment === null
          ? []
          : [`comment on domain ${qualified(domain.schema, domain.name)} is ${literal(domain.comment)};`]),
      ].join("\n\n"),
    );
  }
}

/** Sequences of their own (an identity column's belongs to its column). */
export async function readSequences({ sql, schemas, add }: Catalog) {
  // Sequences of their own (an identity column's belongs to its column).
  for (
    const sequence of await sql<{
      schema: string;
      name: string;
      type: string;
      start: string;
      increment: string;
      min: string;
      max: string;
      cache: string;
      cycle: boolean;
      acl: string[] | null;
      owner: string;
    }[]>`
    select n.nspname as schema, c.relname as name, format_type(s.seqtypid, null) as type, s.seqstart::text as start,
           s.seqincrement::text as increment, s.seqmin::text as min, s.seqmax::text as max, s.seqcache::text as cache,
           s.seqcycle as cycle, c.relacl::text[] as acl, pg_get_userbyid(c.relowner) as owner
    from pg_sequence s join pg_class c on c.oid = s.seqrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = any(${schemas})
      and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'i')
    order by 1, 2`
  ) {
    const object = `${sequence.schema}.${sequence.name}`;
    const name = qualified(sequence.schema, sequence.name);
    add(
      object,
      stages.table,
      `sequence ${object}`,
      `create sequence ${name} as ${sequence.type} start with ${sequence.start} increment by ${sequence.increment}` +
        ` minvalue ${sequence.min} maxvalue ${sequence.max} cache ${sequence.cache}${
          sequence.cycle ? " cycle" : ""
        };`,
    );
    for (const grant of grants(sequence.acl, sequence.owner, `sequence ${name}`)) {
      add(object, stages.grant, `grant ${object}`, grant);
    }
  }
}

/** Tables and views: their columns, defaults, comments, row level security and grants; answers them, for the rows. */
export async function readRelations({ sql, schemas, add }: Catalog) {
  const relations = await sql<{
    oid: number;
    schema: string;
    name: string;
    kind: string;
    rls: boolean;
    force_rls: boolean;
    acl: string[] | null;
    owner: string;
    comment: string | null;
    view: string | null;
    options: string[] | null;
  }[]>`
    select c.oid::int as oid, c.reloptions::text[] as options, n.nspname as schema, c.relname as name, c.relkind::text as kind,
           c.relrowsecurity as rls, c.relforcerowsecurity as force_rls, c.relacl::text[] as acl,
           pg_get_userbyid(c.relowner) as owner, obj_description(c.oid, 'pg_class') as comment,
           case when c.relkind in ('v', 'm') then pg_get_viewdef(c.oid, true) end as view
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = any(${schemas}) and c.relkind in ('r', 'p', 'v', 'm') order by 2, 3`;
  for (const relation of relations) {
    const object = `${relation.schema}.${relation.name}`;
    const name = qualified(relation.schema, relation.name);
    const kindWord =
      ({ r: "table", p: "table", v: "view", m: "materialized view" } as Record<string, string>)[
        relation.kind
      ];
    if (relation.kind === "v" || relation.kind === "m") {
      add(
        object,
        stages.view,
        `${kindWord} ${object}`,
        `create ${kindWord} ${name} as\n${relation.view!.trimEnd()}`,
      );
    } else {
      const columns = await sql<{
        name: string;
        type: string;
        not_null: boolean;
        default: string | null;
        identity: string;
        generated: string;
        comment: string | null;
        acl: string[] | null;
      }[]>`
        select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as not_null,
               pg_get_expr(d.adbin, d.adrelid) as default, a.attidentity::text as identity,
               a.attgenerated::text as generated, col_description(a.attrelid, a.attnum) as comment,
               a.attacl::text[] as acl
        from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where a.attrelid = ${relation.oid} and a.attnum > 0 and not a.attisdropped order by a.attnum`;
      const lines = columns.map((column) => {
        let line = `  ${ident(column.name)} ${column.type}`;
        if (column.generated === "s") line += ` generated always as (${column.default}) stored`;
        else if (column.default !== null) line += ` default ${column.default}`;
        if (column.identity) {
          line += ` generated ${column.identity === "a" ? "always" : "by default"} as identity`;
        }
        if (column.not_null && !column.identity) line += " not null";
        return line;
      });
      add(object, stages.table, `table ${object}`, `create table ${name} (\n${lines.join(",\n")}\n);`);
      for (const column of columns) {
        if (column.comment !== null) {
          add(
            object,
            stages.comment,
            `comment ${object}.${column.name}`,
            `comment on column ${name}.${ident(column.name)} is ${literal(column.comment)};`,
          );
        }
        for (const grant of grants(column.acl, relation.owner, `table ${name}`)) {
          // Column privileges: `grant select (col) on table …`.
          add(
            object,
            stages.grant,
            `grant ${object}.${column.name}`,
            grant.replace(/^(grant|revoke) ([a-z, ]+) on/gm, `$1 $2 (${ident(column.name)}) on`),
          );
        }
      }
      if (relation.rls) {
        add(object, stages.security, `rls ${object}`, `alter table ${name} enable row level security;`);
      }
      if (relation.force_rls) {
        add(object, stages.security, `force rls ${object}`, `alter table ${name} force row level security;`);
      }
    }
    if (relation.options) {
      // Storage and security settings: fillfactor, autovacuum, security_invoker…
      add(
        object,
        stages.constraint,
        `options ${object}`,
        `alter ${kindWord} ${name} set (${relation.options.join(", ")});`,
      );
    }
    if (relation.comment !== null) {
      add(
        object,
        stages.comment,
        `comment ${object}`,
        `comment on ${kindWord} ${name} is ${literal(relation.comment)};`,
      );
    }
    for (const grant of grants(relation.acl, relation.owner, `table ${name}`)) {
      add(object, stages.grant, `grant ${object}`, grant);
    }
  }
  return relations;
}

/** The rows the migrations put in tables (settings, achievements): part of the schema's meaning. */
export async function readRows({ sql, add }: Catalog, relations: Relation[]) {
  // Rows the migrations put in tables (settings, achievements): part of the schema's meaning. Logs are not,
  // nor are clock readings (timestamps and dates, which differ from one run to the next).
  for (const relation of relations.filter((r) => r.kind === "r" && !r.name.endsWith("_log"))) {
    const rows = await sql<{ row: Record<string, unknown> }[]>`
      select to_jsonb(t) - array(
               select a.attname::text from pg_attribute a
               where a.attrelid = ${relation.oid} and a.attnum > 0
                 and a.atttypid in ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype)
             ) as row
      from ${sql(relation.schema)}.${sql(relation.name)} t order by 1`;
    const object = `${relation.schema}.${relation.name}`;
    for (const { row } of rows) {
      const value = (v: unknown) =>
        v === null
          ? "null"
          : typeof v === "string"
          ? literal(v)
          : typeof v === "object"
          ? `${literal(JSON.stringify(v))}::jsonb`
          : String(v);
      add(
        object,
        stages.rows,
        `row ${object}`,
        `insert into ${qualified(relation.schema, relation.name)} (${
          Object.keys(row).map(ident).join(", ")
        })\n` +
          `values (${Object.values(row).map(value).join(", ")});`,
      );
    }
  }
}
