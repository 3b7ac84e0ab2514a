import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { fetchLoreSeries } from '../lore/lookup.js';
import { parseLoreRef } from '../lore/ref.js';
import { loreClientFor } from '../lore/schedule.js';
import { loadSeries } from '../series/load.js';
import type { Series } from '../series/types.js';

export interface SeriesInput {
  series: Series;
  source: { kind: 'mbox' | 'lore'; ref: string };
  /** A lore list's trees, for routing. */
  routeOrder?: string[];
}

/** What `ksci run` was given: a file or directory when one exists by that name, else a lore URL or Message-ID. */
export async function loadInput(arg: string, config: Config, version?: number): Promise<SeriesInput> {
  const limits = { ...config.limits, ...(version ? { version } : {}) };
  const path = resolve(arg);
  if (existsSync(path)) return { series: await loadSeries(path, limits), source: { kind: 'mbox', ref: path } };
  const ref = parseLoreRef(arg);
  if (!ref) throw new UsageError(`${arg} is neither a file nor a lore URL or Message-ID`, 'give an mbox, a .patch file, a directory of them, https://lore.kernel.org/<list>/<message-id>/ or <message-id>');
  const found = await fetchLoreSeries(ref, config.lore, loreClientFor(config), limits);
  return { series: found.series, source: { kind: 'lore', ref: found.ref }, ...(found.list?.trees.length ? { routeOrder: found.list.trees } : {}) };
}
