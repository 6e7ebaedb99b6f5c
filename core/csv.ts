/**
 * CSV output shared by every export (the console's download, `otel-audit export --format csv`), so
 * one rule protects them all.
 */

/**
 * One CSV field: quoted when it holds a quote, comma or line break, quotes doubled (RFC 4180 §2).
 * A value starting with `=`, `+`, `-`, `@`, tab or CR is prefixed with `'` so that spreadsheet
 * programs do not run it as a formula (OWASP "CSV Injection"): audit data holds producer- and
 * user-controlled text, and auditors open exports in spreadsheets. `undefined` is the empty field.
 */
export function csvField(value: string | number | undefined): string {
  if (value === undefined) return '';
  let s = String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
