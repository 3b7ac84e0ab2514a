import type { LoreListConfig } from '../config/schema.js';
import { BadInputError, KsciError, UsageError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { splitMbox } from '../mail/mbox.js';
import { parseMessage, type MailMessage } from '../mail/message.js';
import { assembleSeries, IncompleteSeriesError } from '../series/assemble.js';
import type { LoadOptions } from '../series/load.js';
import { parseSubject } from '../series/subject.js';
import type { Series } from '../series/types.js';
import type { LoreMessage, LoreStore } from '../store/lore.js';
import type { FeedEntry } from './atom.js';
import type { LoreClient } from './client.js';
import { escapeMessageId } from './ref.js';

export interface SubmitResult {
  runId: string;
  created: boolean;
  staleAgainst?: { runId: string; version: number };
}

export interface PollDeps {
  client: LoreClient;
  store: LoreStore;
  /** Hands a series to the coordinator (src/coordinator/coordinator.ts submit). */
  submit(series: Series, ctx: { list: LoreListConfig; ref: string }): Promise<SubmitResult>;
  limits: Omit<LoadOptions, 'version'>;
  log: Logger;
  now?: () => Date;
  signal?: AbortSignal;
}

export interface PollOptions {
  incompleteWaitMs: number;
  /** Search pages to read when the feed alone cannot reach back to the last poll. */
  searchPages: number;
}

export interface PollResult {
  list: string;
  /** Messages not seen before. */
  fresh: number;
  /** Set when the feed had no message seen before: how the gap was filled. */
  gap: { filled: number; error: string | null } | null;
  submitted: { messageId: string; runId: string; created: boolean; title: string; version: number }[];
  /** Still waiting: parts missing, or the thread not on the server yet. */
  waiting: { messageId: string; detail: string }[];
  incomplete: { messageId: string; detail: string }[];
  invalid: { messageId: string; detail: string }[];
}

/** A patch or cover letter (not a reply): its thread may hold a series. */
export function isSeriesCandidate(title: string): boolean {
  const s = parseSubject(title);
  return s.isPatch && !s.isReply;
}

/** Mail dated up to this long before the newest seen can still arrive (slow relays, wrong clocks). */
const GAP_SLACK_MS = 24 * 3600_000;

/**
 * public-inbox's search for "dated since": dt: takes YYYYMMDDHHMMSS in UTC
 * (rt: and d: go through git's approxidate, which on 1.9 silently uses the
 * current time of day for a bare date).
 */
export function sinceQuery(since: Date): string {
  const t = new Date(since.getTime() - GAP_SLACK_MS).toISOString();
  return `dt:${t.slice(0, 19).replace(/[-T:]/g, '')}..`;
}

/**
 * Fresh entries of a feed: those not yet recorded. When none of the feed
 * was seen before, more mail arrived since the last poll than the feed
 * holds, and search fills the gap from the newest message seen.
 */
async function freshEntries(list: LoreListConfig, opts: PollOptions, deps: PollDeps, newestSeen: Date | null): Promise<{ fresh: FeedEntry[]; gap: PollResult['gap'] }> {
  const feed = await deps.client.feed(list.url, deps.signal);
  const known = await deps.store.known(list.name, feed.map((e) => e.messageId));
  const fresh = new Map(feed.filter((e) => !known.has(e.messageId)).map((e) => [e.messageId, e]));
  if (!newestSeen || feed.length === 0 || fresh.size < feed.length || opts.searchPages === 0) return { fresh: [...fresh.values()], gap: null };

  let filled = 0;
  let error: string | null = null;
  try {
    for (let page = 0, offset = 0; page < opts.searchPages; page++) {
      const entries = await deps.client.search(list.url, sinceQuery(newestSeen), offset, deps.signal);
      if (entries.length === 0) break;
      offset += entries.length;
      const seen = await deps.store.known(list.name, entries.map((e) => e.messageId));
      for (const e of entries) {
        if (seen.has(e.messageId) || fresh.has(e.messageId)) continue;
        fresh.set(e.messageId, e);
        filled++;
      }
      if (page === opts.searchPages - 1) error = `more than ${opts.searchPages} search pages since ${newestSeen.toISOString()}; older messages of the gap were not read`;
    }
  } catch (err) {
    error = errorMessage(err);
  }
  if (error) deps.log.warn({ list: list.name, since: newestSeen.toISOString(), err: error }, 'lore: could not fill the gap since the last poll; series in it may be missed (ksci run <message-id> picks one up by hand)');
  return { fresh: [...fresh.values()], gap: { filled, error } };
}

/**
 * One poll of one list: record what is new, then try every waiting patch
 * by fetching its thread and assembling the newest version in it. A
 * thread is fetched once per poll however many of its messages wait; a
 * series with parts missing waits until its deadline; nothing is
 * submitted twice (the coordinator dedups by series fingerprint).
 */
export async function pollList(list: LoreListConfig, opts: PollOptions, deps: PollDeps): Promise<PollResult> {
  const now = deps.now?.() ?? new Date();
  const state = await deps.store.state(list.name);
  let fresh: FeedEntry[];
  let gap: PollResult['gap'];
  try {
    ({ fresh, gap } = await freshEntries(list, opts, deps, state.newestSeen));
  } catch (err) {
    await deps.store.recordPoll(list.name, { at: now, ok: false, error: errorMessage(err), newestSeen: null });
    throw err;
  }
  await deps.store.recordNew(
    list.name,
    fresh.map((e) => {
      const candidate = isSeriesCandidate(e.title);
      return { messageId: e.messageId, title: e.title, updated: e.updated, status: candidate ? 'pending' : 'ignored', deadline: candidate ? new Date(now.getTime() + opts.incompleteWaitMs) : null };
    }),
    now,
  );

  const result: PollResult = { list: list.name, fresh: fresh.length, gap, submitted: [], waiting: [], incomplete: [], invalid: [] };
  const covered = new Set<string>();
  for (const msg of await deps.store.pending(list.name)) {
    if (covered.has(msg.messageId)) continue;
    if (deps.signal?.aborted) break;
    await tryThread(list, msg, now, deps, covered, result);
  }

  const newest = fresh.map((e) => (e.updated ? Date.parse(e.updated) : NaN)).filter((t) => !Number.isNaN(t));
  await deps.store.recordPoll(list.name, { at: now, ok: true, error: gap?.error ?? null, newestSeen: newest.length ? new Date(Math.max(...newest)) : null });
  deps.log.info(
    { list: list.name, fresh: result.fresh, gap: result.gap, submitted: result.submitted.length, waiting: result.waiting.length, incomplete: result.incomplete.length, invalid: result.invalid.length },
    'lore poll done',
  );
  return result;
}

async function tryThread(list: LoreListConfig, msg: LoreMessage, now: Date, deps: PollDeps, covered: Set<string>, result: PollResult): Promise<void> {
  const { store } = deps;
  const waitOrGiveUp = async (ids: LoreMessage[], detail: string) => {
    for (const m of ids) {
      const expired = m.deadline !== null && m.deadline.getTime() <= now.getTime();
      await store.settle(list.name, [m.messageId], { status: expired ? 'incomplete' : 'pending', detail }, now);
      (expired ? result.incomplete : result.waiting).push({ messageId: m.messageId, detail });
    }
  };

  let raw: Buffer | null;
  try {
    raw = await deps.client.thread(list.url, msg.messageId, deps.signal);
  } catch (err) {
    covered.add(msg.messageId);
    if (err instanceof BadInputError) {
      await store.settle(list.name, [msg.messageId], { status: 'invalid', detail: err.message }, now);
      result.invalid.push({ messageId: msg.messageId, detail: err.message });
    } else {
      // The server is busy or down: the message stays pending and the next poll tries again.
      await waitOrGiveUp([msg], `thread not fetched: ${errorMessage(err)}`);
    }
    return;
  }
  if (raw === null) {
    covered.add(msg.messageId);
    await waitOrGiveUp([msg], 'the server does not have the message (yet)');
    return;
  }

  let messages: MailMessage[];
  try {
    messages = [];
    for (const m of splitMbox(raw, deps.limits)) messages.push(await parseMessage(m));
  } catch (err) {
    covered.add(msg.messageId);
    const detail = `thread unreadable: ${errorMessage(err)}`;
    await store.settle(list.name, [msg.messageId], { status: 'invalid', detail }, now);
    result.invalid.push({ messageId: msg.messageId, detail });
    return;
  }
  const inThread = new Set(messages.map((m) => m.messageId));
  inThread.add(msg.messageId);
  const siblings = (await store.pending(list.name)).filter((p) => inThread.has(p.messageId));
  for (const s of siblings) covered.add(s.messageId);
  const ids = siblings.map((s) => s.messageId);

  let series: Series;
  try {
    series = assembleSeries(messages, deps.limits);
  } catch (err) {
    if (err instanceof IncompleteSeriesError) return waitOrGiveUp(siblings, err.message);
    const detail = errorMessage(err);
    await store.settle(list.name, ids, { status: 'invalid', detail }, now);
    for (const id of ids) result.invalid.push({ messageId: id, detail });
    return;
  }

  const ref = `${list.url}${escapeMessageId(series.messageId)}/`;
  try {
    const sub = await deps.submit(series, { list, ref });
    const detail = sub.staleAgainst
      ? `v${series.version}: not run, v${sub.staleAgainst.version} is newer (run ${sub.staleAgainst.runId})`
      : `v${series.version} ${sub.created ? 'queued' : 'already run'} as run ${sub.runId}`;
    await store.settle(list.name, ids, { status: 'submitted', detail, runId: sub.runId }, now);
    result.submitted.push({ messageId: series.messageId, runId: sub.runId, created: sub.created, title: series.title, version: series.version });
  } catch (err) {
    // A series the pipeline refuses is recorded with the reason; anything else is retried next poll.
    if (err instanceof KsciError && (err instanceof BadInputError || err instanceof UsageError)) {
      await store.settle(list.name, ids, { status: 'invalid', detail: err.message }, now);
      for (const id of ids) result.invalid.push({ messageId: id, detail: err.message });
    } else {
      await waitOrGiveUp(siblings, `not submitted: ${errorMessage(err)}`);
    }
  }
}
