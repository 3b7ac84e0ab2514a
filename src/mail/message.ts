import { createHash } from 'node:crypto';
import { simpleParser, type AddressObject } from 'mailparser';
import { BadInputError, errorMessage } from '../errors.js';

export interface Person {
  name: string;
  address: string;
}

export interface MailMessage {
  messageId: string;
  inReplyTo: string | null;
  references: string[];
  from: Person;
  date: string | null;
  /** Decoded (encoded-words, folding). */
  subject: string;
  /** Decoded text, including patches sent as text attachments. */
  body: string;
  raw: Buffer;
}

const PATCH_TYPES = new Set(['text/x-patch', 'text/x-diff', 'text/plain', 'text/x-csrc']);

function stripAngles(id: string): string {
  return id.trim().replace(/^<|>$/g, '');
}

function ids(v: string | string[] | undefined): string[] {
  if (!v) return [];
  const all = (Array.isArray(v) ? v : [v]).flatMap((s) => s.match(/<[^<>\s]+>/g) ?? [s]);
  return all.map(stripAngles).filter((s) => s.length > 0);
}

/** Parse one raw message: MIME, quoted-printable, base64, encoded words. */
export async function parseMessage(raw: Buffer): Promise<MailMessage> {
  let parsed: Awaited<ReturnType<typeof simpleParser>>;
  try {
    parsed = await simpleParser(raw, {
      skipHtmlToText: true,
      skipTextToHtml: true,
      skipImageLinks: true,
      skipTextLinks: true,
    });
  } catch (err) {
    throw new BadInputError(`malformed mail: ${errorMessage(err)}`);
  }
  // `git format-patch` without --thread writes no Message-ID; a stable one
  // from the content keeps dedup and threading working for such input.
  const messageId = parsed.messageId
    ? stripAngles(parsed.messageId)
    : `${createHash('sha256').update(raw).digest('hex').slice(0, 32)}@ksci.local`;
  const fromObj = (Array.isArray(parsed.from) ? parsed.from[0] : parsed.from) as AddressObject | undefined;
  const sender = fromObj?.value[0];
  const parts = [parsed.text ?? ''];
  for (const a of parsed.attachments) {
    if (PATCH_TYPES.has(a.contentType)) parts.push(a.content.toString('utf8'));
  }
  const inReplyTo = ids(parsed.inReplyTo)[0] ?? null;
  return {
    messageId,
    inReplyTo,
    references: ids(parsed.references),
    from: { name: sender?.name ?? '', address: sender?.address ?? '' },
    date: parsed.date && !Number.isNaN(parsed.date.getTime()) ? parsed.date.toISOString() : null,
    subject: (parsed.subject ?? '').replace(/\s+/g, ' ').trim(),
    body: parts.join('\n'),
    raw,
  };
}
