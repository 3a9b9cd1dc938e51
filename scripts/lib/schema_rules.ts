/**
 * The rules between the schema's objects, read from the catalog (schema_catalog.ts has the objects): keys and
 * checks, indexes, policies, functions, triggers and default privileges.
 */
import { type Catalog, grants, ident, literal, qualified, stages } from "./schema_catalog.ts";
import { ourSchemas } from "./schema_dump.ts";

/** Keys, checks and foreign keys (a foreign key goes with the later of its two tables' concerns). */
export async function readConstraints({ sql, schemas, add, concernOf }: Catalog) {
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
        ? concernOf(object, constraint.references!)
        : undefined,
    );
  }
}

/** Indexes that no constraint makes. */
export async function readIndexes({ sql, schemas, add }: Catalog) {
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
}

/** Row level security policies, with their comments. */
export async function readPolicies({ sql, schemas, add }: Catalog) {
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
}

/** Functions, with their grants and comments. */
export async function readFunctions({ sql, schemas, add }: Catalog) {
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
}

/** Triggers (one on a table outside our schemas, auth.users, goes with its function). */
export async function readTriggers({ sql, schemas, add, concernOf }: Catalog) {
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
      ? concernOf(table, trigger.fn)
      : concernOf(trigger.fn);
    add(table, stages.trigger, `trigger ${table}.${trigger.name}`, `${trigger.definition};`, concern);
  }
}

/** Event triggers. */
export async function readEventTriggers({ sql, schemas, add }: Catalog) {
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
}

/** Default privileges, as comments: compared, not replayed. */
export async function readDefaultPrivileges({ sql, schemas, add }: Catalog) {
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
}
