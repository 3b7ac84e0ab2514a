/** Column values as the pages' JSON wants them: PGlite and node-postgres return timestamps and jsonb differently. */

export function iso(v: unknown): string {
  return new Date(v as string | Date).toISOString();
}

export function isoOrNull(v: unknown): string | null {
  if (v === null || v === undefined || v === '') return null;
  const d = new Date(v as string | Date);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** A jsonb column: PGlite may hand back text. */
export function json(v: unknown): unknown {
  return typeof v === 'string' ? (JSON.parse(v) as unknown) : v;
}

export function msBetween(from: string | null, to: string | null): number | null {
  return from && to ? Date.parse(to) - Date.parse(from) : null;
}

/** The p-th percentile (0..1) of numbers, nearest rank; null for none. */
export function percentile(xs: number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}
