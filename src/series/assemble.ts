import { createHash } from 'node:crypto';
import { BadInputError } from '../errors.js';
import type { MailMessage } from '../mail/message.js';
import { checkPatchSafety, parseDiffFiles } from './diff.js';
import { parseSubject } from './subject.js';
import {
  extractBaseCommit,
  extractChangeId,
  extractReplyTrailers,
  extractTrailers,
  namesPerson,
  parsePerson,
  sameTrailer,
  sentByNamed,
} from './trailers.js';
import type { CoverLetter, IncompleteSeries, MismatchedTrailer, Patch, Series, SubjectInfo, Trailer } from './types.js';

export class IncompleteSeriesError extends BadInputError {
  constructor(readonly detail: IncompleteSeries) {
    super(
      `series v${detail.version} is incomplete: have ${detail.present.join(',') || 'none'} of ${detail.total}, missing ${detail.missing.join(',')}`,
      'wait for the missing parts, or give an mbox with the whole series',
    );
    this.name = 'IncompleteSeriesError';
  }
}

export interface AssembleOptions {
  version?: number;
  maxPatches?: number;
  /** Assemble the series this message belongs to (a patch, its cover, or a reply to one), as `b4 am <msgid>` does. */
  messageId?: string;
}

const HAS_DIFF = /^(diff --git |--- \S.*\n\+\+\+ \S)/m;
const HAS_DIFFSTAT = /^ \d+ files? changed\b/m;

interface Classified {
  msg: MailMessage;
  subject: SubjectInfo;
  kind: 'patch' | 'cover' | 'reply';
}

/**
 * The patches of one posting of a series: those that thread under one
 * lead (a cover letter, else patch 1), or unthreaded patches of one sender
 * (git format-patch output). Patches are never mixed across groups.
 */
