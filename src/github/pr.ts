import { z } from 'zod';
import { BadInputError, InfraError, UsageError } from '../errors.js';
import { parseMbox, type LoadOptions } from '../series/load.js';
import type { Series } from '../series/types.js';
import { githubFailure, type RepoClient, type RepoRef } from './client.js';
import { PullRequestObject, Sha, toPullRequestInfo, type PullRequestInfo } from './schemas.js';

/** GitHub's "list commits on a pull request" stops at 250, so a longer PR cannot be read whole. */
const GITHUB_PR_COMMIT_LIMIT = 250;

const NAME = /^[A-Za-z0-9_.-]+$/;

/** https://github.com/OWNER/REPO/pull/N (anything after N, such as /files or #discussion, is ignored). */
export function parsePrUrl(url: string): RepoRef & { number: number; host: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(
      `${url} is not a URL`,
      'give a pull request URL such as https://github.com/OWNER/REPO/pull/123',
    );
  }
  const [owner, repo, kind, num] = u.pathname.split('/').filter((p) => p.length > 0);
  const number = Number(num);
  if (
    (u.protocol !== 'https:' && u.protocol !== 'http:') ||
    !owner ||
    !repo ||
    !NAME.test(owner) ||
    !NAME.test(repo) ||
    kind !== 'pull' ||
    !Number.isSafeInteger(number) ||
    number < 1
  ) {
    throw new UsageError(`${url} is not a pull request URL`, 'give one such as https://github.com/OWNER/REPO/pull/123');
  }
  return { owner, repo, number, host: u.host };
}

export async function fetchPullRequest(client: RepoClient, number: number): Promise<PullRequestInfo> {
  const what = `reading pull request ${client.owner}/${client.repo}#${number}`;
  try {
    const { data } = await client.octokit.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', {
      owner: client.owner,
      repo: client.repo,
      pull_number: number,
    });
    return toPullRequestInfo(PullRequestObject.parse(data));
  } catch (err) {
    throw githubFailure(err, what);
  }
}

const CommitItem = z.object({
  sha: Sha,
  commit: z.object({ message: z.string() }),
  parents: z.array(z.object({ sha: Sha })),
});

export interface PrPatch {
  sha: string;
  /** The commit's subject: its first paragraph on one line, as format-patch makes it. */
  title: string;
  /** GitHub's format-patch text of the commit, as bytes. */
  patch: Buffer;
}

/**
 * The PR's commits, oldest first, each as format-patch text. Refuses merge
 * commits (a series is linear) and a PR that moved while it was read.
 */
export async function fetchPrPatches(client: RepoClient, pr: PullRequestInfo, maxCommits: number): Promise<PrPatch[]> {
  const cap = Math.min(maxCommits, GITHUB_PR_COMMIT_LIMIT);
  const name = `${client.owner}/${client.repo}#${pr.number}`;
  const tooMany = (n: number | string) =>
    new BadInputError(`${name} has ${n} commits, more than the limit of ${cap}`, 'split the pull request');
  if (pr.commits !== null && pr.commits > cap) throw tooMany(pr.commits);

  const commits: z.infer<typeof CommitItem>[] = [];
  try {
    const pages = client.octokit.paginate.iterator('GET /repos/{owner}/{repo}/pulls/{pull_number}/commits', {
      owner: client.owner,
      repo: client.repo,
      pull_number: pr.number,
      per_page: 100,
    });
    for await (const page of pages) {
      commits.push(...z.array(CommitItem).parse(page.data));
      if (commits.length > cap) throw tooMany(`more than ${cap}`);
    }
  } catch (err) {
    throw githubFailure(err, `listing the commits of ${name}`);
  }
  if (commits.length === 0) throw new BadInputError(`${name} has no commits`);
  const merge = commits.find((c) => c.parents.length > 1);
  if (merge)
    throw new BadInputError(
      `${name} contains the merge commit ${merge.sha.slice(0, 12)}; ksci tests a linear series`,
      'rebase the branch instead of merging into it',
    );
  if (commits[commits.length - 1]!.sha !== pr.head.sha) {
    throw new InfraError(
      `${name} was pushed to while ksci read it (head ${pr.head.sha.slice(0, 12)}, commits end at ${commits[commits.length - 1]!.sha.slice(0, 12)})`,
      'the next push event starts a run of the new head; or retry',
    );
  }
  // In parallel: the throttling plugin bounds the concurrency.
  return Promise.all(
    commits.map(async (c) => ({
      sha: c.sha,
      title: commitTitle(c.commit.message),
      patch: await fetchPatch(client, c.sha),
    })),
  );
}

async function fetchPatch(client: RepoClient, sha: string): Promise<Buffer> {
  let data: unknown;
  try {
    ({ data } = await client.octokit.request('GET /repos/{owner}/{repo}/commits/{ref}', {
      owner: client.owner,
      repo: client.repo,
      ref: sha,
      headers: { accept: 'application/vnd.github.patch' },
    }));
  } catch (err) {
    throw githubFailure(err, `fetching commit ${sha.slice(0, 12)} as a patch`);
  }
  // octokit hands text/* and charset=utf-8 bodies over as strings, other types as bytes.
  const patch =
    typeof data === 'string' ? Buffer.from(data, 'utf8') : data instanceof ArrayBuffer ? Buffer.from(data) : null;
  if (!patch?.toString('latin1', 0, 46).startsWith(`From ${sha} `)) {
    throw new InfraError(
      `GitHub's patch for commit ${sha.slice(0, 12)} is not format-patch text`,
      'a proxy in the way, or a GitHub API change; report it',
    );
  }
  return patch;
}

