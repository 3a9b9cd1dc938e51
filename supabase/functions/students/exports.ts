/**
 * CSV exports of a manager's (or the admin's) students and sales (docs/architecture.md, "Exports"). Each is one
 * query read through a cursor, a thousand rows at a time, and written as it comes: a million rows never sit in
 * memory. Postgres writes each line (`csvLine`: the rules of `csvCell`, in SQL), so the function only passes
 * text through: a million rows cost an Edge Function well under its 2 s of CPU. Text a person typed is
 * neutralised, so a name such as `=HYPERLINK(…)` stays text in a spreadsheet.
 */
import { z } from "zod";
import type { AuthUser } from "../_shared/auth.ts";
import { audit } from "../_domain/audit.ts";
import { db, type ReservedSql, type Sql, withTransaction } from "../_shared/db.ts";
import { academyDay } from "../_domain/academy_day.ts";
import { csvCell, type CsvColumn, csvLine } from "../_shared/csv.ts";
import { isStorableYear } from "../_shared/input.ts";
import { scopeOf, summaryFacts } from "../_domain/student_summary.ts";
import { sortOf, studentFilters, StudentsQuery } from "./list.ts";

/**
 * Lines fetched per round trip while streaming (about 55 KB: one socket read). At 1,000,000 students, 1,000 a
 * trip (230 KB messages, reassembled from many reads) took the function to 163 MiB; 250 keeps it at 108–116 MiB
 * for 0.46 s of CPU instead of 0.32 (docs/benchmarks.md, "Exports within an isolate's CPU").
 */
const chunkRows = 250;
/** An export may run this long in the database (the requests' usual limit is seconds). */
const exportStatementTimeout = "5min";

export const StudentsExportQuery = StudentsQuery.omit({ after: true, limit: true }).meta({
  id: "StudentsExportQuery",
});
export type StudentsExportQuery = z.output<typeof StudentsExportQuery>;

const day = z.iso.date("a date, YYYY-MM-DD").refine(isStorableYear, "there is no year 0000");
export const SalesExportQuery = z.strictObject({
  from: day.optional().meta({ description: "First day (the academy's time zone), inclusive." }),
  to: day.optional().meta({ description: "Last day, inclusive." }),
  manager_id: z.uuid("a manager's id (uuid)").optional().meta({ description: "Admins only: one manager's." }),
}).meta({ id: "SalesExportQuery" });
export type SalesExportQuery = z.output<typeof SalesExportQuery>;

/**
 * Streams `query`'s lines (a query of one text column, a CSV line Postgres wrote) after a header, with a BOM so
 * spreadsheets read UTF-8. The query is a cursor declared in a transaction on a reserved connection (its portal
 * lives in the transaction, also through a transaction pooler), with a timeout of its own; each round trip asks
 * `private.export_chunk` for the next thousand lines joined into one text, which goes out as it came (`raw()`:
 * not even decoded), so a million rows cost the function a thousand messages, not a million. Pulled by the
 * response: a slow client slows the cursor, and a client that goes away ends the generator, whose `finally`
 * gives the connection back.
 */
function csvStream(
  sql: Sql,
  columns: CsvColumn[],
  query: (connection: ReservedSql) => ReturnType<Sql>,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  async function* chunks(): AsyncGenerator<Uint8Array> {
    yield encoder.encode("\uFEFF" + columns.map((column) => csvCell(column.header)).join(",") + "\r\n");
    const connection = await sql.reserve();
    let open = false;
    try {
      await connection`begin`;
      open = true;
      await connection`select set_config('statement_timeout', ${exportStatementTimeout}, true)`;
      // Planned for every row, as a plain query is: a declared cursor is otherwise planned for its first tenth
      // (cursor_tuple_fraction), which took the export twice as long.
      await connection`select set_config('cursor_tuple_fraction', '1', true)`;
      await connection`declare tripwire_export no scroll cursor for ${query(connection)}`;
      for (;;) {
        const [[chunk]] = await connection<[Uint8Array | null][]>`
          select private.export_chunk('tripwire_export', ${chunkRows})`.raw();
        if (!chunk) break;
        yield chunk;
      }
      await connection`commit`;
      open = false;
    } finally {
      // A client that left mid-way: the open transaction is rolled back before the connection goes back.
      if (open) await connection`rollback`.catch(() => {});
      connection.release();
    }
  }
  return ReadableStream.from(chunks());
}

/** The students' file: each column's SQL over the list's `t`, `f`, `p`, `a` and the export's `m`, `o`. */
const studentColumns: CsvColumn[] = [
  { header: "id", sql: "t.user_id" },
  { header: "full_name", sql: "t.full_name", typed: true },
  { header: "email", sql: "t.email", typed: true },
  { header: "phone", sql: "t.phone", typed: true },
  { header: "status", sql: "t.status" },
  { header: "stage", sql: "f.stage" },
  { header: "manager_id", sql: "t.granted_by" },
  { header: "manager_name", sql: "m.full_name", typed: true },
  { header: "payment_amount", sql: "t.payment_amount" },
  { header: "refunded_amount", sql: "t.refunded_amount" },
  { header: "currency", sql: "z.currency" },
  { header: "created_at", sql: "t.created_at", time: true },
  { header: "last_activity_at", sql: "a.last_activity_at", time: true },
  { header: "modules_completed", sql: "p.modules_completed" },
  { header: "total_modules", sql: "p.total_modules" },
  { header: "certificate_number", sql: "f.certificate_number" },
  { header: "order_provider", sql: "o.provider" },
  { header: "order_id", sql: "o.order_id", typed: true },
];

