/**
 * CSV exports of a manager's (or the admin's) students and sales (docs/architecture.md, "Exports"). Each is one
 * query read through a cursor, a thousand rows at a time, and written as it comes: a million rows never sit in
 * memory. Text a person typed is neutralised, so a name such as `=HYPERLINK(…)` stays text in a spreadsheet.
 */
import { z } from "zod";
import type { AuthUser } from "../_shared/auth.ts";
import { audit } from "../_shared/audit.ts";
import { db, type Sql, withTransaction } from "../_shared/db.ts";
import { academyDay } from "../_shared/academy_day.ts";
import { csvCell } from "../_shared/csv.ts";
import { isStorableYear } from "../_shared/input.ts";
import { scopeOf, sortOf, studentFilters, StudentsQuery, summaryFacts } from "./students.ts";

/** Rows fetched per round trip while streaming. */
const batchRows = 1_000;
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

interface Column<Row> {
  header: string;
  value: (row: Row) => unknown;
  /** Typed by a person (a name, an e-mail, a reason): neutralised. */
  typed?: boolean;
}

/**
 * Streams `query`'s rows as CSV, a batch at a time, with a BOM so spreadsheets read UTF-8. Pulled by the
 * response: a slow client slows the cursor, and a client that goes away ends the generator, whose `finally`
 * gives the connection back. The cursor runs in a transaction on a reserved connection (its portal lives in
 * the transaction, also through a transaction pooler), with a timeout of its own.
 */
function csvStream<Row extends Record<string, unknown>>(
  sql: Sql,
  columns: Column<Row>[],
  query: (connection: Sql) => AsyncIterable<Row[]>,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const line = (cells: string[]) => cells.join(",") + "\r\n";
  async function* chunks(): AsyncGenerator<Uint8Array> {
    yield encoder.encode("\uFEFF" + line(columns.map((column) => csvCell(column.header))));
    const connection = await sql.reserve();
    let open = false;
    try {
      await connection`begin`;
      open = true;
      await connection`select set_config('statement_timeout', ${exportStatementTimeout}, true)`;
      for await (const rows of query(connection)) {
        yield encoder.encode(
          rows.map((row) => line(columns.map((column) => csvCell(column.value(row), column.typed)))).join(""),
        );
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

type StudentRow = {
  user_id: string;
  currency: string;
  full_name: string;
  email: string;
  phone: string | null;
  status: string;
  stage: string;
  manager_id: string;
  manager_name: string;
  payment_amount: string;
  refunded_amount: string;
  created_at: Date;
  last_activity_at: Date | null;
  modules_completed: number;
  total_modules: number;
  certificate_number: string | null;
  order_provider: string | null;
  order_id: string | null;
};

const studentColumns: Column<StudentRow>[] = [
  { header: "id", value: (row) => row.user_id },
  { header: "full_name", value: (row) => row.full_name, typed: true },
  { header: "email", value: (row) => row.email, typed: true },
  { header: "phone", value: (row) => row.phone, typed: true },
  { header: "status", value: (row) => row.status },
  { header: "stage", value: (row) => row.stage },
  { header: "manager_id", value: (row) => row.manager_id },
  { header: "manager_name", value: (row) => row.manager_name, typed: true },
  { header: "payment_amount", value: (row) => row.payment_amount },
  { header: "refunded_amount", value: (row) => row.refunded_amount },
  { header: "currency", value: (row) => row.currency },
  { header: "created_at", value: (row) => row.created_at },
  { header: "last_activity_at", value: (row) => row.last_activity_at },
  { header: "modules_completed", value: (row) => row.modules_completed },
  { header: "total_modules", value: (row) => row.total_modules },
  { header: "certificate_number", value: (row) => row.certificate_number },
  { header: "order_provider", value: (row) => row.order_provider },
  { header: "order_id", value: (row) => row.order_id, typed: true },
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
  const [{ time_zone }] = await sql<{ time_zone: string }[]>`select time_zone from analytics.settings`;
  return academyDay(time_zone);
}

export function exportStudents(caller: AuthUser, query: StudentsExportQuery, sql: Sql = db()) {
  const scope = scopeOf(caller, query.manager_id);
  const sort = sortOf(sql, query.sort);
  return csvStream<StudentRow>(sql, studentColumns, (tx) =>
    tx<StudentRow[]>`
      select t.user_id, t.full_name, t.email, t.phone, t.status, f.stage, t.granted_by as manager_id,
             m.full_name as manager_name, t.payment_amount, t.refunded_amount,
             (select x.currency from analytics.settings x) as currency, t.created_at, a.last_activity_at,
             p.modules_completed, p.total_modules, f.certificate_number,
             o.provider as order_provider, o.order_id
      from public.tripwire_users t
      ${summaryFacts(tx)}
      join public.users m on m.id = t.granted_by
      left join private.payment_orders o on o.student_id = t.user_id and not o.attached
      where true ${studentFilters(tx, scope, query)}
      order by ${sort.by}`.cursor(batchRows));
}

type SaleRow = {
  occurred_at: Date;
  currency: string;
  day: string;
  kind: "sale" | "refund";
  amount: string;
  student_id: string;
  student_name: string;
  student_email: string;
  manager_id: string;
  manager_name: string;
  reason: string | null;
  order_provider: string | null;
  order_id: string | null;
};

const saleColumns: Column<SaleRow>[] = [
  { header: "occurred_at", value: (row) => row.occurred_at },
  { header: "day", value: (row) => row.day },
  { header: "kind", value: (row) => row.kind },
  { header: "amount", value: (row) => row.amount },
  { header: "currency", value: (row) => row.currency },
  { header: "student_id", value: (row) => row.student_id },
  { header: "student_name", value: (row) => row.student_name, typed: true },
  { header: "student_email", value: (row) => row.student_email, typed: true },
  { header: "manager_id", value: (row) => row.manager_id },
  { header: "manager_name", value: (row) => row.manager_name, typed: true },
  { header: "reason", value: (row) => row.reason, typed: true },
  { header: "order_provider", value: (row) => row.order_provider },
  { header: "order_id", value: (row) => row.order_id, typed: true },
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
  return csvStream<SaleRow>(sql, saleColumns, (tx) =>
    tx<SaleRow[]>`
      with z as (select time_zone as tz, currency from analytics.settings),
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
      select l.occurred_at, to_char(l.occurred_at at time zone z.tz, 'YYYY-MM-DD') as day, l.kind, l.amount,
             z.currency,
             t.user_id as student_id, t.full_name as student_name, t.email as student_email,
             t.granted_by as manager_id, m.full_name as manager_name, l.reason,
             o.provider as order_provider, o.order_id
      from ledger l
      cross join z
      join public.tripwire_users t on t.user_id = l.user_id
      join public.users m on m.id = t.granted_by
      left join private.payment_orders o on o.student_id = t.user_id and not o.attached
      order by l.occurred_at, l.kind desc, t.user_id`.cursor(batchRows));
}