interface Group {
  key: string;
  version: number;
  total: number;
  patches: Classified[];
  cover: Classified | null;
  /** The lead (cover or patch 1) answers nothing in the input: the thread's own series. */
  root: boolean;
  /** The date it was posted: its lead's, else its first patch's. */
  date: string;
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

function patchId(body: string): string {
  return createHash('sha256').update(normalisedDiff(body)).digest('hex');
}

function dedupTrailers(ts: Trailer[]): Trailer[] {
  const kept: Trailer[] = [];
  for (const t of ts) if (!kept.some((k) => sameTrailer(k, t))) kept.push(t);
  return kept;
}

function newer(a: MailMessage, b: MailMessage): boolean {
  return (a.date ?? '') > (b.date ?? '');
}

const personOf = (p: { name: string; address: string }) => (p.name ? `${p.name} <${p.address}>` : p.address);

/**
 * Assemble a series from a thread or mbox the way b4 does: the newest
 * version (or the one asked for, or the one a Message-ID belongs to),
 * patches ordered by counter, the cover letter, and the trailers that
 * replies give: a reply to the cover applies to every patch, a reply to
 * the same patch (same patch-id) in another version carries over, and a
 * trailer naming someone other than the reply's sender is not applied.
 */
export function assembleSeries(messages: MailMessage[], opts: AssembleOptions = {}): Series {
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
  if (![...byId.values()].some((c) => c.kind === 'patch'))
    throw new BadInputError(
      'no patches in the input: no mail carries a diff',
      'give the series itself (git format-patch output or the thread mbox)',
    );
  const thread = new Thread(byId);
  const groups = thread.groups();

  const picked = pickGroup(thread, groups, opts);
  const version = picked.version;
  let { cover } = picked;
  const chosen = new Map<number, Classified>();
  for (const c of picked.patches) {
    const counter = c.subject.counter ?? 1;
    const prev = chosen.get(counter);
    if (!prev || newer(c.msg, prev.msg)) chosen.set(counter, c);
  }
  let total = Math.max(picked.total, cover?.subject.total ?? 1);
  const max = opts.maxPatches ?? 500;
  if (total > max) throw new BadInputError(`series has ${total} patches, more than the limit of ${max}`);

  let partialReroll: Series['partialReroll'];
  if (chosen.size < total) {
    const earlier = partialRerollOf(thread, groups, picked, chosen);
    if (earlier) {
      const reused: number[] = [];
      for (const c of earlier.patches) {
        const counter = c.subject.counter ?? 1;
        if (!chosen.has(counter)) {
          chosen.set(counter, c);
          reused.push(counter);
        }
      }
      cover ??= earlier.cover;
      total = Math.max(total, earlier.total);
      partialReroll = { fromVersion: earlier.version, reused: reused.sort((a, b) => a - b) };
    }
  }

  const present = [...chosen.keys()].filter((k) => k >= 1 && k <= total).sort((a, b) => a - b);
  const missing = Array.from({ length: total }, (_, i) => i + 1).filter((k) => !chosen.has(k));
  if (missing.length > 0) throw new IncompleteSeriesError({ version, total, present, missing });

  // Replies: each goes to the first patch or cover above it, and never past it (a reply to a
  // counter-proposal or a fixup patch in the thread is about that patch, not the one it answered).
  const target = new Map<string, number | 'cover'>();
  for (const [counter, c] of chosen) target.set(c.msg.messageId, counter);
  if (cover) target.set(cover.msg.messageId, 'cover');
  const ownTrailers = new Map(present.map((k) => [k, extractTrailers(chosen.get(k)!.msg.body, null)]));
  const chosenIds = new Map(present.map((k) => [patchId(chosen.get(k)!.msg.body), k]));
  const given = new Map<number | 'cover', Trailer[]>();
  const mismatched: MismatchedTrailer[] = [];
  for (const c of byId.values()) {
    if (c.kind !== 'reply') continue;
    const answered = thread.answered(c);
    if (!answered) continue;
    const direct = target.get(answered.msg.messageId);
    // The same patch in another posting (an earlier version, a resend): its reviews carry over by patch-id.
    const carried =
      direct === undefined && answered.kind === 'patch' ? chosenIds.get(patchId(answered.msg.body)) : undefined;
    const to = direct ?? carried;
    if (to === undefined) continue;
    const via =
      direct === 'cover'
        ? 'cover'
        : carried !== undefined && answered.subject.version !== version
          ? 'earlier-version'
          : 'reply';
    for (const t of extractReplyTrailers(c.msg.body, c.msg.messageId, via)) {
      const named = namesPerson(t) ? parsePerson(t.value) : null;
      if (named && !sentByNamed(c.msg.from, named)) {
        // b4 does not report a restatement of what the patch already carries.
        if (typeof to === 'number' && ownTrailers.get(to)!.some((o) => sameTrailer(o, t))) continue;
        mismatched.push({
          key: t.key,
          value: t.value,
          fromMessageId: c.msg.messageId,
          sender: personOf(c.msg.from),
          target: to,
        });
        continue;
      }
      const list = given.get(to) ?? [];
      list.push(via === 'earlier-version' ? { ...t, fromVersion: answered.subject.version } : t);
      given.set(to, list);
    }
  }

  const coverTrailers = dedupTrailers(given.get('cover') ?? []);
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
      trailers: dedupTrailers([...ownTrailers.get(counter)!, ...(given.get(counter) ?? []), ...coverTrailers]),
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
        trailers: coverTrailers,
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
    ...(mismatched.length ? { mismatchedTrailers: mismatched } : {}),
    ...(partialReroll ? { partialReroll } : {}),
  };
}

/** The messages of the input as a thread: who answers whom. */
class Thread {
  constructor(readonly byId: Map<string, Classified>) {}

  /** The message this one answers, when it is in the input: In-Reply-To, else the nearest of its References. */
  parent(c: Classified): Classified | null {
    const irt = c.msg.inReplyTo ? this.byId.get(c.msg.inReplyTo) : undefined;
    if (irt) return irt;
    for (let i = c.msg.references.length - 1; i >= 0; i--) {
      const r = this.byId.get(c.msg.references[i]!);
      if (r) return r;
    }
    return null;
  }

  /** Every message above this one, nearest first (a loop in forged headers ends the walk). */
  *ancestors(c: Classified): Generator<Classified> {
    const seen = new Set([c.msg.messageId]);
    for (let a = this.parent(c); a && !seen.has(a.msg.messageId); a = this.parent(a)) {
      seen.add(a.msg.messageId);
      yield a;
    }
  }

