/**
 * HTML building with escaping by default. Everything in the report that came from data (completions,
 * questions, ids, error strings, task names) is teacher- or user-written, so interpolations are escaped
 * unless they are a `SafeHtml` produced by this module; forgetting to escape is then impossible.
 */

/**
 * The method by which a value says how a notebook shows it: MIME type to content, as Jupyter's
 * display_data carries it (notebooks/lib/univg.cjs's `show` reads it).
 */
export const MIME_BUNDLE = Symbol.for('univg.mimeBundle');

/** Markup known to be safe: built by `html`, or by a renderer from escaped parts. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
  [MIME_BUNDLE](): Record<string, string> {
    return { 'text/html': this.value };
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escape text for element content and double- or single-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

function render(v: HtmlValue): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(String(v));
}

/** Tagged template: literal parts are trusted markup, every interpolation is escaped (arrays are joined). */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new SafeHtml(out);
}

/** Trust a string that this module's callers built from constants (CSS, a fixed script, SVG from render.ts). */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

/**
 * JSON for an inline `<script type="application/json">`: `<`, `>`, `&` and the JS line separators are
 * written as \u escapes, so no value can close the script element (`</script>`) or open a comment
 * (`<!--`); `JSON.parse` of the element's text gives the value back unchanged.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Integer with thousands separators, independent of the machine's locale (reports must be byte-stable). */
export function fmtInt(n: number): string {
  const s = Math.round(Math.abs(n)).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return n < 0 ? `-${s}` : s;
}

/** A share as a percentage with one decimal, or an en dash when undefined. */
export function fmtPct(share: number | null): string {
  return share === null || !Number.isFinite(share) ? '–' : `${(share * 100).toFixed(1)}%`;
}

/** A number with `digits` decimals, or an en dash. */
export function fmtNum(n: number | null, digits = 3): string {
  return n === null || !Number.isFinite(n) ? '–' : n.toFixed(digits);
}

/** US dollars: cents for large amounts, more digits for the fractions a small run costs. */
export function fmtUsd(n: number): string {
  if (n === 0) return '$0';
  if (Math.abs(n) >= 100) return `$${fmtInt(n)}`;
  if (Math.abs(n) >= 1) return `$${n.toFixed(2)}`;
  return `$${n.toFixed(4)}`;
}

/** Milliseconds as ms or s. */
export function fmtMs(n: number | null): string {
  if (n === null || !Number.isFinite(n)) return '–';
  return n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${Math.round(n)} ms`;
}

/**
 * Query rows as an HTML table (a notebook's SQL results): one column per key of the first row, integers
 * with separators, other numbers to `digits` decimals, arrays and objects as JSON, every cell escaped.
 */
export function rowsTable(rows: ReadonlyArray<Record<string, unknown>>, opts: { digits?: number; caption?: string } = {}): SafeHtml {
  if (rows.length === 0) return html`<p><em>no rows</em></p>`;
  const cols = Object.keys(rows[0]!);
  const cell = (v: unknown): SafeHtml => {
    if (typeof v === 'number') return html`<td style="text-align:right">${Number.isInteger(v) ? fmtInt(v) : fmtNum(v, opts.digits ?? 3)}</td>`;
    if (v === null || v === undefined) return html`<td>–</td>`;
    if (typeof v === 'object') return html`<td><code>${JSON.stringify(v)}</code></td>`;
    return html`<td>${String(v)}</td>`;
  };
  return html`<table>${opts.caption ? html`<caption>${opts.caption}</caption>` : ''}<thead><tr>${cols.map((c) => html`<th>${c}</th>`)}</tr></thead><tbody>${rows.map(
    (r) => html`<tr>${cols.map((c) => cell(r[c]))}</tr>`,
  )}</tbody></table>`;
}
