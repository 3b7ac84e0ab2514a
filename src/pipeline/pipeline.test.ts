import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { BadInputError, InfraError } from '../errors.js';
import { openRedis } from '../queue/redis.js';
import type { StageOutcome } from './payload.js';
import { reportStage } from '../stages/report/stage.js';
import { fakeSeries, startPipeline, type Pipeline } from '../testing/harness.js';
import { repoRoot } from '../testing/paths.js';
import { markerStage, scriptedStage } from '../testing/stages.js';
import { silentLogger } from '../log.js';
import { stageQueueName } from '../queue/names.js';

const source = { kind: 'mbox' as const, ref: 'test' };

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('pipeline on a real Redis', () => {
  describe('outcomes', () => {
    let p: Pipeline;
    const attempts = new Map<string, number>();
    before(async () => {
      const first = scriptedStage('first', async (ctx) => {
        const title = ctx.run.series.title;
        const n = (attempts.get(title) ?? 0) + 1;
        attempts.set(title, n);
        if (title.startsWith('fails')) return { status: 'failed', summary: 'the series broke it', data: { n } };
        if (title.startsWith('flaky-infra') && n === 1) throw new InfraError('disk hiccup');
        if (title.startsWith('infra-down')) throw new InfraError('host unreachable');
        if (title.startsWith('bad-input')) throw new BadInputError('patch touches .git/config');
        return { status: 'passed', summary: `ok on attempt ${n}`, data: { n } };
      });
      const second = scriptedStage('second', async () => ({ status: 'passed', summary: 'second ran', data: null }), {
        needs: ['first'],
      });
      const detailed = { ...first, details: (o: StageOutcome) => [`detail of first: ${o.summary}`] };
      p = await startPipeline([detailed, second, reportStage([detailed])]);
    });
    after(() => p.close());

    it('runs the stages in order, records each and stores the report', async () => {
      const sub = await p.coordinator.submit(fakeSeries('good series'), { source });
      assert.equal(sub.created, true);
      assert.equal(sub.tree, 'test-tree');
      assert.match(sub.treeReason, /subject tag net-next/);
      const run = await p.coordinator.waitForRun(sub.runId, 20_000);
      assert.equal(run.status, 'passed');
      assert.deepEqual(
        run.stages.map((s) => [s.name, s.status]),
        [
          ['first', 'passed'],
          ['second', 'passed'],
          ['report', 'passed'],
        ],
      );
      assert.match(run.reportText ?? '', /PASS/);
      assert.match(run.reportText ?? '', /detail of first: ok on attempt 1/);
      assert.match(run.reportMarkdown ?? '', /\| first \| .* passed \|/);
    });

    it('skips the stages that need a failed one, and the report still comes', async () => {
      const sub = await p.coordinator.submit(fakeSeries('fails on first'), { source });
      const run = await p.coordinator.waitForRun(sub.runId, 20_000);
      assert.equal(run.status, 'failed');
      assert.deepEqual(
        run.stages.map((s) => s.status),
        ['failed', 'skipped', 'passed'],
      );
      assert.match(run.summary ?? '', /FAIL: first: the series broke it/);
      assert.match(run.reportText ?? '', /second\s+skipped\s+not run: first failed/);
    });

    it('retries infrastructure errors and passes when the retry does', async () => {
      const sub = await p.coordinator.submit(fakeSeries('flaky-infra series'), { source });
      const run = await p.coordinator.waitForRun(sub.runId, 20_000);
      assert.equal(run.status, 'passed');
      assert.equal(attempts.get('flaky-infra series'), 2);
      assert.equal(run.stages[0]?.attempt, 2);
    });

    it('does not retry bad input: one attempt, a failed verdict', async () => {
      const sub = await p.coordinator.submit(fakeSeries('bad-input series'), { source });
      const run = await p.coordinator.waitForRun(sub.runId, 20_000);
      assert.equal(run.status, 'failed');
      assert.equal(attempts.get('bad-input series'), 1);
      assert.match(run.summary ?? '', /patch touches \.git\/config/);
    });

    it('ends as an infrastructure error after the last attempt, with a report', async () => {
      const sub = await p.coordinator.submit(fakeSeries('infra-down series'), { source });
      const run = await p.coordinator.waitForRun(sub.runId, 30_000);
      assert.equal(run.status, 'error');
      assert.equal(attempts.get('infra-down series'), 3);
      assert.equal(run.stages[0]?.status, 'error');
      assert.match(run.stages[0]?.error ?? '', /host unreachable/);
      assert.match(
        run.summary ?? '',
        /ERROR \(infrastructure\): first: infrastructure error after 3 attempt\(s\): host unreachable/,
      );
    });

    it('does not run the same series version twice unless forced', async () => {
      const series = fakeSeries('dedup series');
      const a = await p.coordinator.submit(series, { source });
      await p.coordinator.waitForRun(a.runId, 20_000);
      const b = await p.coordinator.submit(series, { source });
      assert.equal(b.created, false);
      assert.equal(b.runId, a.runId);
      assert.equal(attempts.get('dedup series'), 1);
      const c = await p.coordinator.submit(series, { source, force: true });
      assert.equal(c.created, true);
      assert.notEqual(c.runId, a.runId);
      await p.coordinator.waitForRun(c.runId, 20_000);
      assert.equal(attempts.get('dedup series'), 2);
    });

    it('refuses a job whose payload does not validate, without retrying it', async () => {
      const q = new Queue(stageQueueName('first'), { connection: p.services.redis.connection });
      try {
        const job = await q.add('first', { run: { runId: 'x' }, stage: 42 }, { attempts: 3 });
        await waitFor('the job to fail', async () => (await job.getState()) === 'failed');
        const failed = await q.getJob(job.id!);
        assert.match(failed?.failedReason ?? '', /^invalid ksci-first job \S+ payload: /);
        assert.equal(failed?.attemptsMade, 1);
      } finally {
        await q.close();
      }
    });
  });

  it('cancelling aborts the running stage and the stages after it', async () => {
    let aborted = false;
    const hang = scriptedStage('hang', async (ctx) => {
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      aborted = true;
      throw new Error('aborted');
    });
    const p = await startPipeline([hang, reportStage([])]);
    try {
      const sub = await p.coordinator.submit(fakeSeries('to be cancelled'), { source });
      await waitFor(
        'the stage to start',
        async () => (await p.services.store!.getRun(sub.runId))?.stages[0]?.status === 'active',
      );
      const t0 = Date.now();
      await p.coordinator.cancel(sub.runId, 'superseded by v2');
      const run = await p.coordinator.waitForRun(sub.runId, 20_000);
      assert.equal(run.status, 'cancelled', JSON.stringify({ summary: run.summary, stages: run.stages }));
      assert.ok(aborted, 'the stage saw the abort signal');
      assert.ok(Date.now() - t0 < 10_000, 'cancellation took effect promptly');
      assert.deepEqual(
        run.stages.map((s) => s.status),
        ['cancelled', 'cancelled'],
      );
      assert.match(run.stages[0]?.error ?? '', /superseded by v2/);
    } finally {
      await p.close();
    }
  });

  it('a worker killed mid-job: the job goes to another worker and the run completes once', async () => {
    const stages = [markerStage('/nonexistent'), reportStage([])];
    // Short locks so the dead worker's job is found stalled within seconds.
    const p = await startPipeline(stages, {
      workers: false,
      config: { queue: { attempts: 3, backoffMs: 200, lockDurationMs: 2000, stalledIntervalMs: 1000 } },
    });
    // The stage keeps its marker in the data dir, so build it again with the real one.
    const work = markerStage(p.dataDir);
    const child = spawn(
      process.execPath,
      [join(repoRoot, 'dist/src/testing/stall-worker.js'), JSON.stringify(p.config)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      const finished: string[] = [];
      p.coordinator.on('run-finished', (r) => finished.push(r.id));
      await p.startWorkers(['report']);
      const sub = await p.coordinator.submit(fakeSeries('survives a dead worker'), { source });
      await waitFor('the child worker to take the job', async () => existsSync(join(p.dataDir, 'stall-marker')));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const { StageWorker } = await import('./runtime.js');
      const rescuer = new StageWorker(work, { redis: p.services.redis, config: p.config, log: silentLogger });
      await rescuer.start();
      p.workers.push(rescuer);
      const run = await p.coordinator.waitForRun(sub.runId, 30_000);
      assert.equal(run.status, 'passed');
      assert.equal(run.stages[0]?.attempt, 2, 'the stalled job was started a second time');
      assert.match(JSON.stringify(run.stages[0]?.result), new RegExp(`done by pid ${process.pid}`));
      await sleep(500);
      assert.deepEqual(finished, [sub.runId], 'the run finished exactly once');
    } finally {
      child.kill('SIGKILL');
      await p.close();
    }
  });

  it('queued runs survive a restart of the embedded Redis (append-only file)', async () => {
    const stages = [
      scriptedStage('first', async () => ({ status: 'passed', summary: 'ran after restart', data: null })),
      reportStage([]),
    ];
    const p = await startPipeline(stages, { workers: false });
    try {
      const sub = await p.coordinator.submit(fakeSeries('before the restart'), { source });
      // redis-server flushes its AOF every second; give it that second, then stop and start it.
      await sleep(1500);
      await p.services.redis.stop();
      const again = await openRedis({ redisUrl: null, dataDir: p.dataDir, log: silentLogger });
      assert.equal(again.owned, true, 'a new server was started');
      const prevClose = p.services.close;
      p.services.close = async () => {
        await prevClose();
        await again.stop();
      };
      await p.startWorkers();
      const run = await p.coordinator.waitForRun(sub.runId, 30_000);
      assert.equal(run.status, 'passed');
    } finally {
      await p.close();
    }
  });

  it('a run whose jobs were lost from Redis is queued again by reconcile', async () => {
    let ran = 0;
    const stages = [
      scriptedStage('first', async () => ({ status: 'passed', summary: `ran ${++ran}`, data: null })),
      reportStage([]),
    ];
    const p = await startPipeline(stages, { workers: false });
    try {
      const sub = await p.coordinator.submit(fakeSeries('lost jobs'), { source });
      const client = p.services.redis.client();
      await client.flushall();
      client.disconnect();
      await p.coordinator.reconcile();
      await p.startWorkers();
      const run = await p.coordinator.waitForRun(sub.runId, 30_000);
      assert.equal(run.status, 'passed');
      assert.equal(ran, 1);
    } finally {
      await p.close();
    }
  });
});
