import type { Series } from './types.js';

/**
 * What links the versions of one series when they are not in one thread:
 * b4's change-id when the author used b4, else author and title the way
 * b4 and patchwork pair revisions. A GitHub PR names its own lineage (the
 * PR), given by the caller.
 */
export function titleLineage(series: Pick<Series, 'author' | 'title' | 'treeTags' | 'isRfc'>): string {
  const title = series.title.toLowerCase().replace(/\s+/g, ' ').trim();
  // The same title for another tree (a stable backport, net and net-next) or as an RFC is another series.
  const tags = [...series.treeTags]
    .map((t) => t.toLowerCase())
    .sort()
    .join(',');
  return `title:${series.author.address.toLowerCase()}:${tags}:${series.isRfc ? 'rfc' : ''}:${title}`;
}
