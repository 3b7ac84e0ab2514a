import { createHash } from 'node:crypto';
import { BadInputError } from '../errors.js';
import type { MailMessage } from '../mail/message.js';
import { checkPatchSafety, parseDiffFiles } from './diff.js';
import { parseSubject } from './subject.js';
import { extractBaseCommit, extractChangeId, extractTrailers } from './trailers.js';
import type { CoverLetter, IncompleteSeries, Patch, Series, SubjectInfo, Trailer } from './types.js';

export class IncompleteSeriesError extends BadInputError {
  constructor(readonly detail: IncompleteSeries) {
    super(
      `series v${detail.version} is incomplete: have ${detail.present.join(',') || 'none'} of ${detail.total}, missing ${detail.missing.join(',')}`,
      'wait for the missing parts, or give an mbox with the whole series',
    );
    this.name = 'IncompleteSeriesError';
  }
}

const HAS_DIFF = /^(diff --git |--- \S.*\n\+\+\+ \S)/m;

interface Classified {
  msg: MailMessage;
  subject: SubjectInfo;
  kind: 'patch' | 'cover' | 'reply';
}

/** The diff part of a patch body, normalised like `git patch-id --stable`. */
function normalisedDiff(body: string): string {
  const start = body.search(/^diff --git |^--- \S/m);
  if (start < 0) return '';
  return body
    .slice(start)
    .split('\n')
    .filter((l) => !l.startsWith('index ') && !/^-- ?$/.test(l))
    .map((l) => l.replace(/^@@ [^@]* @@.*/, '@@').replace(/\s+/g, ''))
    .join('\n');
}

