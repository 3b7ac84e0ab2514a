import type { Config, TreeConfig } from '../config/schema.js';
import { UsageError } from '../errors.js';
import type { Series } from '../series/types.js';

export interface TreeChoice {
  tree: TreeConfig;
  /** Said in the report: which rule picked the tree. */
  reason: string;
}

/**
 * Which tree a series is tested on: an explicit choice, else the first
 * subject tag that a tree claims (`[PATCH bpf-next ...]`), else the default
 * tree. (The base-commit and "applies to" fallbacks of NIPA and
 * kernel-patches-daemon come with lore ingestion.)
 */
export function routeTree(series: Series, config: Config, explicit?: string): TreeChoice {
  if (explicit) {
    const tree = config.trees.find((t) => t.name === explicit);
    if (!tree) throw new UsageError(`no tree named "${explicit}"`, `configured trees: ${config.trees.map((t) => t.name).join(', ')}`);
    return { tree, reason: 'chosen on the command line' };
  }
  for (const tag of series.treeTags) {
    const tree = config.trees.find((t) => t.tags.includes(tag.toLowerCase()));
    if (tree) return { tree, reason: `subject tag ${tag}` };
  }
  const tree = config.trees.find((t) => t.name === config.defaultTree);
  // The config schema guarantees the default tree exists.
  if (!tree) throw new UsageError(`default tree "${config.defaultTree}" is not configured`);
  const tags = series.treeTags.length > 0 ? `no tree claims tag ${series.treeTags.join(', ')}; ` : '';
  return { tree, reason: `${tags}default tree` };
}
