import { z } from 'zod';
import type { RepoRef } from './client.js';

/*
 * The parts of GitHub's objects ksci reads, validated wherever they come in:
 * a REST response and a webhook payload carry the same pull request object.
 * Unknown fields pass; a missing or mistyped field ksci relies on fails the
 * parse, so a changed API shows up as an error rather than as `undefined`.
 */

export const Sha = z.string().regex(/^[0-9a-f]{40}$/, 'a 40-hex commit id');

const UserRef = z.object({ login: z.string().min(1), id: z.number().int(), type: z.string() });

const RepoObject = z.object({
  name: z.string().min(1),
  full_name: z.string().min(1),
  owner: z.object({ login: z.string().min(1) }),
});

export const PullRequestObject = z.object({
  number: z.number().int().positive(),
  title: z.string(),
  body: z.string().nullable(),
  html_url: z.string(),
  state: z.enum(['open', 'closed']),
  draft: z.boolean().optional(),
  merged: z.boolean().optional(),
  created_at: z.string(),
  /** Absent from the list endpoint; the single-PR endpoint and webhooks carry it. */
  commits: z.number().int().min(0).optional(),
  user: UserRef,
  labels: z.array(z.object({ name: z.string() })),
  head: z.object({ sha: Sha, ref: z.string(), repo: RepoObject.nullable() }),
  base: z.object({ sha: Sha, ref: z.string(), repo: RepoObject }),
});

export interface PullRequestInfo {
  repo: RepoRef;
  number: number;
  title: string;
  /** '' when the PR has no description; CRLF (as the web editor sends) turned into LF. */
  body: string;
  htmlUrl: string;
  state: 'open' | 'closed';
  draft: boolean;
  merged: boolean;
  createdAt: string;
  commits: number | null;
  author: { login: string; id: number };
  labels: string[];
  head: { sha: string; ref: string; repo: string | null };
  base: { sha: string; ref: string; repo: string };
  /**
   * The head lives in another repository (or one since deleted): its code
   * comes from someone without write access to the base, as GitHub Actions
   * reads "fork".
   */
  fromFork: boolean;
}

export function toPullRequestInfo(pr: z.infer<typeof PullRequestObject>): PullRequestInfo {
  const base = pr.base.repo;
  return {
    repo: { owner: base.owner.login, repo: base.name },
    number: pr.number,
    title: pr.title,
    body: (pr.body ?? '').replace(/\r\n?/g, '\n'),
    htmlUrl: pr.html_url,
    state: pr.state,
    draft: pr.draft ?? false,
    merged: pr.merged ?? false,
    createdAt: pr.created_at,
    commits: pr.commits ?? null,
    author: { login: pr.user.login, id: pr.user.id },
    labels: pr.labels.map((l) => l.name),
    head: { sha: pr.head.sha, ref: pr.head.ref, repo: pr.head.repo?.full_name ?? null },
    base: { sha: pr.base.sha, ref: pr.base.ref, repo: base.full_name },
    fromFork: pr.head.repo === null || pr.head.repo.full_name.toLowerCase() !== base.full_name.toLowerCase(),
  };
}
