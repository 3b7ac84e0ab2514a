import type { LoreConfig, LoreListConfig } from '../config/schema.js';
import { BadInputError, UsageError } from '../errors.js';
import { parseMbox, type LoadOptions } from '../series/load.js';
import type { Series } from '../series/types.js';
import type { LoreClient } from './client.js';
import { escapeMessageId, type LoreRef } from './ref.js';

export interface LoreSeries {
  series: Series;
  /** The inbox the thread came from. */
  listUrl: string;
  /** The configured list of that inbox, when it is one (its trees and reply policy apply). */
  list: LoreListConfig | null;
  /** The series' lead message on that inbox: the run's source. */
  ref: string;
}

/**
 * The series in the thread of a message, for `ksci run <message-id | URL>`:
 * the inbox the URL names, else each configured list in turn, else the
 * lookup URL (lore's /all/).
 */
export async function fetchLoreSeries(
  ref: LoreRef,
  lore: LoreConfig,
  client: LoreClient,
  limits: LoadOptions,
  signal?: AbortSignal,
): Promise<LoreSeries> {
  const candidates = ref.listUrl
    ? [ref.listUrl]
    : [...lore.lists.map((l) => l.url), ...(lore.lookupUrl ? [lore.lookupUrl] : [])];
  if (candidates.length === 0)
    throw new UsageError(
      `no list to look <${ref.messageId}> up on`,
      "configure lore.lists or lore.lookupUrl, or give the message's URL",
    );
  for (const listUrl of candidates) {
    const mbox = await client.thread(listUrl, ref.messageId, signal);
    if (!mbox) continue;
    const series = await parseMbox(mbox, { ...limits, messageId: ref.messageId });
    const list = lore.lists.find((l) => l.url === listUrl) ?? null;
    return { series, listUrl, list, ref: `${listUrl}${escapeMessageId(series.messageId)}/` };
  }
  throw new BadInputError(
    `no server has <${ref.messageId}>: looked on ${candidates.join(', ')}`,
    "check the Message-ID, or give the message's lore URL",
  );
}
