/** CSV as spreadsheets read it (RFC 4180), for every export: the students' lists and the reconciliation. */

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