  /** The patch or cover letter a reply is about: the first above it. */
  answered(c: Classified): Classified | null {
    for (const a of this.ancestors(c)) if (a.kind !== 'reply') return a;
    return null;
  }

  /**
   * Which posting a patch belongs to: the cover letter of its version and
   * size above it, else patch 1 of it above it (git send-email's deep
   * threading), else itself when it is patch 1; unthreaded patches group
   * by sender.
   */
  leadOf(p: Classified, depth = 0): string {
    const { version, total } = p.subject;
    let first: Classified | null = null;
    for (const a of this.ancestors(p)) {
      if (a.subject.version !== version || (a.subject.total ?? 1) !== (total ?? 1)) continue;
      if (a.kind === 'cover') return a.msg.messageId;
      if (a.kind === 'patch' && a.subject.counter === 1 && !first) first = a;
    }
    // Patch 1 leads; an unthreaded patch 1 that the others answer leads the group it is in.
    if (first) return depth < 3 ? this.leadOf(first, depth + 1) : first.msg.messageId;
    const threaded = p.msg.inReplyTo !== null || p.msg.references.length > 0;
    if (!threaded) return `unthreaded:${p.msg.from.address.toLowerCase()}:${version}:${total ?? 1}`;
    if ((p.subject.counter ?? 1) <= 1) return p.msg.messageId;
    return `orphan:${p.msg.from.address.toLowerCase()}:${version}:${total ?? 1}:${this.parent(p)?.msg.messageId ?? ''}`;
  }

  groups(): Group[] {
    const out = new Map<string, Group>();
    for (const c of this.byId.values()) {
      if (c.kind !== 'patch') continue;
      const key = this.leadOf(c);
      const g = out.get(key);
      if (g) {
        g.patches.push(c);
        g.total = Math.max(g.total, c.subject.total ?? 1);
        continue;
      }
      const lead = this.byId.get(key);
      const cover = lead?.kind === 'cover' ? lead : null;
      out.set(key, {
        key,
        version: c.subject.version,
        total: Math.max(c.subject.total ?? 1, cover?.subject.total ?? 1),
        patches: [c],
        cover,
        root: lead ? this.parent(lead) === null : !key.startsWith('orphan:'),
        date: (lead ?? c).msg.date ?? '',
      });
    }
    for (const g of out.values()) {
      if (!g.cover) g.cover = this.nakedCover(g);
      if (g.cover) g.root = this.parent(g.cover) === null;
    }
    return [...out.values()];
  }

  /**
   * A cover letter sent without "[PATCH 0/N]" (b4's naked cover): the
   * message the first patch answers, when it has no diff and either a
   * diffstat or is the thread's start, sent by the patch's author.
   */
  private nakedCover(g: Group): Classified | null {
    const first = [...g.patches].sort((a, b) => (a.subject.counter ?? 1) - (b.subject.counter ?? 1))[0]!;
    const p = this.parent(first);
    if (p?.kind !== 'reply' || p.subject.isReply || HAS_DIFF.test(p.msg.body)) return null;
    const sameAuthor = p.msg.from.address.toLowerCase() === first.msg.from.address.toLowerCase();
    if (!HAS_DIFFSTAT.test(p.msg.body) && !(this.parent(p) === null && sameAuthor)) return null;
    p.kind = 'cover';
    return p;
  }

  /** The posting a message is part of: its own patch or cover, or the one it answers. */
  groupOf(groups: Group[], c: Classified): Group | null {
    const at = c.kind === 'reply' ? this.answered(c) : c;
    if (!at) return null;
    return groups.find((g) => g.cover === at || g.patches.includes(at)) ?? null;
  }

  /** Whether posting `later` was sent into the thread of posting `g` (a reroll In-Reply-To the version before). */
  descendsFrom(later: Group, g: Group): boolean {
    const mine = new Set([...(g.cover ? [g.cover] : []), ...g.patches]);
    const start = later.cover ?? later.patches[0]!;
    for (const a of this.ancestors(start)) if (mine.has(a)) return true;
    return false;
  }
}

