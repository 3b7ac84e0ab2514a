import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue, QueueEvents } from 'bullmq';
import { InfraError, UsageError } from '../errors.js';
import { silentLogger } from '../log.js';
import { openRedis, type RedisHandle } from '../queue/redis.js';
import { startQueueWorker } from '../queue/worker.js';
import { openDb, type Db } from '../store/db.js';
import { migrate } from '../store/migrations.js';
import { ResultsStore } from '../store/results.js';
import { AlertBisectJobSchema, queueAlertBisection, type RangeBisector, runAlertBisection } from './alert-bisect.js';

/**
 * The bookkeeping of a bisection asked for from the dashboard, on a real
 * queue and database. The bisection itself (bisectRange: kernel builds and
 * A/B runs, minutes to hours) is stood in for by a function that answers
 * from the range it is given, so what reaches it and what is kept is checked.
 */
describe('alert bisections through the nightly queue', () => {
  let dir: string;
  let db: Db;
  let store: ResultsStore;
  let redis: RedisHandle;
  let queue: Queue;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ksci-bisect-'));
    db = await openDb({ databaseUrl: null, dataDir: dir });
    await migrate(db);
    store = new ResultsStore(db);
    redis = await openRedis({ redisUrl: null, dataDir: dir, log: silentLogger });
    queue = new Queue('nightly-test', { connection: redis.connection });
  });
  after(async () => {
    await queue?.close();
    await redis?.stop();
    await db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const alert = async () => {
    await store.recordAlert({
      tree: 'net-next',
      scenario: 'pktgen/dummy-xmit',
      lastGood: 'a'.repeat(40),
      firstChanged: 'b'.repeat(40),
      direction: 'regression',
      change: -0.08,
      p: 0.001,
      report: 'x',
    });
    const [row] = await db.query<{ id: string }>('SELECT max(id) AS id FROM perf_alerts');
    return Number(row!.id);
  };
  const state = async (id: number) =>
    (
      await db.query<{ bisect_status: string | null; bisect_by: string | null; bisect_result: unknown }>(
        'SELECT bisect_status, bisect_by, bisect_result FROM perf_alerts WHERE id = $1',
        [id],
      )
    )[0]!;

  it('queued once, run by the worker on the alert range, the culprit kept on the alert', async () => {
    const id = await alert();
    const asked: Parameters<RangeBisector>[0][] = [];
    const bisect: RangeBisector = async (range) => {
      asked.push(range);
      return {
        culprit: { title: `${range.bad.slice(0, 12)} net: allocate skb_ext on the hot path` },
        probes: [
          { counter: 2, verdict: 'no-change', change: 0.002 },
          { counter: 3, verdict: 'regression', change: -0.079 },
        ],
        note: null,
        commits: 4,
      };
    };
    await queueAlertBisection(queue, store, id, 'web:maintainer');
    assert.equal((await state(id)).bisect_status, 'queued');
    await assert.rejects(
      queueAlertBisection(queue, store, id, 'web:other'),
      (e: unknown) => e instanceof UsageError && /being bisected already/.test(e.message),
      'a second click does not queue a second bisection',
    );
    assert.equal(await queue.count(), 1);

    const events = new QueueEvents(queue.name, { connection: redis.connection });
    await events.waitUntilReady();
    const worker = startQueueWorker({
      queue: queue.name,
      connection: redis.connection,
      what: 'nightly',
      schema: AlertBisectJobSchema,
      log: silentLogger,
      handle: (data) => runAlertBisection(store, data, bisect, silentLogger),
    });
    try {
      const [job] = await queue.getJobs(['waiting', 'active', 'completed']);
      await job!.waitUntilFinished(events, 20_000);
    } finally {
      await worker.close();
      await events.close();
    }
    assert.deepEqual(asked, [
      { tree: 'net-next', scenario: 'pktgen/dummy-xmit', good: 'a'.repeat(40), bad: 'b'.repeat(40) },
    ]);
    const done = await state(id);
    assert.equal(done.bisect_status, 'done');
    assert.equal(done.bisect_by, 'web:maintainer');
    const result = (typeof done.bisect_result === 'string' ? JSON.parse(done.bisect_result) : done.bisect_result) as {
      culprit: string;
      probes: unknown[];
      commits: number;
    };
    assert.match(result.culprit, /^bbbbbbbbbbbb net: allocate skb_ext/);
    assert.equal(result.probes.length, 2);
    assert.equal(result.commits, 4);
  });

  it('a bisection that cannot finish is kept as failed with why, and may be asked for again', async () => {
    const id = await alert();
    await queueAlertBisection(queue, store, id, 'web:maintainer');
    await assert.rejects(
      runAlertBisection(
        store,
        { alertId: id, by: 'web:maintainer' },
        async () => {
          throw new InfraError('bbbbbbbbbbbb of net-next does not build with config perf');
        },
        silentLogger,
      ),
      InfraError,
    );
    const failed = await state(id);
    assert.equal(failed.bisect_status, 'failed');
    assert.match(JSON.stringify(failed.bisect_result), /does not build with config perf/);
    await queueAlertBisection(queue, store, id, 'web:maintainer');
    assert.equal((await state(id)).bisect_status, 'queued');
    await assert.rejects(queueAlertBisection(queue, store, 999_999, 'web:x'), /no alert 999999/);
  });
});
