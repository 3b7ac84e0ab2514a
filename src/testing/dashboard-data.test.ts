import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { prLineage } from '../github/bot.js';
import { PerfStageDataSchema } from '../stages/perf/result.js';
import { TestStageDataSchema } from '../stages/test/result.js';
import { openDb, type Db } from '../store/db.js';
import { migrate } from '../store/migrations.js';
import { ResultsStore } from '../store/results.js';
import { generateDashboardData, HOSTILE_IMG, HOSTILE_SCRIPT, type DashboardData } from './dashboard-data.js';

const OPTIONS = { series: 60, testsPerRun: 10, nightlyDays: 200, scenarios: 3 };

async function fresh(): Promise<{ db: Db; done(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'ksci-dashboard-'));
  const db = await openDb({ databaseUrl: null, dataDir: dir });
  await migrate(db);
  return {
    db,
    done: async () => {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const count = async (db: Db, sql: string, params: unknown[] = []) =>
  Number((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params))[0]!.n);

describe('dashboard data', () => {
  let db: Db;
  let done: () => Promise<void>;
  let data: DashboardData;
  let store: ResultsStore;

  before(async () => {
    ({ db, done } = await fresh());
    data = await generateDashboardData(db, OPTIONS);
    store = new ResultsStore(db);
  });
  after(() => done());

  test('series, runs, stages and test results in the numbers asked for', async () => {
    assert.deepEqual(data.trees, ['net-next', 'bpf-next']);
    assert.deepEqual(data.lists, ['netdev', 'bpf']);
    assert.equal(await count(db, 'series'), data.seriesIds.length);
    assert.equal(await count(db, '(SELECT DISTINCT lineage FROM series) l'), OPTIONS.series);
    assert.ok(data.seriesIds.length >= OPTIONS.series && data.seriesIds.length <= 3 * OPTIONS.series);
    assert.equal(await count(db, 'runs'), data.runIds.length);
    assert.ok(data.runIds.length > data.seriesIds.length, 'some versions are retested');
    assert.equal(await count(db, 'stages'), 5 * data.runIds.length);
    // Every run that finished its test stage has testsPerRun rows, half on each kernel.
    const perRun = await db.query<{ base: number; series: number }>(
      `SELECT count(*) FILTER (WHERE kernel = 'base')::int AS base, count(*) FILTER (WHERE kernel = 'series')::int AS series
       FROM test_results GROUP BY run_id`,
    );
    assert.ok(perRun.length > data.runIds.length / 2);
    for (const r of perRun) assert.deepEqual(r, { base: 5, series: 5 });
    const tested = await count(db, `stages WHERE name = 'test' AND status IN ('passed', 'failed')`);
    assert.equal(perRun.length, tested);
    const statuses = new Set(
      (await db.query<{ status: string }>('SELECT DISTINCT status FROM runs')).map((r) => r.status),
    );
    assert.deepEqual([...statuses].sort(), ['cancelled', 'error', 'failed', 'passed', 'running']);
    assert.equal(await count(db, `runs WHERE status = 'running'`), 1);
    // A lore series' runs come from its list's poller; a forced retest is asked for from the command line.
    const requesters = await db.query<{ requested_by: string }>(
      `SELECT DISTINCT r.requested_by FROM runs r JOIN series s ON s.id = r.series_id WHERE s.source_kind = 'lore'`,
    );
    assert.deepEqual(requesters.map((r) => r.requested_by).sort(), ['cli', 'lore:bpf', 'lore:netdev']);
    const prs = await db.query<{ lineage: string; repo: string; number: number }>(
      'SELECT DISTINCT s.lineage, g.repo, g.number FROM github_runs g JOIN runs r ON r.id = g.run_id JOIN series s ON s.id = r.series_id',
    );
    assert.ok(prs.length > 0);
    for (const p of prs) assert.equal(p.lineage, prLineage(p.repo, p.number));
    assert.equal(await count(db, 'perf_nightly'), 2 * OPTIONS.scenarios * OPTIONS.nightlyDays);
    // Everything in the year before now.
    const [span] = await db.query<{ lo: Date; hi: Date }>(
      'SELECT min(created_at) AS lo, max(created_at) AS hi FROM runs',
    );
    assert.ok(
      new Date(span!.lo) >= new Date('2025-12-01T00:00:00Z') && new Date(span!.hi) < new Date('2026-12-01T00:00:00Z'),
    );
  });

  test('the failing run has a new failure with its output, a new splat and a reproducer', async () => {
    const run = (await store.getRun(data.failingRunId))!;
    assert.equal(run.status, 'failed');
    assert.equal(run.verdict, 'fail');
    const stage = run.stages.find((s) => s.name === 'test')!;
    assert.equal(stage.status, 'failed');
    const parsed = TestStageDataSchema.parse((stage.result as { data: unknown }).data);
    const suite = parsed.suites.find((s) => s.comparison.newFailures.length > 0)!;
    const failure = suite.comparison.newFailures[0]!;
    const test = suite.series.tests.find((t) => t.name === failure.name)!;
    assert.ok(test.last.output.some((l) => l.includes(':FAIL')));
    assert.ok(suite.comparison.newSplats[0]!.fingerprint.startsWith('kasan: slab-use-after-free'));
    assert.ok(suite.reproducer.some((l) => l.startsWith('ksci test --kernel')));
    const rows = await store.testResults(data.failingRunId);
    assert.equal(rows.find((r) => r.kernel === 'series' && r.test === failure.name)?.status, 'fail');
    assert.equal(rows.find((r) => r.kernel === 'base' && r.test === failure.name)?.status, 'pass');
    // The splat is an incident: the same fingerprint in several runs.
    const incident = await count(db, `stages WHERE name = 'test' AND result::text LIKE '%' || $1 || '%'`, [
      suite.comparison.newSplats[0]!.fingerprint,
    ]);
    assert.ok(incident >= 3, `${incident} runs with the incident's splat`);
  });

  test('the perf run has A/B samples per round and a regression on one scenario', async () => {
    const run = (await store.getRun(data.perfRunId))!;
    for (const s of run.stages.filter((x) => ['apply', 'build', 'test'].includes(x.name)))
      assert.equal(s.status, 'passed');
    const perf = PerfStageDataSchema.parse(
      (run.stages.find((s) => s.name === 'perf')!.result as { data: unknown }).data,
    );
    const verdicts = perf.suites[0]!.verdicts.map((v) => v.comparison?.verdict);
    assert.deepEqual(verdicts.filter((v) => v === 'regression').length, 1);
    const samples = await store.perfSamples(data.perfRunId);
    assert.equal(samples.length, 3 * 5 * 2 * 3); // scenarios x rounds x sides x repetitions
    assert.deepEqual([...new Set(samples.map((s) => s.env['round']))].sort(), [1, 2, 3, 4, 5]);
  });

  test('the hostile series carries markup in its title and in a failing test output', async () => {
    const run = (await store.getRun(data.hostileRunId))!;
    assert.equal(run.seriesId, data.hostileSeriesId);
    assert.ok(run.seriesTitle.includes(HOSTILE_SCRIPT) && run.seriesTitle.includes(HOSTILE_IMG));
    const rows = await store.testResults(data.hostileRunId);
    assert.ok(rows.some((r) => r.status === 'fail' && r.message?.includes(HOSTILE_SCRIPT)));
    const stage = run.stages.find((s) => s.name === 'test')!;
    assert.ok(JSON.stringify(stage.result).includes(HOSTILE_IMG));
  });

  test('the running run is running its test stage', async () => {
    const run = (await store.getRun(data.runningRunId))!;
    assert.equal(run.status, 'running');
    assert.equal(run.finishedAt, null);
    assert.deepEqual(
      run.stages.map((s) => s.status),
      ['passed', 'passed', 'active', 'pending', 'pending'],
    );
  });

  test('both planted change points are found and alerted, nothing else', async () => {
    assert.equal(data.changePoints.length, 2);
    const [regression, improvement] = data.changePoints;
    assert.deepEqual(
      [regression!.tree, regression!.scenario, regression!.direction],
      ['net-next', 'pktgen/dummy-xmit', 'regression'],
    );
    assert.deepEqual(
      [improvement!.tree, improvement!.scenario, improvement!.direction],
      ['net-next', 'pktgen/veth-xmit', 'improvement'],
    );
    const alerts = [...(await store.alerts('net-next')), ...(await store.alerts('bpf-next'))];
    assert.deepEqual(
      alerts.map((a) => [a.scenario, a.lastGood, a.firstChanged, a.direction]),
      data.changePoints.map((c) => [c.scenario, c.lastGood, c.firstChanged, c.direction]),
    );
    assert.ok(alerts.every((a) => a.createdAt < '2026-12-01'));
  });

  test('flaky tests flip on the base; the always-failing one fails the last N base runs', async () => {
    for (const t of data.flakyTests) {
      const { recent } = (await store.baseStability({ tree: t.tree, suite: t.suite, tests: [t.test], limit: 1000 }))[
        t.test
      ]!;
      assert.ok(recent.includes('pass') && recent.includes('fail'), `${t.test}: ${recent.join(' ')}`);
    }
    const a = data.alwaysFailing;
    assert.ok(a.streak >= 12);
    const { recent } = (await store.baseStability({ tree: a.tree, suite: a.suite, tests: [a.test], limit: 1000 }))[
      a.test
    ]!;
    assert.ok(recent.slice(0, a.streak).every((s) => s === 'fail'));
    assert.equal(recent[a.streak], 'pass');
  });

  test('the same seed gives the same data', async () => {
    const other = await fresh();
    try {
      const again = await generateDashboardData(other.db, OPTIONS);
      assert.deepEqual(again, data);
      const digest = (d: Db) =>
        d.query<{ h: string }>(
          `SELECT md5(string_agg(id || status || coalesce(summary, '') || created_at::text, ',' ORDER BY id)) AS h FROM runs`,
        );
      assert.deepEqual(await digest(other.db), await digest(db));
    } finally {
      await other.done();
    }
  });

  test('another seed gives other data', async () => {
    const other = await fresh();
    try {
      const again = await generateDashboardData(other.db, { ...OPTIONS, seed: 2 });
      assert.notDeepEqual(again.runIds, data.runIds);
    } finally {
      await other.done();
    }
  });
});