function describe(g: Group): string {
  const lead = g.cover ?? g.patches[0]!;
  return `v${g.version} "${lead.subject.title}" by ${personOf(lead.msg.from)} (${g.patches.length}/${g.total} patches) <${lead.msg.messageId}>`;
}

/** Better first: complete, with a cover letter, the thread's own (not sent in reply to another posting). */
function rank(g: Group): number[] {
  const counters = new Set(g.patches.map((p) => p.subject.counter ?? 1));
  return [counters.size >= g.total ? 1 : 0, g.cover ? 1 : 0, g.root ? 1 : 0];
}

function compareRank(a: Group, b: Group): number {
  const [x, y] = [rank(a), rank(b)];
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return y[i]! - x[i]!;
  return 0;
}

/**
 * The posting to assemble. With a Message-ID: the one it belongs to, or
 * the newest reroll sent into its thread. Without: among the postings of
 * the newest version (or the one asked for), the best by rank; two equally
 * good ones are refused, listed, rather than guessed between.
 */
function pickGroup(thread: Thread, groups: Group[], opts: AssembleOptions): Group {
  let candidates = groups;
  if (opts.messageId) {
    const at = thread.byId.get(opts.messageId);
    if (!at) throw new BadInputError(`<${opts.messageId}> is not in the input`, 'give the thread that message is in');
    const own = thread.groupOf(groups, at);
    if (!own)
      throw new BadInputError(
        `<${opts.messageId}> is not a patch, a cover letter or a reply to one`,
        'give the Message-ID of a patch or of its cover letter',
      );
    const lineage = [own];
    for (let grew = true; grew; ) {
      grew = false;
      for (const g of groups)
        if (!lineage.includes(g) && g.version > own.version && lineage.some((l) => thread.descendsFrom(g, l))) {
          lineage.push(g);
          grew = true;
        }
    }
    candidates = opts.version === undefined ? lineage : lineage.filter((g) => g.version === opts.version);
    if (candidates.length === 0)
      throw new BadInputError(
        `no v${opts.version} of the series <${opts.messageId}> is in; it has v${[...new Set(lineage.map((g) => g.version))].join(', v')}`,
      );
  }
  const versions = [...new Set(candidates.map((g) => g.version))].sort((a, b) => a - b);
  const version = opts.version ?? versions[versions.length - 1]!;
  const ofVersion = candidates.filter((g) => g.version === version);
  if (ofVersion.length === 0)
    throw new BadInputError(`no patches of version ${version}; the input has v${versions.join(', v')}`);
  // A bare patch sent into a numbered series' thread is a posting of its own, never the series.
  const numbered = ofVersion.some((g) => g.patches.some((p) => p.subject.counter !== null));
  const real = numbered ? ofVersion.filter((g) => g.patches.some((p) => p.subject.counter !== null)) : ofVersion;
  const sorted = [...real].sort(compareRank);
  const best = sorted[0]!;
  const tied = sorted.filter((g) => compareRank(g, best) === 0);
  if (tied.length > 1)
    throw new BadInputError(
      `the input holds ${tied.length} different v${version} series:\n${tied
        .slice(0, 10)
        .map((g) => `  ${describe(g)}`)
        .join('\n')}${tied.length > 10 ? `\n  and ${tied.length - 10} more` : ''}`,
      'pick one by its Message-ID (ksci run <message-id>), or give the mbox of one thread',
    );
  return best;
}

/**
 * b4's partial reroll: vN resends only some patches, each In-Reply-To the
 * same patch of vN-1. The posting of vN-1 they answer fills the rest.
 */
function partialRerollOf(thread: Thread, groups: Group[], g: Group, chosen: Map<number, Classified>): Group | null {
  if (g.version <= 1) return null;
  let earlier: Group | null = null;
  for (const p of chosen.values()) {
    const prior = [...thread.ancestors(p)].find(
      (a) =>
        a.kind === 'patch' &&
        a.subject.version === g.version - 1 &&
        a.subject.counter === p.subject.counter &&
        a.subject.total === p.subject.total,
    );
    const of = prior ? thread.groupOf(groups, prior) : null;
    if (!of || (earlier && of !== earlier)) return null;
    earlier = of;
  }
  return earlier;
}
