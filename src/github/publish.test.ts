import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertGolden, sampleReport, startGitHubWithApp, type FakeGitHub } from '../testing/github-server.js';
import type { RepoClient } from './client.js';
import { publishCheckRun, publishRun } from './publish.js';
import { buildCheckRun, type BuildAnnotation } from './report.js';

/*
 * The production App client against the local GitHub: only baseUrl differs
 * from what talks to api.github.com. The throttling plugin spaces writes a
 * second apart, which is most of this file's run time.
 */

const FIRST_PUSH = '2aa57ba6234e034fc4f795040d3a178c66f4e828';
const SECOND_PUSH = '83e826e1bf826821422e1290f321a25b3c4f8e6e';
const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

describe('publishing to a pull request (App client against the local GitHub)', () => {
  let gh: FakeGitHub;
  let client: RepoClient;

  before(async () => {
    ({ gh, client } = await startGitHubWithApp());
  });
  after(() => gh.close());

  it('first push: creates the check run and the comment, labels ci-fail; exact payloads; app JWT then installation token', async () => {
    // Someone pasting ksci's marker does not make the comment ksci's.
    gh.addComment('kdev', 'linux', 7, 'mallory', '<!-- ksci:sticky -->\nksci ✅ **PASS**, trust me');
    const annotations: BuildAnnotation[] = [
      {
        path: 'net/core/skbuff.c',
        line: 8,
        level: 'failure',
        message: "'headroom' undeclared (first use in this function)",
      },
      { path: './net/core/skbuff.c', line: 3, level: 'warning', message: 'unused variable ‘meta’ [-Wunused-variable]' },
    ];
    const result = await publishRun(client, {
      number: 7,
      checkRunId: null,
      run: {
        status: 'completed',
        runId: 'run-1',
        headSha: FIRST_PUSH,
        report: sampleReport('fail'),
        startedAt: '2025-02-10T10:20:00Z',
        completedAt: '2025-02-10T10:25:00Z',
        detailsUrl: 'https://ksci.example.org/runs/run-1',
        annotations,
      },
    });
    assert.deepEqual(result.deferred, []);
    assert.ok(result.checkRunId !== null && result.commentId !== null);

    const create = gh.requests.filter((r) => r.method === 'POST' && r.path === '/repos/kdev/linux/check-runs');
    assert.equal(create.length, 1);
    assertGolden('check-run-fail.json', json(create[0]!.body));
    const post = gh.requests.filter((r) => r.method === 'POST' && r.path === '/repos/kdev/linux/issues/7/comments');
    assert.equal(post.length, 1);
    assertGolden('comment-first.md', (post[0]!.body as { body: string }).body);

    assert.equal(gh.checkRuns.get(result.checkRunId!)!.run.conclusion, 'failure');
    assert.deepEqual(gh.labelsOf('kdev', 'linux', 7), ['networking', 'ci-fail']);

    const auth = (path: string) => gh.requests.find((r) => r.path === path)?.headers.authorization ?? '';
    assert.match(auth('/repos/kdev/linux/installation'), /^bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    assert.match(auth('/app/installations/1/access_tokens'), /^bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    assert.match(auth('/app'), /^bearer /);
    assert.match(auth('/repos/kdev/linux/check-runs'), /^token ghs_/);
    assert.match(auth('/repos/kdev/linux/issues/7/comments'), /^token ghs_/);
    assert.ok(gh.requests.every((r) => r.headers['user-agent']?.startsWith('ksci octokit.js/')));
  });

  it('second push: a new check run, the same comment edited (history line), labels flipped to ci-pass', async () => {
    const before = gh.requests.length;
    const firstComment = gh.comments('kdev', 'linux', 7).find((c) => c.user?.login === 'ksci-test[bot]')!.id;
    const queued = await publishRun(client, {
      number: 7,
      checkRunId: null,
      run: { status: 'queued', runId: 'run-2', headSha: SECOND_PUSH },
    });
    const result = await publishRun(client, {
      number: 7,
      checkRunId: queued.checkRunId,
      run: {
        status: 'completed',
        runId: 'run-2',
        headSha: SECOND_PUSH,
        report: sampleReport('pass'),
        completedAt: '2025-02-10T10:45:00Z',
      },
    });
    assert.equal(result.checkRunId, queued.checkRunId);
    assert.equal(result.commentId, firstComment);

    const mine = gh.requests.slice(before);
    const calls = mine.map((r) => `${r.method} ${r.path}`).filter((c) => !c.startsWith('GET'));
    assert.deepEqual(calls, [
      'POST /repos/kdev/linux/check-runs',
      `PATCH /repos/kdev/linux/issues/comments/${firstComment}`,
      'DELETE /repos/kdev/linux/issues/7/labels/ci-fail',
      `PATCH /repos/kdev/linux/check-runs/${queued.checkRunId}`,
      `PATCH /repos/kdev/linux/issues/comments/${firstComment}`,
      'POST /repos/kdev/linux/issues/7/labels',
    ]);
    const update = mine.filter((r) => r.method === 'PATCH' && r.path.includes('/check-runs/'))[0]!;
    assertGolden('check-run-pass-update.json', json(update.body));
    const edits = mine.filter((r) => r.method === 'PATCH' && r.path.includes('/issues/comments/'));
    assertGolden('comment-second.md', (edits[1]!.body as { body: string }).body);

    const comments = gh.comments('kdev', 'linux', 7);
    assert.equal(comments.filter((c) => c.user?.login === 'ksci-test[bot]').length, 1, 'one ksci comment in total');
    assert.match(
      comments.find((c) => c.user?.login === 'mallory')!.body!,
      /trust me/,
      'the pasted marker was left alone',
    );
    assert.deepEqual(gh.labelsOf('kdev', 'linux', 7), ['networking', 'ci-pass']);
    const run = gh.checkRuns.get(result.checkRunId!)!.run;
    assert.deepEqual([run.status, run.conclusion, run.head_sha], ['completed', 'success', SECOND_PUSH]);
  });

  it('sends 120 annotations as 50 with the create and 50 + 20 in updates, each with the output title and summary', async () => {
    const annotations: BuildAnnotation[] = Array.from({ length: 120 }, (_, i) => ({
      path: 'net/core/skbuff.c',
      line: i + 1,
      level: 'warning',
      message: `warning ${i}`,
    }));
    const plan = buildCheckRun({
      status: 'completed',
      runId: 'run-3',
      headSha: SECOND_PUSH,
      report: sampleReport('fail'),
      annotations,
    });
    const before = gh.requests.length;
    const id = await publishCheckRun(client, plan, null);
    const sent = gh.requests.slice(before).filter((r) => r.path.includes('/check-runs'));
    assert.deepEqual(
      sent.map((r) => [r.method, (r.body as { output: { annotations: unknown[] } }).output.annotations.length]),
      [
        ['POST', 50],
        ['PATCH', 50],
        ['PATCH', 20],
      ],
    );
    for (const r of sent.slice(1)) {
      const out = (r.body as { output: { title: string; summary: string } }).output;
      assert.deepEqual([out.title, out.summary], [plan.body.output.title, plan.body.output.summary]);
    }
    const state = gh.checkRuns.get(id)!;
    assert.equal(state.run.output.annotations_count, 120);
    assert.deepEqual(
      state.annotations.map((a) => a.start_line),
      annotations.map((a) => a.line),
    );
  });
});
