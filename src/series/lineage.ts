import type { Series } from './types.js';

/**
 * What links the versions of one series when they are not in one thread:
 * b4's change-id when the author used b4, else author and title the way
 * b4 and patchwork pair revisions. A GitHub PR names its own lineage (the
 * PR), given by the caller.
 */
export function titleLineage(series: Pick<Series, 'author' | 'title'>): string {
  const title = series.title.toLowerCase().replace(/\s+/g, ' ').trim();
  return `title:${series.author.address.toLowerCase()}:${title}`;
}
