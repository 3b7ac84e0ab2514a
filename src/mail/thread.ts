/**
 * Picking one thread out of a large mbox before anything is MIME-parsed:
 * only the threading headers of each message are read (Message-ID,
 * In-Reply-To, References), which is a scan of its header block, so an
 * archive of 20,000 messages costs a fraction of parsing them all. Pure.
 */

export interface ThreadIds {
  messageId: string | null;
  /** In-Reply-To and References together: every message this one names as above it. */
  parents: string[];
}

const ID = /<([^<>\s]+)>/g;

/** The threading headers of a raw message, read from its (unfolded) header block. */
export function threadIds(raw: Buffer): ThreadIds {
  let end = raw.indexOf('\n\n');
  const crlf = raw.indexOf('\r\n\r\n');
  if (crlf >= 0 && (end < 0 || crlf < end)) end = crlf;
  const head = raw
    .subarray(0, end < 0 ? raw.length : end)
    .toString('latin1')
    .replace(/\r?\n[ \t]+/g, ' ');
  let messageId: string | null = null;
  const parents: string[] = [];
  for (const line of head.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).toLowerCase();
    if (name === 'message-id') messageId ??= [...line.slice(colon + 1).matchAll(ID)][0]?.[1] ?? null;
    else if (name === 'in-reply-to' || name === 'references')
      for (const m of line.slice(colon + 1).matchAll(ID)) parents.push(m[1]!);
  }
  return { messageId, parents };
}

/**
 * The thread a Message-ID is in, as indices into `ids`: the root it names
 * above it, and everything that answers the root, at any depth (b4's
 * thread of a message). Null when no message has that Message-ID.
 */
export function threadMembers(ids: ThreadIds[], messageId: string): number[] | null {
  const byId = new Map(ids.flatMap((t) => (t.messageId ? [[t.messageId, t] as const] : [])));
  if (!byId.has(messageId)) return null;
  // The thread's root: climb to the top of what is in the input.
  let root = messageId;
  for (const seen = new Set([root]); ; ) {
    const up = byId.get(root)!.parents.find((p) => byId.has(p) && !seen.has(p));
    if (!up) break;
    seen.add(up);
    root = up;
  }
  const inThread = new Set([root]);
  const children = new Map<string, number[]>();
  ids.forEach((t, i) => {
    for (const p of new Set(t.parents)) {
      const list = children.get(p);
      if (list) list.push(i);
      else children.set(p, [i]);
    }
  });
  const picked = new Set<number>();
  const queue = [root];
  for (let id = queue.pop(); id !== undefined; id = queue.pop()) {
    for (const i of children.get(id) ?? []) {
      if (picked.has(i)) continue;
      picked.add(i);
      const child = ids[i]!.messageId;
      if (child && !inThread.has(child)) {
        inThread.add(child);
        queue.push(child);
      }
    }
  }
  return ids.flatMap((t, i) => (picked.has(i) || (t.messageId !== null && inThread.has(t.messageId)) ? [i] : []));
}

/** The messages of the thread a Message-ID is in (see threadMembers), in input order; null when it is not there. */
export function selectThread(raws: Buffer[], messageId: string): Buffer[] | null {
  return threadMembers(raws.map(threadIds), messageId)?.map((i) => raws[i]!) ?? null;
}
