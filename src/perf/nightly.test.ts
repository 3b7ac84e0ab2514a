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
import { nightlyHistoryLines, trackNightly, type NightlyResult } from './nightly.js';
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

  it('a clock change starts a new series (no alert for the jump); on icount a 1% drop is alerted once', async () => {
    // 20 wall-clock nights (1% noise), then perf.clock: icount (another level, 0.03% noise); from night 32, 1% slower.
    const rnd = seededRng(11);
    const point = (i: number): NightlyResult => {
      const icount = i >= 20;
      const level = icount ? 646_700 * (i >= 32 ? 0.99 : 1) : 370_000;
      const value = level * (1 + (rnd() - 0.5) * (icount ? 0.0006 : 0.02));
      const commit = `d${String(i).padStart(3, '0')}`.padEnd(40, '0');
      return {
        tree: 'clock-tree',
        commit,
        missing: [],
        points: [
          {
            jobId: `clock-${i}`,
            tree: 'clock-tree',
            commit,
            scenario: 'pktgen/dummy-xmit',
            value,
            samples: [value],
            env: icount ? { clock: 'icount shift=0,sleep=off,align=off' } : { clock: 'wall' },
            measuredAt: new Date(Date.UTC(2026, 10, 1 + i)).toISOString(),
          },
        ],
      };
    };
    const alerts: { night: number; firstChanged: string; change: number }[] = [];
    for (let i = 0; i < 45; i++)
      for (const a of await trackNightly(services.store!, point(i), { config: config(), log: silentLogger }))
        alerts.push({ night: i, firstChanged: a.firstChanged, change: a.change });
    assert.equal(alerts.length, 1, JSON.stringify(alerts));
    assert.equal(alerts[0]!.firstChanged, point(32).commit);
    assert.ok(alerts[0]!.change < -0.008 && alerts[0]!.change > -0.012, `change ${alerts[0]!.change}`);

    // ksci nightly show: each night with its clock; the change point is the icount series' own.
    const lines = await nightlyHistoryLines(services.store!, config(), 'clock-tree');
    assert.equal(
      lines[0],
      'pktgen/dummy-xmit: 25 nights, clock icount shift=0,sleep=off,align=off (and 20 of another clock before, a series of their own)',
    );
    assert.match(lines[1]!, /^ {2}2026-11-01T00:00 {2}d00000000000 {2}3\d\d,\d{3} pps {2}wall$/);
    assert.match(
      lines[33]!,
      /^ {2}2026-12-03T00:00 {2}d03200000000 {2}64\d,\d{3} pps {2}icount shift=0,sleep=off,align=off {2}<- change$/,
    );
    assert.ok(lines.some((l) => /^ {2}change point: regression -1\.0% between d03100000000 and d03200000000/.test(l)));
    assert.ok(lines.some((l) => /^ {2}alerted .*: regression -1\.0% at d03200000000$/.test(l)));
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
