/**
 * HTML built by one tagged template that escapes every interpolated value.
 * Series titles, log lines and splat excerpts are written by whoever posts a
 * patch: nothing reaches a page unescaped unless it is already Html (built
 * by this template), so forgetting to escape is not possible.
 */

const SAFE = Symbol('html');

export interface Html {
  readonly [SAFE]: true;
  readonly value: string;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function isHtml(v: unknown): v is Html {
  return typeof v === 'object' && v !== null && SAFE in v;
}

/** Interpolation: Html as is, arrays joined, null/undefined/false as nothing, anything else escaped text. */
type Part = Html | string | number | boolean | null | undefined | readonly Part[];

function render(v: Part): string {
  if (v === null || v === undefined || v === false) return '';
  if (Array.isArray(v)) return v.map(render).join('');
  if (isHtml(v)) return v.value;
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return { [SAFE]: true, value: out };
}

/**
 * Data for a page's script, in a `<script type="application/json">` block:
 * JSON escaped so that no `</script>` or `<!--` inside a string can end the
 * block (the parser only looks for `<`).
 */
export function jsonScript(id: string, data: unknown): Html {
  const json = JSON.stringify(data)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
  return { [SAFE]: true, value: `<script type="application/json" id="${escapeHtml(id)}">${json}</script>` };
}

/** A URL with query parameters, dropping empty ones. */
export function href(path: string, query: Record<string, string | number | null | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}
