import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { loreClientFor } from '../lore/client.js';
import { fetchLoreSeries } from '../lore/lookup.js';
import { parseLoreRef } from '../lore/ref.js';
import { loadSeries } from '../series/load.js';
import type { Series } from '../series/types.js';

export interface SeriesInput {
  series: Series;
  source: { kind: 'mbox' | 'lore' | 'github'; ref: string };
  /** A lore list's trees, for routing. */
  routeOrder?: string[];
  /** A PR's: its pushes are versions of one series. */
  lineage?: string;
  /** A configured repository's tree. */
  tree?: string;
}

const PR_URL = /^https?:\/\/[^/]+\/[^/]+\/[^/]+\/pull\/\d+/;

/** A PR through the App when one is configured, else a token from the environment. */
async function loadPr(url: string, config: Config): Promise<SeriesInput> {
  // Loaded here: octokit is most of a quick command's start-up, and only a PR needs it.
  const [{ prLineage }, { createAppClient, createTokenClient }, { loadPrSeries, parsePrUrl }] = await Promise.all([
    import('../github/bot.js'),
    import('../github/client.js'),
    import('../github/pr.js'),
  ]);
  const ref = parsePrUrl(url);
  const token = process.env[config.github.tokenEnv];
  const client = config.github.app
    ? await createAppClient(config.github.app)
    : token
      ? createTokenClient({ token })
      : null;
  if (!client)
    throw new UsageError(
      `reading ${url} needs GitHub credentials`,
      `set ${config.github.tokenEnv} to a token with read access, or configure github.app`,
    );
  const { pr, series } = await loadPrSeries(await client.forRepo(ref), ref.number, {
    ...config.limits,
    maxPatches: Math.min(config.limits.maxPatches, config.github.maxCommits),
  });
  const repo = config.github.repos.find((r) => r.repo.toLowerCase() === `${ref.owner}/${ref.repo}`.toLowerCase());
  return {
    series,
    source: { kind: 'github', ref: pr.htmlUrl },
    lineage: prLineage(`${ref.owner}/${ref.repo}`, ref.number),
    ...(repo?.tree ? { tree: repo.tree } : {}),
  };
}

export interface InputOptions {
  /** Of an mbox that holds several versions: this one. */
  version?: number;
  /** Of an mbox: the series this message is in (as `b4 am -m <mbox> <msgid>`); a lore reference names its own. */
  messageId?: string;
}

/** What `ksci run` was given: a file or directory when one exists by that name, else a lore URL or Message-ID. */
export async function loadInput(arg: string, config: Config, opts: InputOptions = {}): Promise<SeriesInput> {
  const limits = { ...config.limits, ...(opts.version ? { version: opts.version } : {}) };
  const path = resolve(arg);
  if (existsSync(path))
    return {
      series: await loadSeries(path, { ...limits, ...(opts.messageId ? { messageId: opts.messageId } : {}) }),
      source: { kind: 'mbox', ref: path },
    };
  if (opts.messageId)
    throw new UsageError(
      '--message-id picks a series out of an mbox',
      `${arg} is not a file; a lore reference names its message itself`,
    );
  if (PR_URL.test(arg)) return loadPr(arg, config);
  const ref = parseLoreRef(arg);
  if (!ref)
    throw new UsageError(
      `${arg} is neither a file, a pull request nor a lore URL or Message-ID`,
      'give an mbox, a .patch file, a directory of them, https://github.com/<owner>/<repo>/pull/<n>, https://lore.kernel.org/<list>/<message-id>/ or <message-id>',
    );
  const found = await fetchLoreSeries(ref, config.lore, loreClientFor(config), limits);
  return {
    series: found.series,
    source: { kind: 'lore', ref: found.ref },
    ...(found.list?.trees.length ? { routeOrder: found.list.trees } : {}),
  };
}

/** The size of a file named on the command line; a usage error when it cannot be read. */
export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    throw new UsageError(`cannot read ${path}`);
  }
}
