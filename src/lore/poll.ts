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

/** An infrastructure failure while trying a thread: the poll stops there, its messages stay pending. */
class OutageError extends Error {
  constructor(override readonly cause: unknown) {
    super(errorMessage(cause));
  }
}

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
async function freshEntries(
  list: LoreListConfig,
  opts: PollOptions,
  deps: PollDeps,
  newestSeen: Date | null,
): Promise<{ fresh: FeedEntry[]; gap: PollResult['gap'] }> {
  const feed = await deps.client.feed(list.url, deps.signal);
  const known = await deps.store.known(
    list.name,
    feed.map((e) => e.messageId),
  );
  const fresh = new Map(feed.filter((e) => !known.has(e.messageId)).map((e) => [e.messageId, e]));
  if (!newestSeen || feed.length === 0 || fresh.size < feed.length || opts.searchPages === 0)
    return { fresh: [...fresh.values()], gap: null };

  let filled = 0;
  let error: string | null = null;
  try {
    for (let page = 0, offset = 0; page < opts.searchPages; page++) {
      const entries = await deps.client.search(list.url, sinceQuery(newestSeen), offset, deps.signal);
      if (entries.length === 0) break;
      offset += entries.length;
      const seen = await deps.store.known(
        list.name,
        entries.map((e) => e.messageId),
      );
      for (const e of entries) {
        if (seen.has(e.messageId) || fresh.has(e.messageId)) continue;
        fresh.set(e.messageId, e);
        filled++;
      }
      if (
        page === opts.searchPages - 1 &&
        (await deps.client.search(list.url, sinceQuery(newestSeen), offset, deps.signal)).length > 0
      ) {
        error = `more than ${opts.searchPages} search pages since ${newestSeen.toISOString()}; older messages of the gap were not read`;
      }
    }
  } catch (err) {
    error = errorMessage(err);
  }
  if (error)
    deps.log.warn(
      { list: list.name, since: newestSeen.toISOString(), err: error },
      'lore: could not fill the gap since the last poll; series in it may be missed (ksci run <message-id> picks one up by hand)',
    );
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
      return {
        messageId: e.messageId,
        title: e.title,
        updated: e.updated,
        status: candidate ? 'pending' : 'ignored',
        deadline: candidate ? new Date(now.getTime() + opts.incompleteWaitMs) : null,
      };
    }),
    now,
  );

  const result: PollResult = {
    list: list.name,
    fresh: fresh.length,
    gap,
    submitted: [],
    waiting: [],
    incomplete: [],
    invalid: [],
  };
  const covered = new Set<string>();
  let outage: string | null = null;
  const pending = await deps.store.pending(list.name);
  for (const msg of pending) {
    if (covered.has(msg.messageId)) continue;
    if (deps.signal?.aborted) break;
    try {
      await tryThread(list, msg, pending, now, deps, covered, result);
    } catch (err) {
      // The rest would meet the same outage, each after a timeout: the next poll tries them.
      if (!(err instanceof OutageError)) throw err;
      outage = errorMessage(err.cause);
      deps.log.warn({ list: list.name, err: outage }, 'lore: stopped trying threads for this poll');
      break;
    }
  }

  // A sender sets its own Date: one mail dated 2038 must not move the gap search past everything.
  const newest = fresh
    .map((e) => (e.updated ? Math.min(Date.parse(e.updated), now.getTime()) : NaN))
    .filter((t) => !Number.isNaN(t));
  await deps.store.recordPoll(list.name, {
    at: now,
    ok: outage === null,
    error: outage ?? gap?.error ?? null,
    newestSeen: newest.length ? new Date(Math.max(...newest)) : null,
  });
  deps.log.info(
    {
      list: list.name,
      fresh: result.fresh,
      gap: result.gap,
      submitted: result.submitted.length,
      waiting: result.waiting.length,
      incomplete: result.incomplete.length,
      invalid: result.invalid.length,
    },
    'lore poll done',
  );
  return result;
}

