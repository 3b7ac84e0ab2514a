import { z } from 'zod';
import type { PerfAlert } from '../perf/history.js';
import { githubFailure, type RepoClient } from './client.js';

/** What identifies a change point's issue: a later night that sees the same change updates it. */
export function trackingMarker(a: Pick<PerfAlert, 'tree' | 'scenario' | 'firstChanged'>): string {
  return `<!-- ksci:changepoint ${a.tree} ${a.scenario} ${a.firstChanged} -->`;
}

/** The tracking issue of one nightly change point. Pure. */
export function trackingIssue(a: PerfAlert): { title: string; body: string } {
  const pct = `${a.change > 0 ? '+' : ''}${(a.change * 100).toFixed(1)}%`;
  const title = `ksci nightly: ${a.scenario} ${a.direction} ${pct} on ${a.tree} at ${a.firstChanged.slice(0, 12)}`;
  const body = [
    trackingMarker(a),
    `ksci's nightly throughput tracking found a **${a.direction}** of **${pct}** in \`${a.scenario}\` on \`${a.tree}\` (p=${a.p.toPrecision(2)}).`,
    '',
    `- last good: \`${a.lastGood}\``,
    `- first changed: \`${a.firstChanged}\``,
    `- find the commit: \`ksci nightly bisect ${a.tree} ${a.scenario} ${a.lastGood.slice(0, 12)} ${a.firstChanged.slice(0, 12)}\``,
    '',
    '```',
    a.report.trimEnd(),
    '```',
    '',
  ].join('\n');
  return { title, body };
}

const IssueSchema = z.object({
  number: z.number().int(),
  body: z.string().nullable().optional(),
  html_url: z.string(),
});

/**
 * Opens the change point's issue, or updates it when one with its marker
 * is open already (ksci's own: label and marker both). Returns its URL.
 */
export async function upsertTrackingIssue(
  client: RepoClient,
  alert: PerfAlert,
  opts: { label: string },
): Promise<{ url: string; created: boolean }> {
  const { title, body } = trackingIssue(alert);
  const marker = trackingMarker(alert);
  const where = { owner: client.owner, repo: client.repo };
  try {
    for await (const page of client.octokit.paginate.iterator('GET /repos/{owner}/{repo}/issues', {
      ...where,
      state: 'open',
      labels: opts.label,
      per_page: 100,
    })) {
      const found = z
        .array(IssueSchema)
        .parse(page.data)
        .find((i) => (i.body ?? '').startsWith(marker));
      if (found) {
        await client.octokit.request('PATCH /repos/{owner}/{repo}/issues/{issue_number}', {
          ...where,
          issue_number: found.number,
          title,
          body,
        });
        return { url: found.html_url, created: false };
      }
    }
    const { data } = await client.octokit.request('POST /repos/{owner}/{repo}/issues', {
      ...where,
      title,
      body,
      labels: [opts.label],
    });
    return { url: IssueSchema.parse(data).html_url, created: true };
  } catch (err) {
    throw githubFailure(err, `opening the tracking issue for ${alert.scenario} on ${client.owner}/${client.repo}`);
  }
}
