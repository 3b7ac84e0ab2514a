import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InfraError, UsageError } from '../errors.js';
import { appKeys, FakeGitHub, loadPrFixture, sampleReport } from '../testing/github-server.js';
import { createAppClient, createTokenClient, RateBudget, type RepoClient } from './client.js';
import { GitHubConfigSchema, type GitHubConfig } from '../config/integrations.js';
import { fetchPullRequest } from './pr.js';
import { publishCheckRun, publishRun } from './publish.js';
import { buildCheckRun } from './report.js';

const HEAD = '83e826e1bf826821422e1290f321a25b3c4f8e6e';
const ref = { owner: 'kdev', repo: 'linux' };
const plan = () => buildCheckRun({ status: 'completed', runId: 'run-9', headSha: HEAD, report: sampleReport('fail') });
const CHECK_RUNS = 'POST /repos/kdev/linux/check-runs';

describe('GitHubConfigSchema', () => {
  it('defaults baseUrl to api.github.com and the floor to 500; strips a trailing slash', () => {
    const c = GitHubConfigSchema.parse({ appId: 1, privateKeyFile: '/k.pem', webhookSecret: 's' });
    assert.equal(c.baseUrl, 'https://api.github.com');
    assert.equal(c.rateLimitFloor, 500);
    assert.equal(
      GitHubConfigSchema.parse({
        appId: 1,
        privateKey: 'k',
        webhookSecret: 's',
        baseUrl: 'https://ghe.example.org/api/v3/',
      }).baseUrl,
      'https://ghe.example.org/api/v3',
    );
  });
  it('wants exactly one of privateKey and privateKeyFile', () => {
    assert.throws(
      () => GitHubConfigSchema.parse({ appId: 1, webhookSecret: 's' }),
      /exactly one of privateKey and privateKeyFile/,
    );
    assert.throws(
      () => GitHubConfigSchema.parse({ appId: 1, privateKey: 'k', privateKeyFile: '/k', webhookSecret: 's' }),
      /exactly one/,
    );
  });
  it('refuses a key file that is missing or not a PEM key, as a usage error', async () => {
    await assert.rejects(
      createAppClient(GitHubConfigSchema.parse({ appId: 1, privateKeyFile: '/nonexistent/k.pem', webhookSecret: 's' })),
      (e: unknown) => e instanceof UsageError && /cannot read/.test(e.message),
    );
    await assert.rejects(
      createAppClient(GitHubConfigSchema.parse({ appId: 1, privateKey: 'ssh-rsa AAAA', webhookSecret: 's' })),
      (e: unknown) => e instanceof UsageError && /not a PEM private key/.test(e.message),
    );
  });
});

describe('RateBudget', () => {
  it('allows deferrable calls while unknown, at or above the floor, and once the window reset', () => {
    let now = 1_000_000;
    const b = new RateBudget(100, () => now);
    assert.equal(b.allowsDeferrable(), true);
    b.observe({
      'x-ratelimit-remaining': '100',
      'x-ratelimit-reset': String(now / 1000 + 60),
      'x-ratelimit-resource': 'core',
    });
    assert.equal(b.allowsDeferrable(), true);
    b.observe({ 'x-ratelimit-remaining': '99', 'x-ratelimit-reset': String(now / 1000 + 60) });
    assert.equal(b.allowsDeferrable(), false);
    b.observe({ 'x-ratelimit-remaining': '5000', 'x-ratelimit-resource': 'search' });
    assert.equal(b.remaining, 99, 'another quota does not count');
    now += 60_000;
    assert.equal(b.allowsDeferrable(), true);
  });
});