/** `pending` is the list the poll loaded; a message another thread of this poll settled is in `covered`. */
async function tryThread(
  list: LoreListConfig,
  msg: LoreMessage,
  pending: LoreMessage[],
  now: Date,
  deps: PollDeps,
  covered: Set<string>,
  result: PollResult,
): Promise<void> {
  const { store } = deps;
  // Only a series with parts missing runs out of time; an outage (lore, Redis, the database)
  // keeps its messages pending however long it lasts, so nothing that arrived during it is lost.
  const wait = async (ids: LoreMessage[], detail: string, opts: { mayExpire: boolean }) => {
    for (const m of ids) {
      const expired = opts.mayExpire && m.deadline !== null && m.deadline.getTime() <= now.getTime();
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
      await wait([msg], `thread not fetched: ${errorMessage(err)}`, { mayExpire: false });
      throw new OutageError(err);
    }
    return;
  }
  if (raw === null) {
    covered.add(msg.messageId);
    await wait([msg], 'the server does not have the message (yet)', { mayExpire: true });
    return;
  }

  // Anyone on the list can post a broken or huge reply: it is dropped, not the thread. A patch
  // dropped this way leaves its series incomplete, which says so when the wait runs out.
  const messages: MailMessage[] = [];
  const dropped: string[] = [];
  try {
    for (const m of splitMbox(raw, deps.limits, { onBadMessage: (e) => dropped.push(e.message) })) {
      try {
        messages.push(await parseMessage(m));
      } catch (err) {
        dropped.push(errorMessage(err));
      }
    }
  } catch (err) {
    covered.add(msg.messageId);
    const detail = `thread unreadable: ${errorMessage(err)}`;
    await store.settle(list.name, [msg.messageId], { status: 'invalid', detail }, now);
    result.invalid.push({ messageId: msg.messageId, detail });
    return;
  }
  if (dropped.length)
    deps.log.warn({ list: list.name, thread: msg.messageId, dropped }, 'lore: messages of the thread dropped');
  const inThread = new Set(messages.map((m) => m.messageId));
  inThread.add(msg.messageId);
  const siblings = pending.filter(
    (p) => inThread.has(p.messageId) && (p.messageId === msg.messageId || !covered.has(p.messageId)),
  );
  for (const s of siblings) covered.add(s.messageId);
  const ids = siblings.map((s) => s.messageId);

  let series: Series;
  try {
    series = assembleSeries(messages, deps.limits);
    const inSeries = new Set([series.messageId, ...series.patches.map((p) => p.messageId)]);
    // An older version's patch carries a title of the series (b4 pairs revisions by subject); a patch with a title of its own is not one.
    const titles = new Set([series.title, ...series.patches.map((p) => p.subject.title)].map((t) => t.toLowerCase()));
    const ownPatch = (m: { messageId: string; title: string }) =>
      !inSeries.has(m.messageId) && !titles.has(m.title.toLowerCase()) && parseSubject(m.title).counter === null;
    const mine = messages.find((m) => m.messageId === msg.messageId);
    if (mine && ownPatch({ messageId: mine.messageId, title: parseSubject(mine.subject).title })) {
      // A patch of its own posted in another series' thread: it and the replies to it are its series.
      const own = messages.filter(
        (m) =>
          m.messageId === mine.messageId || m.references.includes(mine.messageId) || m.inReplyTo === mine.messageId,
      );
      series = assembleSeries(own, deps.limits);
      // The thread's own series is tried for its own messages, later in this poll.
      for (const s of siblings) if (s.messageId !== mine.messageId) covered.delete(s.messageId);
      ids.splice(0, ids.length, mine.messageId);
      siblings.splice(0, siblings.length, msg);
    } else {
      // Patches of this version that are not in the series (a standalone patch in its thread) get their own turn.
      for (const s of [...siblings]) {
        if (ownPatch({ messageId: s.messageId, title: parseSubject(s.title).title })) {
          covered.delete(s.messageId);
          siblings.splice(siblings.indexOf(s), 1);
          ids.splice(ids.indexOf(s.messageId), 1);
        }
      }
    }
  } catch (err) {
    if (err instanceof IncompleteSeriesError)
      return wait(
        siblings,
        dropped.length ? `${err.message}; dropped from the thread: ${dropped.join('; ')}` : err.message,
        { mayExpire: true },
      );
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
    result.submitted.push({
      messageId: series.messageId,
      runId: sub.runId,
      created: sub.created,
      title: series.title,
      version: series.version,
    });
  } catch (err) {
    // A series the pipeline refuses is recorded with the reason. A usage error is ksci's
    // configuration (an unknown tree, say), an infrastructure error an outage: both wait for the
    // next poll, after the fix.
    if (err instanceof BadInputError) {
      await store.settle(list.name, ids, { status: 'invalid', detail: err.message }, now);
      for (const id of ids) result.invalid.push({ messageId: id, detail: err.message });
    } else {
      await wait(
        siblings,
        `not submitted: ${errorMessage(err)}${err instanceof KsciError && err.hint ? ` (${err.hint})` : ''}`,
        { mayExpire: false },
      );
      if (!(err instanceof UsageError)) throw new OutageError(err);
    }
  }
}
