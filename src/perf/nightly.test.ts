/**
 * Nightly bookkeeping on real parts: PGlite for the history and alerts, a
 * private redis-server for BullMQ's job schedulers. The measurement itself
 * (build + VM) is exercised by `ksci perf`'s end-to-end test; here the
 * nights' values are synthetic with a known truth, so the test can say
 * exactly which night must alert.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { openServices, type Services } from '../app/services.js';
import { silentLogger } from '../log.js';
import type { NightlyPoint } from './history.js';
import { seededRng } from '../random.js';
import { testConfig } from '../testing/harness.js';
import { trackNightly, type NightlyResult } from './nightly.js';
import { scheduleNightly } from './schedule.js';
import { QUEUES } from '../queue/names.js';

describe('nightly tracking', () => {
  let dir: string;
  let services: Services;
  const config = () => testConfig(dir, { perf: { nightly: { trees: ['test-tree'], cron: '30 3 * * *' } } });
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ksci-'));
    services = await openServices(config(), silentLogger, { db: true });
  });
  after(async () => {
    await services.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // 40 nights of dummy-xmit around 370k pps (1% noise); from night 25 on, 6% slower.
  const random = seededRng(7);
  const night = (i: number): NightlyResult => {
    const value = 370_000 * (i >= 25 ? 0.94 : 1) * (1 + (random() - 0.5) * 0.02);
    const commit = `c${String(i).padStart(3, '0')}`.padEnd(40, '0');
    const point: NightlyPoint = {
      jobId: `nightly-${i}`,
      tree: 'test-tree',
      commit,
      scenario: 'pktgen/dummy-xmit',
      value,
      samples: [value],
      env: {},
      measuredAt: new Date(Date.UTC(2026, 10, 1 + i)).toISOString(),
    };
    return { tree: 'test-tree', commit, points: [point], missing: [] };
  };

  it('alerts once, at the night the history first shows the drop, with the commit range', async () => {
    const alertsAt: number[] = [];
    for (let i = 0; i < 40; i++) {
      const sent = await trackNightly(services.store!, night(i), { config: config(), log: silentLogger });
      if (sent.length) alertsAt.push(i);
      if (sent[0]) {
        assert.equal(sent[0].direction, 'regression');
        assert.equal(sent[0].firstChanged, night(25).commit, 'the first slow night names the commit');
        assert.equal(sent[0].lastGood, night(24).commit);
        assert.ok(sent[0].change < -0.04 && sent[0].change > -0.08, `change ${sent[0].change}`);
      }
    }
    assert.equal(alertsAt.length, 1, `alerted on nights ${alertsAt.join(', ')}`);
    // minSegment 3: the drop shows once three slow nights are in.
    assert.ok(alertsAt[0]! >= 27 && alertsAt[0]! <= 30, `alerted on night ${alertsAt[0]}`);
    const files = readdirSync(join(dir, 'reports')).filter((f) => f.startsWith('nightly-test-tree-pktgen_dummy-xmit-'));
    assert.equal(files.length, 1);
    const text = readFileSync(join(dir, 'reports', files[0]!), 'utf8');
    assert.match(text, /throughput regression of -\d\.\d%/);
    assert.match(text, new RegExp(`git log ${night(24).commit.slice(0, 12)}\\.\\.${night(25).commit.slice(0, 12)}`));
    assert.equal((await services.store!.alerts('test-tree')).length, 1);
  });

  it('recording the same nightly job twice keeps one point', async () => {
    const before = (await services.store!.nightlyHistory('test-tree', 'pktgen/dummy-xmit')).length;
    assert.equal(await services.store!.recordNightly(night(39).points), 0);
    assert.equal((await services.store!.nightlyHistory('test-tree', 'pktgen/dummy-xmit')).length, before);
  });

  it('one BullMQ job scheduler per tracked tree, with the cron pattern; untracked trees lose theirs', async () => {
    const queue = new Queue(QUEUES.nightly, { connection: services.redis.connection });
    try {
      await queue.upsertJobScheduler(
        'nightly:old-tree',
        { pattern: '0 1 * * *' },
        { name: 'nightly', data: { tree: 'old-tree' } },
      );
      assert.deepEqual(await scheduleNightly(queue, config()), ['nightly:test-tree']);
      assert.deepEqual(await scheduleNightly(queue, config()), ['nightly:test-tree'], 'idempotent');
      const schedulers = await queue.getJobSchedulers();
      assert.deepEqual(
        schedulers.map((s) => [s.key, s.pattern, s.template?.data]),
        [['nightly:test-tree', '30 3 * * *', { tree: 'test-tree' }]],
      );
      // The scheduler has put the next night's job in the queue, delayed until then.
      const delayed = await queue.getDelayed();
      assert.equal(delayed.length, 1);
      assert.deepEqual(delayed[0]!.data, { tree: 'test-tree' });
      const next = new Date(delayed[0]!.timestamp + delayed[0]!.delay);
      assert.deepEqual([next.getUTCHours(), next.getUTCMinutes()], [3, 30]);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});