describe('the App client against the local GitHub: installation, retries, rate limits', () => {
  let gh: FakeGitHub;
  let dir: string;
  let config: GitHubConfig;
  let client: RepoClient;

  before(async () => {
    const keys = appKeys();
    gh = await FakeGitHub.start({ appPublicKey: keys.publicKey, tokens: { ghp_pat: 'ci-operator' } });
    gh.addPullRequest(loadPrFixture());
    dir = mkdtempSync(join(tmpdir(), 'ksci-gh-'));
    writeFileSync(join(dir, 'app.pem'), keys.privateKey, { mode: 0o600 });
    config = GitHubConfigSchema.parse({
      appId: gh.appId,
      privateKeyFile: join(dir, 'app.pem'),
      webhookSecret: 'x',
      baseUrl: gh.baseUrl,
      rateLimitFloor: 100,
    });
    client = await (await createAppClient(config, { msPerSecond: 1 })).forRepo(ref);
  });
  after(async () => {
    await gh.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('looks the installation up once per repository, or not at all when a webhook named it', async () => {
    const github = await createAppClient(config, { msPerSecond: 1 });
    const lookups = () => gh.requests.filter((r) => r.path === '/repos/kdev/linux/installation').length;
    const before = lookups();
    await github.forRepo(ref);
    await github.forRepo(ref);
    assert.equal(lookups(), before + 1);
    const fresh = await createAppClient(config, { msPerSecond: 1 });
    const named = await fresh.forRepo(ref, 1);
    assert.equal((await fetchPullRequest(named, 7)).number, 7);
    assert.equal(lookups(), before + 1);
    assert.equal(await named.login(), 'ksci-test[bot]');
  });

  it('says the app is not installed on a repository it cannot see', async () => {
    const github = await createAppClient(config, { msPerSecond: 1 });
    await assert.rejects(
      github.forRepo({ owner: 'someone', repo: 'else' }),
      (e: unknown) => e instanceof UsageError && /not installed on someone\/else/.test(e.message),
    );
  });

  it('retries 502s and then succeeds', async () => {
    gh.failNext(2, 502, CHECK_RUNS);
    const before = gh.requests.length;
    const id = await publishCheckRun(client, plan(), null);
    assert.ok(gh.checkRuns.has(id));
    // The first call of this client also fetches its installation token.
    assert.deepEqual(
      gh.requests.slice(before).map((r) => `${r.method} ${r.path}`),
      ['POST /app/installations/1/access_tokens', CHECK_RUNS, CHECK_RUNS, CHECK_RUNS],
    );
  });

  it('gives up after the retries, as an infrastructure error', async () => {
    gh.failNext(4, 503, CHECK_RUNS);
    await assert.rejects(
      publishCheckRun(client, plan(), null),
      (e: unknown) => e instanceof InfraError && /GitHub answered 503/.test(e.message),
    );
  });

  for (const kind of ['primary', 'secondary'] as const) {
    it(`waits out a ${kind} rate limit (403) for the time GitHub names, then retries`, async () => {
      gh.rateLimitNext(kind, { match: CHECK_RUNS, waitSeconds: 40 });
      const before = gh.requests.length;
      await publishCheckRun(client, plan(), null);
      const tries = gh.requests.slice(before).filter((r) => `${r.method} ${r.path}` === CHECK_RUNS);
      assert.equal(tries.length, 2);
      // 40 "seconds" at the test's 1 ms per second.
      assert.ok(tries[1]!.at - tries[0]!.at >= 35, `waited ${tries[1]!.at - tries[0]!.at} ms`);
    });
  }

  it('fails a call whose rate limit resets later than it may wait, naming the reset time', async () => {
    const impatient = await (await createAppClient(config, { msPerSecond: 1, maxRateLimitWaitSeconds: 10 })).forRepo(
      ref,
      1,
    );
    gh.rateLimitNext('primary', { match: 'GET /repos/kdev/linux/pulls/7', waitSeconds: 600 });
    await assert.rejects(
      fetchPullRequest(impatient, 7),
      (e: unknown) =>
        e instanceof InfraError && /403/.test(e.message) && /rate limited until \d{4}-/.test(e.hint ?? ''),
    );
  });

  it('below the floor publishes the check run only and defers comment and labels until the quota is back', async () => {
    gh.setRateLimit(50, 600);
    const before = gh.requests.length;
    const run = { status: 'completed' as const, runId: 'run-10', headSha: HEAD, report: sampleReport('fail') };
    const first = await publishRun(client, { number: 7, checkRunId: null, run });
    assert.deepEqual(first.deferred, ['comment', 'labels']);
    assert.equal(first.retryAt?.getTime(), client.budget.resetAt);
    assert.ok(first.retryAt!.getTime() > Date.now() + 500_000);
    assert.deepEqual(
      gh.requests.slice(before).map((r) => `${r.method} ${r.path}`),
      [CHECK_RUNS],
    );

    gh.setRateLimit(5000);
    await fetchPullRequest(client, 7); // any essential call refreshes the reading
    const mid = gh.requests.length;
    const later = await publishRun(client, { number: 7, checkRunId: first.checkRunId, run, steps: first.deferred });
    assert.deepEqual(later.deferred, []);
    const calls = gh.requests.slice(mid).map((r) => `${r.method} ${r.path}`);
    assert.ok(!calls.some((c) => c.includes('check-runs')), 'the check run is not sent twice');
    assert.ok(calls.includes('POST /repos/kdev/linux/issues/7/comments'));
    assert.ok(gh.labelsOf('kdev', 'linux', 7).includes('ci-fail'));
  });

  it('token mode: the same calls with a personal access token', async () => {
    const pat = await createTokenClient({ token: 'ghp_pat', baseUrl: gh.baseUrl }, { msPerSecond: 1 }).forRepo(ref);
    assert.equal(await pat.login(), 'ci-operator');
    assert.equal((await fetchPullRequest(pat, 7)).head.sha, HEAD);
    assert.equal(gh.requests.at(-1)!.headers.authorization, 'token ghp_pat');
  });
});