function dedupTrailers(ts: Trailer[]): Trailer[] {
  const seen = new Set<string>();
  return ts.filter((t) => {
    const k = `${t.key}\0${t.value.toLowerCase()}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function newer(a: MailMessage, b: MailMessage): boolean {
  return (a.date ?? '') > (b.date ?? '');
}

/**
 * Assemble a series from a thread or mbox the way b4 does: newest version
 * (or the one asked for), patches ordered by counter, the cover letter,
 * trailers from replies (a reply to the cover applies to every patch).
 */
export function assembleSeries(messages: MailMessage[], opts: { version?: number; maxPatches?: number } = {}): Series {
  const byId = new Map<string, Classified>();
  for (const msg of messages) {
    if (byId.has(msg.messageId)) continue;
    const subject = parseSubject(msg.subject);
    const hasDiff = HAS_DIFF.test(msg.body);
    const kind =
      !subject.isReply && hasDiff
        ? 'patch'
        : !subject.isReply && subject.isPatch && subject.counter === 0
          ? 'cover'
          : 'reply';
    byId.set(msg.messageId, { msg, subject, kind });
  }
  const patchesAll = [...byId.values()].filter((c) => c.kind === 'patch');
  if (patchesAll.length === 0)
    throw new BadInputError(
      'no patches in the input: no mail carries a diff',
      'give the series itself (git format-patch output or the thread mbox)',
    );

  const versions = [...new Set(patchesAll.map((c) => c.subject.version))].sort((a, b) => a - b);
  const version = opts.version ?? versions[versions.length - 1]!;
  if (!versions.includes(version))
    throw new BadInputError(`no patches of version ${version}; the input has v${versions.join(', v')}`);

  const chosen = new Map<number, Classified>();
  let total = 1;
  const ofVersion = patchesAll.filter((p) => p.subject.version === version);
  // A bare "[PATCH] fix the build" sent into a numbered series' thread is a patch of its own, not part 1.
  const numbered = ofVersion.some((p) => p.subject.counter !== null);
  for (const c of ofVersion.filter((p) => !numbered || p.subject.counter !== null)) {
    const counter = c.subject.counter ?? 1;
    total = Math.max(total, c.subject.total ?? 1);
    const prev = chosen.get(counter);
    if (!prev || newer(c.msg, prev.msg)) chosen.set(counter, c);
  }
  let cover: Classified | undefined;
  for (const c of byId.values()) {
    if (c.kind === 'cover' && c.subject.version === version && (!cover || newer(c.msg, cover.msg))) cover = c;
  }
  if (cover) total = Math.max(total, cover.subject.total ?? 1);
  const max = opts.maxPatches ?? 500;
  if (total > max) throw new BadInputError(`series has ${total} patches, more than the limit of ${max}`);

  // An archive can hold several series of the same version and size; their
  // patches must not be mixed. Threaded mail names the series' lead (the
  // cover, else patch 1) among its References, even when the whole series
  // answers an older version (v3 sent In-Reply-To v2's cover); unthreaded
  // format-patch output names none and is taken as one series.
  const leadId = cover?.msg.messageId ?? chosen.get(1)?.msg.messageId ?? null;
  const roots = new Set<string>();
  for (const c of chosen.values()) {
    if (c.msg.messageId === leadId) continue;
    const refs = [...c.msg.references, ...(c.msg.inReplyTo ? [c.msg.inReplyTo] : [])];
    if (refs.length === 0 || (leadId !== null && refs.includes(leadId))) continue;
    roots.add(refs[0]!);
  }
  if (roots.size > 0) {
    throw new BadInputError(
      `the input mixes patches of ${roots.size + 1} different v${version} series (threads ${[...roots]
        .slice(0, 3)
        .map((r) => `<${r}>`)
        .join(', ')}${roots.size > 3 ? ', ...' : ''} besides the chosen one)`,
      "give the mbox of one thread (lore's t.mbox.gz), not a whole archive",
    );
  }

  const present = [...chosen.keys()].filter((k) => k >= 1 && k <= total).sort((a, b) => a - b);
  const missing = Array.from({ length: total }, (_, i) => i + 1).filter((k) => !chosen.has(k));
  if (missing.length > 0) throw new IncompleteSeriesError({ version, total, present, missing });

  // Replies: walk up In-Reply-To to the patch or cover they answer.
  const target = new Map<string, number | 'cover'>();
  for (const [counter, c] of chosen) target.set(c.msg.messageId, counter);
  if (cover) target.set(cover.msg.messageId, 'cover');
  const fromReplies = new Map<number | 'cover', Trailer[]>();
  for (const c of byId.values()) {
    if (c.kind !== 'reply') continue;
    let parent = c.msg.inReplyTo ?? c.msg.references[c.msg.references.length - 1] ?? null;
    for (let depth = 0; parent && depth < 20; depth++) {
      const t = target.get(parent);
      if (t !== undefined) {
        const list = fromReplies.get(t) ?? [];
        list.push(...extractTrailers(c.msg.body, c.msg.messageId));
        fromReplies.set(t, list);
        break;
      }
      parent = byId.get(parent)?.msg.inReplyTo ?? null;
    }
  }

  const coverTrailers = fromReplies.get('cover') ?? [];
  const patches: Patch[] = [];
  for (const counter of present) {
    const c = chosen.get(counter)!;
    const files = parseDiffFiles(c.msg.body);
    checkPatchSafety(files, `patch ${counter}/${total} "${c.subject.title}"`);
    patches.push({
      counter,
      messageId: c.msg.messageId,
      subject: c.subject,
      author: c.msg.from,
      date: c.msg.date,
      trailers: dedupTrailers([
        ...extractTrailers(c.msg.body, null),
        ...(fromReplies.get(counter) ?? []),
        ...coverTrailers,
      ]),
      files,
      rawBase64: c.msg.raw.toString('base64'),
    });
  }

  const first = patches[0]!;
  const coverLetter: CoverLetter | null = cover
    ? {
        messageId: cover.msg.messageId,
        subject: cover.subject,
        author: cover.msg.from,
        date: cover.msg.date,
        body: cover.msg.body,
        trailers: dedupTrailers(coverTrailers),
      }
    : null;
  const lead = cover?.subject ?? first.subject;
  const bodies = [cover?.msg.body, ...present.map((k) => chosen.get(k)!.msg.body)].filter(
    (b): b is string => b !== undefined,
  );
  const fingerprint = createHash('sha256');
  for (const k of present) fingerprint.update(normalisedDiff(chosen.get(k)!.msg.body)).update('\0');

  return {
    title: lead.title,
    version,
    total,
    isRfc: lead.isRfc,
    isResend: lead.isResend,
    treeTags: lead.treeTags,
    author: cover?.msg.from ?? first.author,
    messageId: cover?.msg.messageId ?? first.messageId,
    leadReferences: (cover ?? chosen.get(present[0]!)!).msg.references,
    cover: coverLetter,
    patches,
    baseCommit: bodies.map(extractBaseCommit).find((b) => b !== null) ?? null,
    changeId: bodies.map(extractChangeId).find((b) => b !== null) ?? null,
    fingerprint: fingerprint.digest('hex'),
  };
}
