/** Helpers for the create-tripwire-user stories: the request, and the state of every table. */
import type postgres from "postgres";
import type { AuthUser } from "../../supabase/functions/_shared/auth.ts";
import { aida, daniyar, saule } from "./fixtures.ts";
import { callFunction, tokenFor } from "./server.ts";

/** The seeded staff as the functions see them once authenticated. */
export const staff: Record<"aida" | "daniyar" | "saule", AuthUser> = {
  aida: { id: aida.id, email: aida.email, fullName: "Aida Manager", role: "manager" },
  daniyar: { id: daniyar.id, email: daniyar.email, fullName: "Daniyar Manager", role: "manager" },
  saule: { id: saule.id, email: saule.email, fullName: "Saule Admin", role: "admin" },
};

let counter = 0;

/** A valid body for a new student with a unique e-mail. */
export function newStudentBody(name = "Bolat Student", extra: Record<string, unknown> = {}) {
  counter++;
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, ".").replace(/^\.|\.$/g, "") || "student";
  const local = `${slug}.${Date.now().toString(36)}.${counter}`;
  return { email: `${local}@example.kz`, full_name: name, payment_amount: 490, ...extra };
}

/** POSTs to create-tripwire-user as `userId`. */
export async function postStudent(
  userId: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return callFunction("create-tripwire-user", {
    method: "POST",
    headers: {
      authorization: `Bearer ${await tokenFor(userId)}`,
      "content-type": "application/json",
      ...headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/**
 * Row count of every table in public, private and auth: "nothing changed" is this, unchanged. Sessions are
 * left out: the tests sign in (open one) for each call, which is Supabase Auth's doing, not the request's.
 */
export async function rowCounts(sql: postgres.Sql): Promise<Record<string, number>> {
  const rows = await sql<{ name: string; count: number }[]>`
    select format('%I.%I', table_schema, table_name) as name,
           (xpath('/row/c/text()',
             query_to_xml(format('select count(*) as c from %I.%I', table_schema, table_name), false, true, '')
           ))[1]::text::int as count
    from information_schema.tables
    where table_schema in ('public', 'private', 'auth') and table_type = 'BASE TABLE'
      and (table_schema, table_name) not in (('auth', 'sessions'), ('auth', 'refresh_tokens'))
    order by 1`;
  return Object.fromEntries(rows.map((row) => [row.name, row.count]));
}

/** Tables (schema.table) whose rows contain `needle` anywhere, in any column. */
export async function tablesContaining(sql: postgres.Sql, needle: string): Promise<string[]> {
  const tables = await sql<{ name: string }[]>`
    select format('%I.%I', table_schema, table_name) as name
    from information_schema.tables
    where table_schema in ('public', 'private', 'auth') and table_type = 'BASE TABLE'`;
  const found: string[] = [];
  for (const { name } of tables) {
    const [hit] = await sql.unsafe(`select 1 from ${name} t where strpos(t::text, $1) > 0 limit 1`, [needle]);
    if (hit) found.push(name);
  }
  return found;
}

/** Runs `work` while recording every console line, then restores the console. */
export async function captureConsole<T>(work: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const lines: string[] = [];
  const original = { log: console.log, info: console.info, warn: console.warn, error: console.error };
  for (const level of ["log", "info", "warn", "error"] as const) {
    console[level] = (...args: unknown[]) => {
      lines.push(args.map((arg) => typeof arg === "string" ? arg : Deno.inspect(arg)).join(" "));
    };
  }
  try {
    return { result: await work(), lines };
  } finally {
    Object.assign(console, original);
  }
}
