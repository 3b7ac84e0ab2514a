import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger } from '../log.js';
import { reportStage } from '../stages/report/stage.js';
import { appKeys, FakeGitHub, loadPrFixture, type PrFixture } from '../testing/github-server.js';
import { startPipeline, type Pipeline } from '../testing/harness.js';
import { fixturePath } from '../testing/paths.js';
import { scriptedStage } from '../testing/stages.js';
import { analyzeBuildLog, type Diagnostic } from '../build/log.js';
import type { RunRecord } from '../store/results.js';
import { annotationsOf, decidePullRequest } from './bot.js';
import { createAppClient } from './client.js';
import { GitHubConfigSchema } from '../config/integrations.js';
import { startGitHubBot, type RunningGitHubBot } from '../app/github.js';
import { RedisDeliveryLog } from './webhook.js';

const SECRET = 'webhook-secret-for-tests';
const REPO = { repo: 'kdev/linux', tree: null, drafts: false, skipLabel: 'ksci:skip', perfLabel: 'ksci:perf' };

describe('annotationsOf', () => {
  it('puts the compiler errors of the series and the warnings it added on their lines (real build logs)', () => {
    const errors = analyzeBuildLog(readFileSync(fixturePath('build', 'build-error.log'), 'utf8')).errors;
    const added = analyzeBuildLog(readFileSync(fixturePath('build', 'new-warnings.log'), 'utf8')).warnings.filter(
      (d) => d.file !== null,
    );
    assert.ok(errors.length > 0 && added.length > 0);
    const outcome = { errors, warnings: added };
    const run = {
      stages: [
        {
          name: 'build',
          result: { data: { toolchain: 'gcc', toolchainVersions: {}, builds: [buildOf('vm', outcome, added)] } },
        },
      ],
    } as unknown as RunRecord;
    const got = annotationsOf(run);
    assert.deepEqual(got[0], {
      path: 'net/core/skbuff.c',
      line: 6218,
      level: 'failure',
      message: `${errors[0]!.message}${errors[0]!.flag ? ` [${errors[0]!.flag}]` : ''} (vm)`,
    });
    assert.equal(got.filter((a) => a.level === 'warning').length, added.filter((d) => d.line !== null).length);
    assert.deepEqual(annotationsOf({ stages: [] } as unknown as RunRecord), [], 'no build stage: nothing to annotate');
  });
});

/** A build stage's per-config result around real diagnostics (the fields annotations read, the rest filled). */
function buildOf(config: string, series: { errors: Diagnostic[]; warnings: Diagnostic[] }, added: Diagnostic[]) {
  const outcome = (d: { errors: Diagnostic[]; warnings: Diagnostic[] }) => ({
    config,
    commit: 'c',
    treeId: 't',
    status: d.errors.length ? 'failed' : 'ok',
    cacheHit: false,
    durationMs: 1,
    artifactKey: 'k',
    artifactDir: '/x',
    configMismatches: [],
    firstError: d.errors[0] ?? null,
    errors: d.errors,
    failedTargets: [],
    warnings: d.warnings,
    steps: 1,
    networkAttempt: false,
    logTail: [],
  });
  return {
    config,
    configHash: 'h',
    base: outcome({ errors: [], warnings: [] }),
    series: outcome(series),
    perPatch: [],
    warnings: { before: 0, after: added.length, added, removed: [] },
    selftests: null,
  };
}

describe('decidePullRequest', () => {
  const ev = { action: 'opened' as const, draft: false, labels: [] as string[], label: null };
  it('tests pushes, asks for perf by label, skips drafts and ksci:skip, cancels on close', () => {
    assert.deepEqual(decidePullRequest(ev, REPO), { do: 'test', perf: false });
    assert.deepEqual(decidePullRequest({ ...ev, labels: ['ksci:perf'] }, REPO), { do: 'test', perf: true });
    assert.deepEqual(decidePullRequest({ ...ev, draft: true }, REPO), {
      do: 'ignore',
      reason: 'a draft (github.repos[].drafts is off)',
    });
    assert.deepEqual(decidePullRequest({ ...ev, draft: true }, { ...REPO, drafts: true }), { do: 'test', perf: false });
    assert.deepEqual(decidePullRequest({ ...ev, labels: ['ksci:skip', 'ksci:perf'] }, REPO), {
      do: 'ignore',
      reason: 'labelled ksci:skip',
    });
    assert.deepEqual(decidePullRequest({ ...ev, action: 'labeled', label: 'networking' }, REPO), {
      do: 'ignore',
      reason: 'label networking asks for nothing',
    });
    assert.deepEqual(decidePullRequest({ ...ev, action: 'labeled', label: 'ksci:perf', labels: ['ksci:perf'] }, REPO), {
      do: 'test',
      perf: true,
    });
    assert.deepEqual(decidePullRequest({ ...ev, action: 'closed' }, REPO), {
      do: 'cancel',
      reason: 'the pull request was closed',
    });
  });
});