function commitTitle(message: string): string {
  const first =
    message
      .replace(/\r\n?/g, '\n')
      .trim()
      .split(/\n[ \t]*\n/)[0] ?? '';
  return first.replace(/\s*\n\s*/g, ' ').trim() || '(no subject)';
}

/** Stable across fetches of the same push, different for every push: what dedup and threading need. */
export function prMessageId(pr: PullRequestInfo, counter: number): string {
  return `ksci.${pr.repo.owner}.${pr.repo.repo}.pr${pr.number}.${pr.head.sha.slice(0, 12)}.${counter}@github`.toLowerCase();
}

/** RFC 2047 for non-ASCII, in encoded words of at most 75 characters. */
function encodeHeader(text: string): string {
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  const words: string[] = [];
  let chunk = '';
  for (const ch of text) {
    if (Buffer.byteLength(chunk + ch) > 45) {
      words.push(chunk);
      chunk = '';
    }
    chunk += ch;
  }
  words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w).toString('base64')}?=`).join('\n ');
}

/**
 * The PR mbox is mboxrd (bodies escaped below), so its From_ lines are
 * public-inbox's: git format-patch's magic line would tell splitMbox the
 * bodies were never escaped.
 */
const MBOXRD_FROM = 'From mboxrd@z Thu Jan  1 00:00:00 1970';

/** mboxrd: a body line that looks like a From_ line (or an escaped one) gets one more '>'. */
function escapeFromLines(body: string): string {
  return body.replace(/^(>*From )/gm, '>$1');
}

/** Headers this module sets; GitHub's own are dropped so a message carries one of each. */
const REPLACED = new Set(['subject', 'message-id', 'in-reply-to', 'references']);

function threadedPatch(p: PrPatch, counter: number, total: number, coverId: string, pr: PullRequestInfo): Buffer {
  // latin1 keeps every byte as it came: what `git am` gets is what GitHub sent.
  const text = p.patch.toString('latin1');
  const end = text.indexOf('\n\n');
  if (end < 0) throw new InfraError(`GitHub's patch for commit ${p.sha.slice(0, 12)} has no body`);
  const lines = text.slice(0, end).split('\n').slice(1);
  const kept: string[] = [];
  let keep = true;
  for (const line of lines) {
    if (/^[ \t]/.test(line)) {
      if (keep) kept.push(line);
      continue;
    }
    keep = !REPLACED.has(line.slice(0, line.indexOf(':')).trim().toLowerCase());
    if (keep) kept.push(line);
  }
  const headers = [
    MBOXRD_FROM,
    ...kept,
    `Subject: [PATCH ${counter}/${total}] ${encodeHeader(p.title)}`,
    `Message-ID: <${prMessageId(pr, counter)}>`,
    `In-Reply-To: <${coverId}>`,
    `References: <${coverId}>`,
  ];
  return Buffer.from(`${headers.join('\n')}\n\n${escapeFromLines(text.slice(end + 2))}`, 'latin1');
}

function rfc2822(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? new Date(0).toUTCString() : d.toUTCString();
}

/**
 * The PR as the mbox a mailing list would carry: a cover letter from the
 * title and description ([PATCH 0/N], with the PR's base as base-commit so
 * the series is applied where the PR was opened against), then the commits
 * as [PATCH k/N] replies to it.
 */
export function prToMbox(pr: PullRequestInfo, patches: PrPatch[]): Buffer {
  const total = patches.length;
  const coverId = prMessageId(pr, 0);
  const author = pr.author.login;
  const coverBody = [
    pr.body.trim() || '(no description)',
    '',
    `Pull request: ${pr.htmlUrl}`,
    `Head: ${pr.head.sha} (${pr.head.repo ?? 'deleted repository'} ${pr.head.ref})`,
    '',
    `base-commit: ${pr.base.sha}`,
    '',
  ].join('\n');
  const cover = [
    MBOXRD_FROM,
    `From: "${author}" <${pr.author.id}+${author}@users.noreply.github.com>`,
    `Date: ${rfc2822(pr.createdAt)}`,
    `Subject: [PATCH 0/${total}] ${encodeHeader(pr.title)}`,
    `Message-ID: <${coverId}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=UTF-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    escapeFromLines(coverBody),
  ].join('\n');
  const parts: Buffer[] = [Buffer.from(cover, 'utf8')];
  patches.forEach((p, i) => {
    // A From_ line only counts after a blank line.
    const last = parts[parts.length - 1]!;
    parts.push(Buffer.from(last.at(-1) === 0x0a ? '\n' : '\n\n'), threadedPatch(p, i + 1, total, coverId, pr));
  });
  return Buffer.concat(parts);
}

/** A PR to ksci's series, through the same parser as mail, so limits and checks are the same. */
export async function loadPrSeries(
  client: RepoClient,
  number: number,
  opts: LoadOptions,
): Promise<{ pr: PullRequestInfo; mbox: Buffer; series: Series }> {
  const pr = await fetchPullRequest(client, number);
  const patches = await fetchPrPatches(client, pr, opts.maxPatches);
  const mbox = prToMbox(pr, patches);
  return { pr, mbox, series: await parseMbox(mbox, opts) };
}
