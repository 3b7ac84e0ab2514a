import type { Trailer } from './types.js';

const KNOWN: Record<string, string> = {
  fixes: 'Fixes',
  link: 'Link',
  closes: 'Closes',
  cc: 'Cc',
};
const TRAILER = /^([A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*):\s+(\S.*)$/;

function canonicalKey(key: string): string | null {
  const k = key.toLowerCase();
  if (KNOWN[k]) return KNOWN[k];
  if (!k.endsWith('-by')) return null;
  return k.charAt(0).toUpperCase() + k.slice(1);
}

/**
 * Trailers in a mail body: `Acked-by:` and friends, above the `---` that
 * starts the diffstat, never in quoted (`>`) text.
 */
export function extractTrailers(body: string, fromMessageId: string | null): Trailer[] {
  const out: Trailer[] = [];
  for (const rawLine of body.split('\n')) {
    const line = rawLine.replace(/\r$/, '');
    if (line === '---' || line.startsWith('diff --git ')) break;
    if (line.startsWith('>')) continue;
    const m = TRAILER.exec(line.trim());
    if (!m) continue;
    const key = canonicalKey(m[1]!);
    if (key) out.push({ key, value: m[2]!.trim(), fromMessageId });
  }
  return out;
}

export function extractBaseCommit(body: string): string | null {
  return /^base-commit:\s*([0-9a-f]{7,64})\s*$/im.exec(body)?.[1] ?? null;
}

export function extractChangeId(body: string): string | null {
  return /^change-id:\s*(\S+)\s*$/im.exec(body)?.[1] ?? null;
}