/**
 * The PR bot as `ksci serve` runs it: webhook deliveries signed like
 * GitHub's over real HTTP, the production App client against the local
 * GitHub, the real coordinator and queues. The stage holds runs until told,
 * so pushes can land while a run is in flight.
 */
describe('the pull-request bot against the local GitHub', { timeout: 180_000 }, () => {
  let gh: FakeGitHub;
  let p: Pipeline;
  let running: RunningGitHubBot;
  let fx: PrFixture;
  let hold = true;
  const token = 'ghp_readonly_for_the_test';

  before(async () => {
    const keys = appKeys();
    gh = await FakeGitHub.start({ appPublicKey: keys.publicKey, tokens: { [token]: 'observer' } });
    fx = loadPrFixture();
    gh.addPullRequest(fx);
    gh.setRole('kdev', 'linux', 'kmaint', 'write');
    gh.setRole('kdev', 'linux', 'drive-by', 'read');
    const stage = scriptedStage(
      'apply',
      async (ctx) => {
        while (hold) {
          if (ctx.signal.aborted) throw new Error('aborted');
          await sleep(50);
        }
        return { status: 'passed', summary: 'applied', data: null };
      },
      { concurrency: 4 },
    );
    p = await startPipeline([stage, reportStage([])], {
      config: {
        github: {
          app: { appId: gh.appId, privateKey: keys.privateKey, webhookSecret: SECRET, baseUrl: gh.baseUrl },
          webhook: { host: '127.0.0.1', port: 0 },
          repos: [{ repo: 'kdev/linux', tree: 'test-tree' }],
        },
        resultsUrl: 'https://ksci.example.org/runs/{run}',
      },
    });
    const client = await createAppClient(GitHubConfigSchema.parse(p.config.github.app), { msPerSecond: 1 });
    running = await startGitHubBot({
      config: p.config,
      coordinator: p.coordinator,
      services: p.services,
      log: silentLogger,
      client,
    });
  });
  after(async () => {
    hold = false;
    await running?.close(true);
    await p?.close();
    await gh?.close();
  });

  /** The PR as GitHub's REST API has it now, to build deliveries from. */
  async function prObject(): Promise<Record<string, unknown>> {
    const r = await fetch(`${gh.baseUrl}/repos/kdev/linux/pulls/7`, { headers: { authorization: `token ${token}` } });
    return (await r.json()) as Record<string, unknown>;
  }

  async function deliver(
    event: string,
    payload: unknown,
    opts: { secret?: string; id?: string } = {},
  ): Promise<{ status: number; id: string }> {
    const body = Buffer.from(JSON.stringify(payload));
    const id = opts.id ?? randomUUID();
    const sig = `sha256=${createHmac('sha256', opts.secret ?? SECRET)
      .update(body)
      .digest('hex')}`;
    const r = await fetch(running.webhookUrl, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'x-github-event': event,
        'x-github-delivery': id,
        'x-hub-signature-256': sig,
      },
    });
    await r.text();
    return { status: r.status, id };
  }

  const example = (name: string) =>
    JSON.parse(readFileSync(fixturePath('github', 'webhooks', `${name}.json`), 'utf8')) as Record<string, unknown>;
  const repository = { name: 'linux', full_name: 'kdev/linux', owner: { login: 'kdev' } };
  const prEvent = async (action: string) => ({
    ...example('pull_request.opened'),
    action,
    number: 7,
    pull_request: await prObject(),
    repository: { ...(example('pull_request.opened')['repository'] as object), ...repository },
    installation: { id: 1 },
    sender: { login: 'janedev' },
  });
  const commentEvent = (login: string, body: string) => {
    const ex = example('issue_comment.created.with-installation');
    return {
      ...ex,
      issue: { ...(ex['issue'] as object), number: 7, pull_request: { url: `${gh.baseUrl}/repos/kdev/linux/pulls/7` } },
      comment: {
        ...(ex['comment'] as object),
        id: Math.floor(Math.random() * 1e9),
        body,
        user: { login, type: 'User' },
      },
      repository: { ...(ex['repository'] as object), ...repository },
      installation: { id: 1 },
      sender: { login },
    };
  };

  async function until<T>(what: string, f: () => T | undefined | false | null, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = f();
      if (v) return v;
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await sleep(50);
    }
  }
  const checkRunsFor = (sha: string) => [...gh.checkRuns.values()].filter((c) => c.run.head_sha === sha);
  const ksciComments = () => gh.comments('kdev', 'linux', 7).filter((c) => c.user?.login === `${gh.appSlug}[bot]`);
  const head = () => fx.commits.at(-1)!.sha;
  /** The last commit amended and pushed again: a new sha, a changed diff. */
  const repush = (sha: string, newSha: string, tag: string) => {
    const text = fx.patches.get(sha)!.toString('latin1').replace(sha, newSha);
    const at = text.lastIndexOf('\n+');
    assert.ok(at > 0, 'the patch adds a line');
    return Buffer.from(`${text.slice(0, at)}\n+/* ${tag} */${text.slice(at)}`, 'latin1');
  };

  it('a forged delivery is refused with 401 and nothing is queued', async () => {
    const before = gh.requests.length;
    const r = await deliver('pull_request', await prEvent('opened'), { secret: 'not the secret' });
    assert.equal(r.status, 401);
    await sleep(500);
    assert.equal(gh.requests.filter((q, i) => i >= before && q.path.includes('check-runs')).length, 0);
    assert.equal((await p.services.store!.listRuns()).length, 0);
  });

  it('opened: the PR is tested, the check run goes queued → in progress → success, one sticky comment, ci-pass', async () => {
    const first = await deliver('pull_request', await prEvent('opened'));
    assert.equal(first.status, 202);
    const check = await until('a queued check run', () => checkRunsFor(head())[0]);
    assert.equal(check.run.name, 'ksci');
    await until('the run to start', () => checkRunsFor(head())[0]?.run.status === 'in_progress');
    assert.equal(ksciComments().length, 1);
    assert.equal(
      (await deliver('pull_request', await prEvent('opened'), { id: first.id })).status,
      409,
      'a replayed delivery is refused',
    );
    // The memory of deliveries is in Redis: another receiver (or this one after a restart) refuses it too.
    const other = p.services.redis.client();
    try {
      assert.equal(await new RedisDeliveryLog(other).claim(first.id), false);
    } finally {
      other.disconnect();
    }

    hold = false;
    const done = await until('the check run to complete', () =>
      checkRunsFor(head())[0]?.run.status === 'completed' ? checkRunsFor(head())[0] : null,
    );
    assert.equal(done.run.conclusion, 'success');
    assert.match(String(done.run.details_url), /^https:\/\/ksci\.example\.org\/runs\//);
    await until('ci-pass', () => gh.labelsOf('kdev', 'linux', 7).includes('ci-pass'));
    assert.equal(ksciComments().length, 1);
    assert.match(ksciComments()[0]!.body ?? '', /PASS/);
    const runs = await p.services.store!.listRuns();
    assert.equal(runs.length, 1);
    const series = await p.services.store!.getSeries(runs[0]!.seriesId);
    assert.equal(series?.patches.length, fx.commits.length);
    assert.equal(series?.baseCommit, fx.base.sha, "the PR's base is the series' base-commit");
  });

  it('a new push while a run is in flight supersedes it; the same comment is edited, not a new one', async () => {
    hold = true;
    const firstPush = { ...fx, commits: fx.commits.slice(0, 2) };
    gh.addPullRequest(firstPush);
    await deliver('pull_request', await prEvent('synchronize'));
    await until(
      'its check run to run',
      () => checkRunsFor(firstPush.commits.at(-1)!.sha)[0]?.run.status === 'in_progress',
    );
    const [older] = await p.services.store!.listRuns({ status: ['running'] });

    gh.addPullRequest({ ...fx, commits: [...fx.commits.slice(0, 2), { ...fx.commits[2]!, sha: 'f'.repeat(40) }] });
    fx.patches.set('f'.repeat(40), repush(fx.commits[2]!.sha, 'f'.repeat(40), 'v2'));
    await deliver('pull_request', await prEvent('synchronize'));
    const cancelled = await until('the older check run to end as cancelled', () =>
      checkRunsFor(firstPush.commits.at(-1)!.sha).find((c) => c.run.status === 'completed'),
    );
    assert.equal(cancelled.run.conclusion, 'cancelled');
    assert.equal((await p.services.store!.getRun(older!.id))?.status, 'cancelled');
    hold = false;
    const newest = await until('the newest push to pass', () =>
      checkRunsFor('f'.repeat(40)).find((c) => c.run.status === 'completed'),
    );
    assert.equal(newest.run.conclusion, 'success');
    await sleep(300);
    assert.equal(ksciComments().length, 1, 'one sticky comment for the whole PR');
    assert.match(ksciComments()[0]!.body ?? '', /Earlier pushes/);
  });

  it("commands: a read-only user gets a polite no; a maintainer's /ksci retest runs it again", async () => {
    const runsBefore = (await p.services.store!.listRuns()).length;
    const commentsBefore = gh.comments('kdev', 'linux', 7).length;
    assert.equal((await deliver('issue_comment', commentEvent('drive-by', '/ksci retest'))).status, 202);
    await until('the refusal', () => gh.comments('kdev', 'linux', 7).length > commentsBefore);
    assert.match(gh.comments('kdev', 'linux', 7).at(-1)!.body ?? '', /@drive-by: .*write access/);
    assert.equal(
      (await p.services.store!.listRuns()).length,
      runsBefore,
      'nothing queued for a user without write access',
    );

    assert.equal(
      (await deliver('issue_comment', commentEvent('kmaint', 'Looks fine, but:\n/ksci retest'))).status,
      202,
    );
    const deadline = Date.now() + 60_000;
    while ((await p.services.store!.listRuns()).length === runsBefore && Date.now() < deadline) await sleep(100);
    const runs = await p.services.store!.listRuns();
    assert.equal(runs.length, runsBefore + 1);
    assert.equal((await p.services.store!.getRun(runs[0]!.id))?.requestedBy, 'github:kmaint');
  });

  it('a PR that cannot be a series (a merge commit) gets a failed check run that says why, and no run', async () => {
    const merged = {
      ...fx,
      number: 8,
      commits: [
        ...fx.commits.slice(0, 2),
        {
          ...fx.commits[2]!,
          sha: 'd'.repeat(40),
          parents: [...fx.commits[2]!.parents, { sha: '1'.repeat(40), url: '', html_url: '' }],
        },
      ],
    };
    gh.addPullRequest(merged);
    const runs = (await p.services.store!.listRuns()).length;
    const pr8 = (await (
      await fetch(`${gh.baseUrl}/repos/kdev/linux/pulls/8`, { headers: { authorization: `token ${token}` } })
    ).json()) as Record<string, unknown>;
    const ev = await prEvent('opened');
    assert.equal((await deliver('pull_request', { ...ev, number: 8, pull_request: pr8 })).status, 202);
    const check = await until('the refusal', () =>
      checkRunsFor('d'.repeat(40)).find((c) => c.run.status === 'completed'),
    );
    assert.equal(check.run.conclusion, 'failure');
    assert.match(
      String((check.run.output as { summary?: string }).summary),
      /merge commit d{12}; ksci tests a linear series/,
    );
    assert.equal((await p.services.store!.listRuns()).length, runs);
  });

  it('webhooks off: a poll finds a push that no delivery announced', async () => {
    const polled = { ...fx, commits: [...fx.commits.slice(0, 2), { ...fx.commits[2]!, sha: 'e'.repeat(40) }] };
    fx.patches.set('e'.repeat(40), repush(fx.commits[2]!.sha, 'e'.repeat(40), 'v3'));
    gh.addPullRequest(polled);
    assert.deepEqual(await running.bot.poll('kdev/linux'), { submitted: 1 });
    assert.deepEqual(
      await running.bot.poll('kdev/linux'),
      { submitted: 0 },
      'a head already tested is not submitted again',
    );
  });
});
