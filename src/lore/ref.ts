import { UsageError } from '../errors.js';

/** What `ksci run` was given when it is not a file: a message somewhere on lore. */
export interface LoreRef {
  messageId: string;
  /** The inbox URL (ending in "/") when the reference names one. */
  listUrl: string | null;
}

const MID = /^<?([^<>\s]+@[^<>\s]+?)>?$/;

/**
 * `https://lore.kernel.org/bpf/<mid>/` (and its /T/, /t.mbox.gz, /raw, #anchor
 * forms), `https://lore.kernel.org/r/<mid>`, `<mid>`, `mid`, `id:mid`
 * (notmuch) or `mid:mid`. Null when the argument looks like none of them.
 */
export function parseLoreRef(arg: string): LoreRef | null {
  const s = arg.trim();
  if (/^https?:\/\//i.test(s)) {
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      throw new UsageError(`"${s}" is not a valid URL`);
    }
    const segments = url.pathname.split('/').filter(Boolean).map(decodePathSegment);
    const at = segments.findIndex((p) => p.includes('@'));
    if (at < 0)
      throw new UsageError(
        `${s} names no message (no Message-ID in the path)`,
        'give the URL of a message, e.g. https://lore.kernel.org/bpf/<message-id>/',
      );
    const inbox = segments.slice(0, at);
    // /r/ and /all/ are lore's redirect and all-lists endpoints: both serve t.mbox.gz like an inbox.
    const listUrl = `${url.origin}/${inbox.map((p) => encodeURIComponent(p)).join('/')}${inbox.length ? '/' : ''}`;
    return { messageId: segments[at]!, listUrl: inbox.length ? listUrl : null };
  }
  const m = MID.exec(s.replace(/^(id|mid):/i, ''));
  return m ? { messageId: m[1]!, listUrl: null } : null;
}

/** A percent-escaped URL path segment; a malformed escape is left as it is. */
export function decodePathSegment(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}

/** The path segment public-inbox expects for a Message-ID ("@" kept readable, as b4 does). */
export function escapeMessageId(messageId: string): string {
  return encodeURIComponent(messageId).replace(/%40/g, '@');
}
