/**
 * The current schema, read from the database's catalog: every object our migrations own (schemas
 * `public`, `private`, `analytics`, the extensions they install, triggers they put on `auth.users`) as a
 * normalised SQL statement, each assigned to a concern (supabase/schema_concerns.json). One reader for
 * three uses: `npm run gen` writes `supabase/schemas/` from it (where any object's current definition is one
 * file), the schema test fails when that folder is stale, and the squash test compares the baseline with the
 * chain of migrations it replaced. No pg_dump needed: it works on any Postgres the tests run on.
 */
import type postgres from "postgres";

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

const stages = {
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

const ident = (name: string) => /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
const qualified = (schema: string, name: string) => `${ident(schema)}.${ident(name)}`;
const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

const privilegeNames: Record<string, string> = {
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
function grants(acl: string[] | null, owner: string, object: string): string[] {
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

/** Every object of our schemas as statements, each in its concern. */
export async function dumpSchema(database: Sql, concerns: Concerns): Promise<SchemaItem[]> {
  // With an empty search path the catalog's functions name every object with its schema.
  return await database.begin(async (sql: postgres.TransactionSql) => {
    await sql`set local search_path = ''`;
    return await dumpWith(sql as unknown as Sql, concerns);
  }) as SchemaItem[];
}

async function dumpWith(sql: Sql, concerns: Concerns): Promise<SchemaItem[]> {
  const items: SchemaItem[] = [];
  const add = (object: string, stage: number, key: string, text: string, concern?: string) =>
    items.push({
      concern: concern ?? concernOf(concerns, object),
      object,
      stage,
      key,
      sql: text,
      order: items.length,
    });
  const schemas = ourSchemas;

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

  for (
    const constraint of await sql<
      {
        schema: string;
        table: string;
        name: string;
        type: string;
        definition: string;
        references: string | null;
      }[]
    >`
    select n.nspname as schema, c.relname as table, k.conname as name, k.contype::text as type,
           pg_get_constraintdef(k.oid, true) as definition,
           (select rn.nspname || '.' || r.relname from pg_class r join pg_namespace rn on rn.oid = r.relnamespace
            where r.oid = k.confrelid) as references
    from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = any(${schemas}) and k.contype in ('p', 'u', 'f', 'c', 'x')
    order by 1, 2, 3`
  ) {
    const object = `${constraint.schema}.${constraint.table}`;
    add(
      object,
      constraint.type === "f" ? stages.foreignKey : stages.constraint,
      `constraint ${object}.${constraint.name}`,
      `alter table ${qualified(constraint.schema, constraint.table)} add constraint ${
        ident(constraint.name)
      } ${constraint.definition};`,
      ourSchemas.includes(constraint.references?.split(".")[0] ?? "")
        ? concernOf(concerns, object, constraint.references!)
        : undefined,
    );
  }

  for (
    const index of await sql<{ schema: string; table: string; name: string; definition: string }[]>`
    select n.nspname as schema, c.relname as table, i.relname as name, pg_get_indexdef(i.oid) as definition
    from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class c on c.oid = x.indrelid
    join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = any(${schemas})
      and not exists (select 1 from pg_constraint k where k.conindid = x.indexrelid and k.contype in ('p', 'u', 'x'))
    order by 1, 2, 3`
  ) {
    add(
      `${index.schema}.${index.table}`,
      stages.index,
      `index ${index.schema}.${index.name}`,
      `${index.definition};`,
    );
  }

  for (
    const policy of await sql<{
      schema: string;
      table: string;
      name: string;
      permissive: boolean;
      command: string;
      roles: string[];
      using: string | null;
      check: string | null;
      comment: string | null;
    }[]>`
    select n.nspname as schema, c.relname as table, p.polname as name, p.polpermissive as permissive,
           obj_description(p.oid, 'pg_policy') as comment,
           p.polcmd::text as command,
           array(select case when r = 0 then 'public' else pg_get_userbyid(r) end from unnest(p.polroles) r order by 1)
             as roles,
           pg_get_expr(p.polqual, p.polrelid, true) as using, pg_get_expr(p.polwithcheck, p.polrelid, true) as check
    from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = any(${schemas}) order by 1, 2, 3`
  ) {
    const command =
      ({ r: "select", a: "insert", w: "update", d: "delete", "*": "all" } as Record<string, string>)[
        policy.command
      ];
    add(
      `${policy.schema}.${policy.table}`,
      stages.policy,
      `policy ${policy.schema}.${policy.table}.${policy.name}`,
      `create policy ${ident(policy.name)} on ${qualified(policy.schema, policy.table)}\n  as ${
        policy.permissive ? "permissive" : "restrictive"
      } for ${command} to ${policy.roles.map(ident).join(", ")}` +
        (policy.using ? `\n  using (${policy.using})` : "") +
        (policy.check ? `\n  with check (${policy.check})` : "") + ";" +
        (policy.comment === null
          ? ""
          : `\n\ncomment on policy ${ident(policy.name)} on ${qualified(policy.schema, policy.table)} is ${
            literal(policy.comment)
          };`),
    );
  }

  const functions = await sql<{
    schema: string;
    name: string;
    signature: string;
    definition: string;
    acl: string[] | null;
    owner: string;
    comment: string | null;
  }[]>`
    select n.nspname as schema, p.proname as name, pg_get_function_identity_arguments(p.oid) as signature,
           pg_get_functiondef(p.oid) as definition, p.proacl::text[] as acl, pg_get_userbyid(p.proowner) as owner,
           obj_description(p.oid, 'pg_proc') as comment
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = any(${schemas}) and p.prokind in ('f', 'p')
      and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
    order by 1, 2, 3`;
  for (const fn of functions) {
    const object = `${fn.schema}.${fn.name}`;
    const name = `function ${qualified(fn.schema, fn.name)}(${fn.signature})`;
    add(object, stages.function, `function ${object}(${fn.signature})`, `${fn.definition.trimEnd()};`);
    if (fn.acl) {
      // A function's default is execute for public: only a changed ACL is stated.
      for (const grant of grants(fn.acl, fn.owner, name)) add(object, stages.grant, `grant ${name}`, grant);
    }
    if (fn.comment !== null) {
      add(object, stages.comment, `comment ${name}`, `comment on ${name} is ${literal(fn.comment)};`);
    }
  }

  for (
    const trigger of await sql<
      { schema: string; table: string; name: string; definition: string; fn: string }[]
    >`
    select n.nspname as schema, c.relname as table, t.tgname as name, pg_get_triggerdef(t.oid) as definition,
           fn.nspname || '.' || p.proname as fn
    from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
    join pg_proc p on p.oid = t.tgfoid join pg_namespace fn on fn.oid = p.pronamespace
    where not t.tgisinternal and (n.nspname = any(${schemas}) or fn.nspname = any(${schemas}))
    order by 1, 2, 3`
  ) {
    const table = `${trigger.schema}.${trigger.table}`;
    // A trigger on a table outside our schemas (auth.users) lives with its function.
    const concern = ourSchemas.includes(trigger.schema)
      ? concernOf(concerns, table, trigger.fn)
      : concernOf(concerns, trigger.fn);
    add(table, stages.trigger, `trigger ${table}.${trigger.name}`, `${trigger.definition};`, concern);
  }

  for (
    const trigger of await sql<{ name: string; event: string; tags: string[] | null; fn: string }[]>`
    select e.evtname as name, e.evtevent as event, e.evttags as tags, e.evtfoid::regproc::text as fn
    from pg_event_trigger e join pg_proc p on p.oid = e.evtfoid join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = any(${schemas}) order by 1`
  ) {
    add(
      trigger.fn,
      stages.trigger,
      `event trigger ${trigger.name}`,
      `create event trigger ${ident(trigger.name)} on ${trigger.event}` +
        (trigger.tags ? `\n  when tag in (${trigger.tags.map(literal).join(", ")})` : "") +
        `\n  execute function ${trigger.fn}();`,
    );
  }

  for (
    const entry of await sql<{ role: string; schema: string; type: string; acl: string[] }[]>`
    select pg_get_userbyid(d.defaclrole) as role, coalesce(d.defaclnamespace::regnamespace::text, '') as schema,
           d.defaclobjtype::text as type, d.defaclacl::text[] as acl
    from pg_default_acl d
    where d.defaclnamespace = 0 or d.defaclnamespace::regnamespace::text = any(${schemas}) order by 1, 2, 3`
  ) {
    // Default privileges are stated as comments: compared, not replayed (the migrations set them by hand).
    add(
      entry.schema || "public",
      stages.grant,
      `default privileges ${entry.role} ${entry.schema} ${entry.type}`,
      `-- default privileges of ${entry.role} in schema ${entry.schema || "(all)"} on ${entry.type}: ${
        entry.acl.join(" ")
      }`,
    );
  }

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