/** The caller's students as the list filters and sorts them, every one of them, as CSV. */
/** The academy's today (its time zone from the settings): the date a downloaded file is named with. */
/**
 * An export is audited before its first row is read: who took which file with which filters (each holds
 * every matching student's e-mail and phone), whether or not the download completes.
 */
export async function auditExport(
  caller: AuthUser,
  file: "students.csv" | "sales.csv",
  filters: Record<string, unknown>,
  sql: Sql = db(),
): Promise<void> {
  await withTransaction(
    (tx) =>
      audit(tx, {
        actor: caller,
        action: "export.downloaded",
        target: { type: "export", id: file },
        changes: { filters: { before: null, after: filters } },
      }),
    sql,
  );
}

export async function academyToday(sql: Sql = db()): Promise<string> {
  const [{ time_zone }] = await sql<{ time_zone: string }[]>`select time_zone from academy.settings`;
  return academyDay(time_zone);
}

export function exportStudents(caller: AuthUser, query: StudentsExportQuery, sql: Sql = db()) {
  const scope = scopeOf(caller, query.manager_id);
  const sort = sortOf(sql, query.sort);
  const line = csvLine(sql, studentColumns);
  return csvStream(sql, studentColumns, (tx) =>
    tx`
      select ${line.sql} as line
      from public.tripwire_users t
      ${summaryFacts(tx)}
      join public.users m on m.id = t.granted_by
      left join private.payment_orders o on o.student_id = t.user_id and not o.attached
      cross join (select currency from academy.settings) z
      ${line.typedValues}
      where true ${studentFilters(tx, scope, query)}
      order by ${sort.by}`);
}

/** The books' file: each column's SQL over the ledger `l`, the student `t`, the manager `m` and `o`, `z`. */
const saleColumns: CsvColumn[] = [
  { header: "occurred_at", sql: "l.occurred_at", time: true },
  { header: "day", sql: "to_char(l.occurred_at at time zone z.tz, 'YYYY-MM-DD')" },
  { header: "kind", sql: "l.kind" },
  { header: "amount", sql: "l.amount" },
  { header: "currency", sql: "z.currency" },
  { header: "student_id", sql: "t.user_id" },
  { header: "student_name", sql: "t.full_name", typed: true },
  { header: "student_email", sql: "t.email", typed: true },
  { header: "manager_id", sql: "t.granted_by" },
  { header: "manager_name", sql: "m.full_name", typed: true },
  { header: "reason", sql: "l.reason", typed: true },
  { header: "order_provider", sql: "o.provider" },
  { header: "order_id", sql: "o.order_id", typed: true },
];

/**
 * The books as CSV: every sale (its payment, on its day) and every refund (negative, on its own day), oldest
 * first, days in the academy's time zone — what the revenue figures add up.
 */
export function exportSales(caller: AuthUser, query: SalesExportQuery, sql: Sql = db()) {
  const scope = scopeOf(caller, query.manager_id);
  const none = sql``;
  const within = (column: string) =>
    sql`
    ${
      query.from ? sql`and ${sql.unsafe(column)} >= (${query.from}::date::timestamp at time zone z.tz)` : none
    }
    ${
      query.to
        ? sql`and ${sql.unsafe(column)} < ((${query.to}::date + 1)::timestamp at time zone z.tz)`
        : none
    }`;
  const line = csvLine(sql, saleColumns);
  return csvStream(sql, saleColumns, (tx) =>
    tx`
      with z as (select time_zone as tz, currency from academy.settings),
      ledger as (
        select t.created_at as occurred_at, 'sale' as kind, t.payment_amount as amount, t.user_id, null::text as reason
        from public.tripwire_users t, z
        where true ${scope ? sql`and t.granted_by = ${scope}` : none} ${within("t.created_at")}
        union all
        select r.created_at, 'refund', -r.amount, r.user_id, r.reason
        from public.student_refunds r
        join public.tripwire_users t on t.user_id = r.user_id, z
        where true ${scope ? sql`and t.granted_by = ${scope}` : none} ${within("r.created_at")}
      )
      select ${line.sql} as line
      from ledger l
      cross join z
      join public.tripwire_users t on t.user_id = l.user_id
      join public.users m on m.id = t.granted_by
      left join private.payment_orders o on o.student_id = t.user_id and not o.attached
      ${line.typedValues}
      order by l.occurred_at, l.kind desc, t.user_id`);
}
