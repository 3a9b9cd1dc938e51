/** CSV as spreadsheets read it (RFC 4180), for every export: the students' lists and the reconciliation. */

/** What a spreadsheet would run as a formula when a cell starts with it (OWASP, "CSV Injection"). */
const formulaStart = /^[=+\-@\t\r]/;

/**
 * One CSV cell (RFC 4180): quoted when it holds a comma, a quote or a line break. Text (`typed`) that starts
 * like a formula gets a leading apostrophe, which spreadsheets show as text; numbers and times are ours and
 * left as they are.
 */
export function csvCell(value: unknown, typed = false): string {
  if (value === null || value === undefined) return "";
  let text = value instanceof Date ? value.toISOString() : String(value);
  if (typed && formulaStart.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
