import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { InfraError } from '../errors.js';
import { fakeSeries } from '../testing/harness.js';
import { openDb, type Db } from './db.js';
import { MIGRATIONS, migrate } from './migrations.js';
import { ResultsStore } from './results.js';

const PG_URL = process.env['KSCI_TEST_DATABASE_URL'];

/** Each test gets a fresh database: a PGlite dir, or a private schema on the real server. */
const backends: { name: string; skip: string | false; open(): Promise<{ db: Db; done(): Promise<void> }> }[] = [
  {
    name: 'PGlite',
    skip: false,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'ksci-store-'));
      const db = await openDb({ databaseUrl: null, dataDir: dir });
      return {
        db,
        done: async () => {
          await db.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'PostgreSQL server',
    skip: PG_URL ? false : 'KSCI_TEST_DATABASE_URL is not set',
    async open() {
      const schema = `ksci_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      await admin.query(`CREATE SCHEMA ${schema}`);
      const url = new URL(PG_URL!);
      url.searchParams.set('options', `-c search_path=${schema}`);
      const db = await openDb({ databaseUrl: url.toString(), dataDir: '/nonexistent' });
      return {
        db,
        done: async () => {
          await db.close();
          await admin.query(`DROP SCHEMA ${schema} CASCADE`);
          await admin.end();
        },
      };
    },
  },
];

for (const backend of backends) {
  describe(`results store on ${backend.name}`, { skip: backend.skip }, () => {
    async function withStore(fn: (store: ResultsStore, db: Db) => Promise<void>) {
      const { db, done } = await backend.open();
      try {
        await migrate(db);
        await fn(new ResultsStore(db), db);
      } finally {
        await done();
      }
    }

    it('applies migrations once', async () => {
      const { db, done } = await backend.open();
      try {
        assert.deepEqual(
          (await migrate(db)).applied,
          MIGRATIONS.map((m) => m.version),
        );
        assert.deepEqual((await migrate(db)).applied, []);
      } finally {
        await done();
      }
    });

    it('refuses a database newer than the code', async () => {
      await withStore(async (_s, db) => {
        await db.query(`INSERT INTO schema_migrations (version, name) VALUES (999, 'from the future')`);
        await assert.rejects(
          migrate(db),
          (e: unknown) => e instanceof InfraError && /v999 is newer than this ksci/.test(e.message),
        );
      });
    });

    it('dedups runs: an active run is returned, an errored one allows a new run, a null key always creates', async () => {
      await withStore(async (store) => {
        const series = fakeSeries('dedup');
        const sid = await store.saveSeries(series, { kind: 'mbox', ref: 'x' });
        assert.equal(await store.saveSeries(series, { kind: 'mbox', ref: 'x' }), sid, 'the same series is stored once');
        const a = await store.createRun({ seriesId: sid, tree: 't', dedupKey: 'k', stages: ['apply', 'report'] });
        const b = await store.createRun({ seriesId: sid, tree: 't', dedupKey: 'k', stages: ['apply', 'report'] });
        assert.equal(a.created, true);
        assert.deepEqual(b, { runId: a.runId, created: false });
        await store.setRunStatus(a.runId, 'error', { verdict: 'error', summary: 'redis went away' });
        const c = await store.createRun({ seriesId: sid, tree: 't', dedupKey: 'k', stages: ['apply', 'report'] });
        assert.equal(c.created, true);
        const d = await store.createRun({ seriesId: sid, tree: 't', dedupKey: null, stages: ['apply'] });
        const e = await store.createRun({ seriesId: sid, tree: 't', dedupKey: null, stages: ['apply'] });
        assert.notEqual(d.runId, e.runId);
        assert.deepEqual((await store.getSeries(sid))?.fingerprint, series.fingerprint);
      });
    });

    it('records stage and run transitions with timestamps, and finds runs by id prefix', async () => {
      await withStore(async (store) => {
        const sid = await store.saveSeries(fakeSeries('transitions'), { kind: 'mbox', ref: 'x' });
        const { runId } = await store.createRun({
          seriesId: sid,
          tree: 't',
          dedupKey: null,
          stages: ['apply', 'report'],
        });
        assert.equal((await store.unfinishedRuns()).length, 1);
        await store.setRunStatus(runId, 'running');
        await store.updateStage(runId, 'apply', {
          status: 'active',
          attempt: 1,
          progress: { message: 'applying 1/2' },
          startedAt: new Date(),
        });
        await store.updateStage(runId, 'apply', {
          status: 'passed',
          result: { summary: 'ok' },
          finishedAt: new Date(),
        });
        await store.setRunStatus(runId, 'passed', {
          verdict: 'pass',
          summary: 'PASS',
          reportMarkdown: '# md',
          reportText: 'txt',
        });
        const run = await store.getRun(runId.slice(0, 8));
        assert.ok(run);
        assert.equal(run.id, runId);
        assert.equal(run.status, 'passed');
        assert.ok(run.startedAt && run.finishedAt && run.finishedAt >= run.startedAt);
        assert.deepEqual(
          run.stages.map((s) => [s.name, s.status, s.attempt]),
          [
            ['apply', 'passed', 1],
            ['report', 'pending', 0],
          ],
        );
        assert.deepEqual(run.stages[0]?.progress, { message: 'applying 1/2' });
        assert.equal(run.reportText, 'txt');
        assert.equal((await store.unfinishedRuns()).length, 0);
        assert.equal(await store.getRun('nonexistent-run'), null);
      });
    });

    it('round-trips test results and perf samples', async () => {
      await withStore(async (store) => {
        const sid = await store.saveSeries(fakeSeries('results'), { kind: 'mbox', ref: 'x' });
        const { runId } = await store.createRun({ seriesId: sid, tree: 't', dedupKey: null, stages: ['test'] });
        const tr = [
          {
            suite: 'test_progs',
            test: 'xdp_context_test_run',
            subtest: null,
            status: 'fail' as const,
            durationMs: 812,
            message: 'valid-retval',
            kernel: 'series' as const,
          },
        ];
        await store.recordTestResults(runId, 'test', tr);
        assert.deepEqual(await store.testResults(runId), tr);
        const ps = [
          {
            scenario: 'dummy0',
            side: 'base' as const,
            metric: 'pps',
            value: 372292,
            unit: 'pps',
            iteration: 1,
            env: { kernel: '6.12.117' },
          },
        ];
        await store.recordPerfSamples(runId, ps);
        assert.deepEqual(await store.perfSamples(runId), ps);
      });
    });

    it('base stability: the newest base results of a test on one tree, newest first', async () => {
      await withStore(async (store) => {
        const sid = await store.saveSeries(fakeSeries('stability'), { kind: 'mbox', ref: 'x' });
        const row = (status: 'pass' | 'fail' | 'flaky', kernel: 'base' | 'series' = 'base') => ({
          suite: 'smoke',
          test: 'loopback',
          subtest: null,
          status,
          durationMs: 1,
          message: null,
          kernel,
        });
        for (const [tree, status, kernel] of [
          ['t', 'pass'],
          ['t', 'flaky'],
          ['other', 'fail'],
          ['t', 'fail', 'series'],
          ['t', 'fail'],
        ] as const) {
          const { runId } = await store.createRun({ seriesId: sid, tree, dedupKey: null, stages: ['test'] });
          await store.recordTestResults(runId, 'test', [row(status, kernel)]);
        }
        const got = await store.baseStability({
          tree: 't',
          suite: 'smoke',
          tests: ['loopback', 'never-ran'],
          limit: 2,
        });
        assert.deepEqual(got, { loopback: { recent: ['fail', 'flaky'] }, 'never-ran': { recent: [] } });
      });
    });

    it('rolls a throwing transaction back', async () => {
      await withStore(async (store, db) => {
        await assert.rejects(
          db.transaction(async (tx) => {
            await new ResultsStore(tx).saveSeries(fakeSeries('rolled back'), { kind: 'mbox', ref: 'x' });
            throw new Error('boom');
          }),
          /boom/,
        );
        assert.equal((await db.query('SELECT * FROM series')).length, 0);
        void store;
      });
    });
  });
}

describe('PGlite lock', () => {
  it('refuses a second opener while the first is alive, and takes over a dead one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ksci-lock-'));
    try {
      const db = await openDb({ databaseUrl: null, dataDir: dir });
      await assert.rejects(
        openDb({ databaseUrl: null, dataDir: dir }),
        (e: unknown) => e instanceof InfraError && /in use by pid \d+/.test(e.message),
      );
      await db.close();
      // A lock left by a process that no longer exists.
      const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
        encoding: 'utf8',
      }).stdout;
      writeFileSync(join(dir, 'pglite.lock'), dead);
      const again = await openDb({ databaseUrl: null, dataDir: dir });
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
