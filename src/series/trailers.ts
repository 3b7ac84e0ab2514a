import type { Person } from '../mail/message.js';
import type { Trailer, TrailerSource } from './types.js';

const KNOWN: Record<string, string> = {
  fixes: 'Fixes',
  link: 'Link',
  buglink: 'BugLink',
  closes: 'Closes',
  cc: 'Cc',
};
/** Trailers that name a thing, not a person: never checked against a reply's sender. */
const UTILITY = new Set(['Fixes', 'Link', 'BugLink', 'Closes']);
const TRAILER = /^([A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*):\s+(\S.*)$/;
const HAS_ADDRESS = /<[^<>\s@]+@[^<>\s@]+>|[^\s<>@]+@[^\s<>@]+\.[^\s<>@]+/;

function canonicalKey(key: string): string | null {
  const k = key.toLowerCase();
  if (KNOWN[k]) return KNOWN[k];
  if (!k.endsWith('-by')) return null;
  return k.charAt(0).toUpperCase() + k.slice(1);
}

/**
 * A person trailer's value split into name and address. HTML mail turns
 * `<a@b>` into `<a@b<mailto:a@b>>`; that is cleaned first. The address is
 * the last `<...>`, split by hand rather than as an RFC 5322 address, so
 * names such as "Reviewer (corp)", "Tester [corp]" and "Last, First"
 * survive as written.
 */
export function parsePerson(value: string): Person | null {
  const clean = value
    .replace(/<mailto:[^<>]*>/gi, '')
    .replace(/\s+/g, ' ')
    .trim();
  const bracket = /^(.*)<([^<>\s]+@[^<>\s]+)>\s*(?:#.*)?$/.exec(clean);
  if (bracket) return { name: bracket[1]!.trim().replace(/^"(.*)"$/, '$1'), address: bracket[2]! };
  const bare = /^([^\s<>@]+@[^\s<>@]+)\s*(?:#.*)?$/.exec(clean);
  return bare ? { name: '', address: bare[1]! } : null;
}

function formatPerson(p: Person): string {
  return p.name ? `${p.name} <${p.address}>` : p.address;
}

/** A person's value as "Name <address>"; anything else as written. */
function normaliseValue(key: string, value: string): string {
  if (UTILITY.has(key)) return value.trim();
  const p = parsePerson(value);
  return p ? formatPerson(p) : value.trim();
}

/**
 * Trailers in a patch's own message: `Acked-by:` and friends, above the
 * `---` that starts the diffstat, never in quoted (`>`) text.
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
    if (key) out.push({ key, value: normaliseValue(key, m[2]!), fromMessageId, via: 'patch' });
  }
  return out;
}

/**
 * Trailers a reviewer gives in a reply, by b4's follow-up rules: above the
 * signature (`-- `), not quoted, a person trailer must carry an address,
 * `Fixes:` must start with a commit id, and `Cc:` is the mail's business,
 * not a trailer to add.
 */
export function extractReplyTrailers(body: string, fromMessageId: string, via: TrailerSource): Trailer[] {
  const out: Trailer[] = [];
  for (const rawLine of body.split('\n')) {
    const line = rawLine.replace(/\r$/, '');
    if (line === '-- ' || line === '---' || line.startsWith('diff --git ')) break;
    if (line.startsWith('>')) continue;
    const m = TRAILER.exec(line.trim());
    if (!m) continue;
    const key = canonicalKey(m[1]!);
    if (!key || key === 'Cc') continue;
    const value = m[2]!.trim();
    if (key === 'Fixes' ? !/^[0-9a-f]{6,}\b/i.test(value) : !UTILITY.has(key) && !HAS_ADDRESS.test(value)) continue;
    out.push({ key, value: normaliseValue(key, value), fromMessageId, via });
  }
  return out;
}

/** Whether a trailer names a person, and so must be given by that person. */
export function namesPerson(t: Pick<Trailer, 'key' | 'value'>): boolean {
  return !UTILITY.has(t.key) && !t.value.includes('://') && parsePerson(t.value) !== null;
}

function stripTag(address: string): string {
  return address.toLowerCase().replace(/\+[^@]*@/, '@');
}

/**
 * Whether a reply's sender is the person a trailer names, as b4 decides:
 * the same address (without case, without a +tag), the same local part at
 * a domain one label deeper (foo@linux.intel.com for foo@intel.com), or
 * the same display name. A comma in the sender's name ("Last, First") is
 * matched when every part of it is in the trailer's name.
 */
export function sentByNamed(sender: Person, named: Person): boolean {
  const a = stripTag(sender.address);
  const b = stripTag(named.address);
  if (a && a === b) return true;
  const [al, ad] = a.split('@');
  const [bl, bd] = b.split('@');
  if (al && al === bl && ad && bd && (ad.endsWith(`.${bd}`) || bd.endsWith(`.${ad}`))) {
    const longer = ad.length > bd.length ? ad : bd;
    const shorter = ad.length > bd.length ? bd : ad;
    if (longer.slice(0, -shorter.length - 1).split('.').length === 1) return true;
  }
  const sn = (sender.name || sender.address).trim().toLowerCase();
  const nn = (named.name || named.address).trim().toLowerCase();
  if (sn && sn === nn) return true;
  if (sn.includes(',')) {
    const parts = sn
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    return parts.length > 0 && parts.every((p) => nn.includes(p));
  }
  return false;
}

/** The Message-ID a Link: names (lore.kernel.org/r/<id>, patch.msgid.link/<id>, .../<list>/<id>/). */
function linkMessageId(value: string): string | null {
  const m = /^https?:\/\/[^/]+\/(?:[^/]+\/)*?([^/\s]+@[^/\s]+?)\/?(?:\s|$)/.exec(value.trim());
  return m ? decodeURIComponent(m[1]!) : null;
}

/** The same trailer: the same key and value after normalisation; two links to one message are one. */
export function sameTrailer(a: Pick<Trailer, 'key' | 'value'>, b: Pick<Trailer, 'key' | 'value'>): boolean {
  if (a.key.toLowerCase() !== b.key.toLowerCase()) return false;
  if (a.value.toLowerCase() === b.value.toLowerCase()) return true;
  if (a.key === 'Link') {
    const x = linkMessageId(a.value);
    return x !== null && x === linkMessageId(b.value);
  }
  return false;
}

export function extractBaseCommit(body: string): string | null {
  return /^base-commit:\s*([0-9a-f]{7,64})\s*$/im.exec(body)?.[1] ?? null;
}

export function extractChangeId(body: string): string | null {
  return /^change-id:\s*(\S+)\s*$/im.exec(body)?.[1] ?? null;
}
