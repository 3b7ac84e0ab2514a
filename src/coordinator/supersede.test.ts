import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { reportStage } from '../stages/report/stage.js';
import { fakeSeries, startPipeline, type Pipeline } from '../testing/harness.js';
import { scriptedStage } from '../testing/stages.js';

async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Version n of one series: the same title and author, different patches. */
const version = (n: number, extra: Parameters<typeof fakeSeries>[1] = {}) =>
  fakeSeries('bpf: skb metadata through bpf_dynptr', {
    version: n,
    messageId: `v${n}-cover@example.org`,
    fingerprint: `fp-v${n}`.padEnd(64, '0'),
    ...extra,
  });

describe('a new version of a series supersedes the old one', () => {
  let p: Pipeline;
  before(async () => {
    // Each run holds its stage until cancelled or released, so the test sees runs in flight.
    const hold = scriptedStage(
      'hold',
      async (ctx) => {
        if (!ctx.run.series.title.includes('release')) {
          await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
          throw new Error('aborted');
        }
        return { status: 'passed', summary: `v${ctx.run.series.version} tested`, data: null };
      },
      { concurrency: 4 },
    );
    p = await startPipeline([hold, reportStage([])]);
  });
  after(() => p.close());

  const lore = (n: number) => ({ kind: 'lore' as const, ref: `https://lore.kernel.org/bpf/v${n}-cover@example.org/` });
  const active = (runId: string) => async () => (await p.services.store!.getRun(runId))?.stages[0]?.status === 'active';

  it('v2 cancels the running v1, naming itself; v1 arriving late is not run', async () => {
    const v1 = await p.coordinator.submit(version(1), { source: lore(1) });
    await waitFor('v1 to start', active(v1.runId));
    const v2 = await p.coordinator.submit(version(2), { source: lore(2) });
    assert.equal(v2.created, true);
    assert.deepEqual(v2.superseded, [v1.runId]);
    const r1 = await p.coordinator.waitForRun(v1.runId, 20_000);
    assert.equal(r1.status, 'cancelled');
    assert.match(r1.stages[0]?.error ?? '', new RegExp(`superseded by v2 \\(run ${v2.runId}\\)`));

    // A resent v1 (new message, new fingerprint) from the list is stale now.
    const late = await p.coordinator.submit(
      version(1, { messageId: 'v1-resend@example.org', fingerprint: 'fp-v1-resend'.padEnd(64, '0') }),
      { source: lore(1) },
    );
    assert.equal(late.created, false);
    assert.deepEqual(late.staleAgainst, { runId: v2.runId, version: 2 });
    assert.equal((await p.services.store!.getRun(v2.runId))?.status, 'running', 'v2 is untouched');
    await p.coordinator.cancel(v2.runId, 'test done');
  });

  it('versions in separate threads are linked by change-id even when the title changes', async () => {
    const changeId = '20261130-skb-meta-dynptr-1a2b3c4d5e6f';
    const v2 = await p.coordinator.submit(
      version(2, { changeId, messageId: 'c-v2@example.org', fingerprint: 'c-v2'.padEnd(64, '0') }),
      { source: lore(2) },
    );
    await waitFor('v2 to start', active(v2.runId));
    const v3 = await p.coordinator.submit(
      version(3, {
        changeId,
        title: 'bpf: skb metadata via dynptr (release)',
        messageId: 'c-v3@example.org',
        fingerprint: 'c-v3'.padEnd(64, '0'),
      }),
      { source: lore(3) },
    );
    assert.deepEqual(v3.superseded, [v2.runId]);
    assert.equal((await p.coordinator.waitForRun(v2.runId, 20_000)).status, 'cancelled');
    const r3 = await p.coordinator.waitForRun(v3.runId, 20_000);
    assert.equal(r3.status, 'passed');
    assert.match(
      r3.reportText ?? '',
      /v3 bpf: skb metadata via dynptr \(release\)/,
      'the report names the version tested',
    );
  });

  it('another author with the same title is another series', async () => {
    const mine = await p.coordinator.submit(
      version(1, {
        title: 'selftests/bpf: fix the build',
        messageId: 'a@example.org',
        fingerprint: 'a'.padEnd(64, '0'),
      }),
      { source: lore(1) },
    );
    const theirs = await p.coordinator.submit(
      version(2, {
        title: 'selftests/bpf: fix the build',
        author: { name: 'Other', address: 'other@example.org' },
        messageId: 'b@example.org',
        fingerprint: 'b'.padEnd(64, '0'),
      }),
      { source: lore(2) },
    );
    assert.deepEqual(theirs.superseded, []);
    assert.equal((await p.services.store!.getRun(mine.runId))?.status === 'cancelled', false);
    await p.coordinator.cancel(mine.runId, 'test done');
    await p.coordinator.cancel(theirs.runId, 'test done');
  });

  it('mail with the same title and version is not a new version: a backport for another tree, a second pull of the same name', async () => {
    const title = 'netfilter: fixes for net';
    const a = await p.coordinator.submit(
      version(1, { title, messageId: 'nf-1@example.org', fingerprint: 'nf-1'.padEnd(64, '0') }),
      { source: lore(1) },
    );
    await waitFor('the first to start', active(a.runId));
    const b = await p.coordinator.submit(
      version(1, { title, messageId: 'nf-2@example.org', fingerprint: 'nf-2'.padEnd(64, '0') }),
      { source: lore(1) },
    );
    const backport = await p.coordinator.submit(
      version(2, { title, treeTags: ['6.1'], messageId: 'nf-61@example.org', fingerprint: 'nf-61'.padEnd(64, '0') }),
      { source: lore(2) },
    );
    assert.deepEqual([b.superseded, backport.superseded], [[], []]);
    assert.equal(b.created && backport.created, true);
    assert.equal((await p.services.store!.getRun(a.runId))?.status, 'running');
    for (const r of [a, b, backport]) await p.coordinator.cancel(r.runId, 'test done');
  });

  it('a PR names its lineage: a new push supersedes the last even at the same version', async () => {
    const source = { kind: 'github' as const, ref: 'https://github.com/o/linux/pull/7' };
    const push1 = await p.coordinator.submit(
      version(1, { title: 'PR push 1', messageId: 'pr7-1@github', fingerprint: 'pr7-1'.padEnd(64, '0') }),
      { source, lineage: 'github:o/linux#7' },
    );
    await waitFor('push 1 to start', active(push1.runId));
    const push2 = await p.coordinator.submit(
      version(1, { title: 'PR push 2 (release)', messageId: 'pr7-2@github', fingerprint: 'pr7-2'.padEnd(64, '0') }),
      { source, lineage: 'github:o/linux#7' },
    );
    assert.deepEqual(push2.superseded, [push1.runId]);
    assert.equal((await p.coordinator.waitForRun(push1.runId, 20_000)).status, 'cancelled');
    assert.equal((await p.coordinator.waitForRun(push2.runId, 20_000)).status, 'passed');
  });
});
