import type { Config, TreeConfig } from '../config/schema.js';
import { UsageError } from '../errors.js';
import type { Series } from '../series/types.js';

export interface TreeChoice {
  tree: TreeConfig;
  /** Said in the report: which rule picked the tree. */
  reason: string;
}

/** What routing asks of the trees themselves; the git implementation is src/routing/probe.ts. */
export interface TreeProbe {
  /** Whether the tree's history (freshly fetched) holds this commit. */
  hasCommit(tree: TreeConfig, commit: string): Promise<boolean>;
  /** Whether the whole series applies cleanly to the tree's head. */
  applies(tree: TreeConfig, series: Series): Promise<boolean>;
}

export interface RouteOptions {
  /** A tree named by the user: no rule is asked. */
  explicit?: string;
  /** Candidate trees, in order, for the base-commit and "applies to" rules (a list's own trees); else routing.order. */
  order?: string[];
  /** Without one, only the explicit, subject-tag and default rules run. */
  probe?: TreeProbe;
}

/**
 * Which tree a series is tested on, in the order NIPA and
 * kernel-patches-daemon decide it: an explicit choice; the first subject tag
 * a tree claims (`[PATCH bpf-next ...]`); the candidate tree whose history
 * holds the series' `base-commit:`; the first candidate the series applies
 * to; the default tree. The reason names the rule, and what the earlier
 * rules found, so a surprising choice can be understood from the report.
 */
export async function routeTree(series: Series, config: Config, opts: RouteOptions = {}): Promise<TreeChoice> {
  const byName = (name: string) => config.trees.find((t) => t.name === name);
  if (opts.explicit) {
    const tree = byName(opts.explicit);
    if (!tree)
      throw new UsageError(
        `no tree named "${opts.explicit}"`,
        `configured trees: ${config.trees.map((t) => t.name).join(', ')}`,
      );
    return { tree, reason: 'chosen on the command line' };
  }
  for (const tag of series.treeTags) {
    const tree = config.trees.find((t) => t.tags.includes(tag.toLowerCase()));
    if (tree) return { tree, reason: `subject tag ${tag}` };
  }
  const notes: string[] = [];
  if (series.treeTags.length > 0) notes.push(`no tree claims tag ${series.treeTags.join(', ')}`);
  const names = opts.order?.length
    ? opts.order
    : config.routing.order.length
      ? config.routing.order
      : config.trees.map((t) => t.name);
  const candidates = names.map((n) => {
    const t = byName(n);
    // The config schema checks these names; a caller's list is checked here.
    if (!t)
      throw new UsageError(
        `routing names tree "${n}", which is not configured`,
        `configured trees: ${config.trees.map((x) => x.name).join(', ')}`,
      );
    return t;
  });

  if (opts.probe && series.baseCommit) {
    for (const tree of candidates) {
      if (await opts.probe.hasCommit(tree, series.baseCommit))
        return { tree, reason: withNotes(notes, `base-commit ${series.baseCommit.slice(0, 12)} is in ${tree.name}`) };
    }
    notes.push(
      `base-commit ${series.baseCommit.slice(0, 12)} is in none of ${candidates.map((t) => t.name).join(', ')}`,
    );
  }
  if (opts.probe && candidates.length > 1) {
    for (const tree of candidates) {
      if (await opts.probe.applies(tree, series))
        return {
          tree,
          reason: withNotes(
            notes,
            `applies to ${tree.name} (tried in order: ${candidates.map((t) => t.name).join(', ')})`,
          ),
        };
    }
    notes.push(`applies to none of ${candidates.map((t) => t.name).join(', ')}`);
  }
  const tree = (opts.order?.length ? candidates[0] : undefined) ?? byName(config.defaultTree);
  // The config schema guarantees the default tree exists.
  if (!tree) throw new UsageError(`default tree "${config.defaultTree}" is not configured`);
  return {
    tree,
    reason: withNotes(notes, opts.order?.length ? `first tree of the list (${tree.name})` : 'default tree'),
  };
}

function withNotes(notes: string[], reason: string): string {
  return notes.length ? `${notes.join('; ')}; ${reason}` : reason;
}
