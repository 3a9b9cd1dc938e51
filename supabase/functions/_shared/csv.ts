/** CSV as spreadsheets read it (RFC 4180), for every export: the students' lists and the reconciliation. */
import type { Sql } from "./db.ts";

/** What a spreadsheet would run as a formula when a cell starts with it (OWASP, "CSV Injection"). */
const formulaStart = /^[=+\-@\t\r]/;
/** What starts like a formula but a spreadsheet reads as a value: a plain number, a phone in strict E.164. */
const plainValue = /^(-?\d+(\.\d+)?|\+[1-9]\d{6,14})$/;

/**
 * One CSV cell (RFC 4180), quoted when it holds a comma, a semicolon, a quote, a tab or a line break. Text a
 * person typed (`typed`: a name, an e-mail, a reason, a provider's order id) that starts like a formula gets a
 * leading apostrophe, which spreadsheets show as text — unless it is a plain number or a strict E.164 phone,
 * which stay as they are so CRM imports read them — and so does a formula right after a `,` or `;` inside it:
 * Excel in the ru and kk locales splits on `;` and honours quotes only at a cell's start.
 */
export function csvCell(value: unknown, typed = false): string {
  if (value === null || value === undefined) return "";
  let text = value instanceof Date ? value.toISOString() : String(value);
  if (typed) {
    if (formulaStart.test(text) && !plainValue.test(text)) text = `'${text}`;
    // A reader that splits on another separator (Excel with ';', which the file's quotes do not bind) starts a
    // cell after it: a formula there is neutralised too.
    text = text.replace(/([,;])(?=[=+\-@\t\r])/g, "$1'");
  }
  return /[",;\t\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * A column of a file Postgres writes (`csvLine`): its header, its SQL (an expression of the export's query),
 * whether a person typed it (neutralised as `csvCell` does) and whether it is a time (ISO 8601 in UTC with
 * milliseconds, as `Date.toISOString`). A column neither typed nor a time holds a value of the system (an id,
 * an enum, an amount, a count), none of which has a character that needs quotes: it is written as it is.
 */
export interface CsvColumn {
  header: string;
  sql: string;
  typed?: boolean;
  time?: boolean;
}

/** `csvCell`'s neutralising, in SQL, of the text expression `value` (null: ''). */
function neutralisedSql(value: string): string {
  const formula = `left(${value}, 1) in ('=', '+', '-', '@', E'\\t', E'\\r')`;
  return `case when ${value} is null then ''
    when strpos(${value}, ',') = 0 and strpos(${value}, ';') = 0 and not ${formula} then ${value}
    else regexp_replace(
      case when ${formula} and ${value} !~ '^(-?[0-9]+([.][0-9]+)?|[+][1-9][0-9]{6,14})$' then '''' || ${value}
           else ${value} end,
      '([,;])(?=[-=+@\\t\\r])', '\\1''', 'g') end`;
}

/** `csvCell`'s quoting, in SQL, of a neutralised column reference. */
function quotedSql(value: string): string {
  return `case when ${value} ~ '[",;\\t\\r\\n]' then '"' || replace(${value}, '"', '""') || '"' else ${value} end`;
}

/**
 * One CSV line of `columns`, CRLF included, written by Postgres by `csvCell`'s rules: `sql`, the line (select it
 * as `line`); `typedValues`, a lateral join (after the query's other joins) that neutralises each typed column
 * once per row. The function then only passes the lines on: no row is parsed into values in JavaScript.
 */
export function csvLine(sql: Sql, columns: CsvColumn[]) {
  const typed = columns.filter((column) => column.typed);
  const cells = columns.map((column) => {
    if (column.typed) return quotedSql(`x.c${typed.indexOf(column)}`);
    if (column.time) {
      return `coalesce(to_char(${column.sql} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), '')`;
    }
    return `coalesce((${column.sql})::text, '')`;
  });
  return {
    sql: sql.unsafe(`concat(${cells.join(", ',', ")}) || E'\\r\\n'`),
    typedValues: sql.unsafe(
      `cross join lateral (select ${
        typed.map((column, index) => `${neutralisedSql(`(${column.sql})::text`)} as c${index}`).join(", ")
      } offset 0) x`,
    ),
  };
}
