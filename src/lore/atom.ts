import { XMLParser } from 'fast-xml-parser';
import { z } from 'zod';
import { BadInputError } from '../errors.js';
import type { Person } from '../series/types.js';
import { decodePathSegment } from './ref.js';

/** One message as a public-inbox Atom feed (new.atom, or a search with x=A) lists it. */
export interface FeedEntry {
  messageId: string;
  title: string;
  /** ISO 8601, as the feed gives it (public-inbox: the message's Date, or when it was received). */
  updated: string | null;
  author: Person;
  /** The message it answers, from thr:in-reply-to; null for a thread's first message. */
  inReplyTo: string | null;
}

const Text = z.union([
  z.string(),
  z.number().transform(String),
  z.object({ '#text': z.union([z.string(), z.number().transform(String)]) }).transform((o) => o['#text']),
]);
const Link = z.object({ '@_href': z.string().min(1), '@_rel': z.string().optional() });
const Entry = z.object({
  title: Text.optional(),
  updated: Text.optional(),
  author: z.object({ name: Text.optional(), email: Text.optional() }).optional(),
  link: z.array(Link).min(1),
  'thr:in-reply-to': z.array(z.object({ '@_href': z.string().optional(), '@_ref': z.string().optional() })).optional(),
});
const Feed = z.object({ feed: z.object({ entry: z.array(z.unknown()).default([]) }) });

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  // Subjects such as "1234" must stay strings.
  parseTagValue: false,
  processEntities: true,
  // public-inbox writes non-ASCII as numeric character references (the feed is us-ascii).
  htmlEntities: true,
  isArray: (name) => name === 'entry' || name === 'link' || name === 'thr:in-reply-to',
});

/**
 * The Message-ID in a public-inbox message URL: the path segment after the
 * inbox, percent-escaped by public-inbox (`/` and `%` in ids are legal).
 * Taken from the URL's shape, not its host, so a mirror or a local server
 * reads the same as lore.
 */
export function messageIdFromUrl(href: string): string | null {
  let path: string;
  try {
    path = new URL(href).pathname;
  } catch {
    return null;
  }
  const segments = path.split('/').filter(Boolean);
  // .../<inbox>/<mid>/ or .../<inbox>/<mid>/T/ and friends: the mid is the one with an "@".
  const mid = segments.reverse().find((s) => decodePathSegment(s).includes('@'));
  return mid ? decodePathSegment(mid) : null;
}

/** Parse an Atom feed from public-inbox; entries whose message cannot be named are dropped, not guessed. */
export function parseAtomFeed(xml: string): FeedEntry[] {
  let doc: unknown;
  try {
    doc = parser.parse(xml, true);
  } catch (err) {
    throw new BadInputError(
      `the Atom feed is not well-formed XML: ${(err as Error).message}`,
      'is the list URL right? it should end in the inbox name, e.g. https://lore.kernel.org/bpf/',
    );
  }
  const feed = Feed.safeParse(doc);
  if (!feed.success)
    throw new BadInputError(
      'the document is not an Atom feed (no <feed>)',
      'is the list URL right? it should end in the inbox name, e.g. https://lore.kernel.org/bpf/',
    );
  const out: FeedEntry[] = [];
  for (const raw of feed.data.feed.entry) {
    const e = Entry.safeParse(raw);
    if (!e.success) continue;
    const link = e.data.link.find((l) => !l['@_rel'] || l['@_rel'] === 'alternate') ?? e.data.link[0]!;
    const messageId = messageIdFromUrl(link['@_href']);
    if (!messageId) continue;
    const parent = e.data['thr:in-reply-to']?.[0];
    out.push({
      messageId,
      title: (e.data.title ?? '').replace(/\s+/g, ' ').trim(),
      updated: e.data.updated ?? null,
      author: { name: e.data.author?.name ?? '', address: e.data.author?.email ?? '' },
      inReplyTo: parent?.['@_href'] ? messageIdFromUrl(parent['@_href']) : null,
    });
  }
  return out;
}
