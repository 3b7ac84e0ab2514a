import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { SeriesSchema } from '../pipeline/payload.js';
import { titleLineage } from '../series/lineage.js';
import type { Series } from '../series/types.js';
import type { Db } from './db.js';
import type { NightlyPoint, PerfAlert, PerfHistory, StoredPerfSample } from '../perf/history.js';
import type { QuarantinedTest, TestHistorySource, TestResult } from '../vm/history.js';
import type { AlertBisectResult, AlertBisections, BisectState } from '../perf/alert-bisect.js';

export type RunStatus = 'queued' | 'running' | 'passed' | 'failed' | 'error' | 'cancelled' | 'skipped';
export type StageStatus = 'pending' | 'active' | 'passed' | 'failed' | 'skipped' | 'error' | 'cancelled';
const TERMINAL: RunStatus[] = ['passed', 'failed', 'error', 'cancelled', 'skipped'];

export interface StageRecord {
  name: string;
  ordinal: number;
  status: StageStatus;
  attempt: number;
  progress: unknown;
  result: unknown;
  error: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface RunSummary {
  id: string;
  seriesId: number;
  seriesTitle: string;
  seriesVersion: number;
  tree: string;
  status: RunStatus;
  verdict: string | null;
  summary: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface RunRecord extends RunSummary {
  /** Why routing chose the tree; null for runs older than that record. */
  treeReason: string | null;
  dedupKey: string | null;
  requestedBy: string | null;
  /** What the run asked for (RunBuild), as stored when it was created; null for runs older than that. */
  options: unknown;
  reportMarkdown: string | null;
  reportText: string | null;
  stages: StageRecord[];
}

/** A nullable timestamp column as a Date. */
export const dateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : new Date(v as string));

const RUN_COLUMNS = `r.id, r.series_id, s.title AS series_title, s.version AS series_version, r.tree, r.status, r.verdict,
  r.summary, r.created_at, r.started_at, r.finished_at, r.dedup_key, r.requested_by, r.report_md, r.report_text, r.options, r.tree_reason`;

function toSummary(row: Record<string, unknown>): RunSummary {
  return {
    id: String(row['id']),
    seriesId: Number(row['series_id']),
    seriesTitle: String(row['series_title']),
    seriesVersion: Number(row['series_version']),
    tree: String(row['tree']),
    status: row['status'] as RunStatus,
    verdict: (row['verdict'] as string | null) ?? null,
    summary: (row['summary'] as string | null) ?? null,
    createdAt: new Date(row['created_at'] as string),
    startedAt: dateOrNull(row['started_at']),
    finishedAt: dateOrNull(row['finished_at']),
  };
}

/** Results: the coordinator's write side, and what `ksci status/show` read. */
export class ResultsStore implements PerfHistory, AlertBisections, TestHistorySource {
  constructor(private readonly db: Db) {}

  /** `lineage` links the versions of one series (src/series/lineage.ts); the author-and-title one by default. */
  async saveSeries(
    series: Series,
    source: { kind: 'mbox' | 'lore' | 'github'; ref: string },
    lineage = titleLineage(series),
  ): Promise<number> {
    return this.db.transaction(async (tx) => {
      const existing = await tx.query<{ id: string }>(
        'SELECT id FROM series WHERE message_id = $1 AND fingerprint = $2',
        [series.messageId, series.fingerprint],
      );
      if (existing[0]) return Number(existing[0].id);
      const [row] = await tx.query<{ id: string }>(
        `INSERT INTO series (message_id, fingerprint, title, version, total, is_rfc, is_resend, tree_tags, author_name, author_email,
           base_commit, change_id, source_kind, source_ref, data, lineage)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16) RETURNING id`,
        [
          series.messageId,
          series.fingerprint,
          series.title,
          series.version,
          series.total,
          series.isRfc,
          series.isResend,
          series.treeTags,
          series.author.name,
          series.author.address,
          series.baseCommit,
          series.changeId,
          source.kind,
          source.ref,
          JSON.stringify(series),
          lineage,
        ],
      );
      const id = Number(row!.id);
      for (const p of series.patches) {
        await tx.query(
          'INSERT INTO patches (series_id, counter, message_id, subject, author, trailers, files) VALUES ($1,$2,$3,$4,$5,$6,$7)',
          [
            id,
            p.counter,
            p.messageId,
            p.subject.raw,
            `${p.author.name} <${p.author.address}>`,
            JSON.stringify(p.trailers),
            JSON.stringify(p.files),
          ],
        );
      }
      return id;
    });
  }

  /**
   * Runs of the other versions of a series, from the last 60 days: the same
   * change-id when both carry one, else the same lineage. `older` are the
   * unfinished runs a new version supersedes: a lower version, or for an
   * explicit lineage (a PR) any other push; `newer` is a run of a later
   * version, which makes this one stale.
   */
  async relatedRuns(
    seriesId: number,
  ): Promise<{ older: { runId: string; version: number }[]; newer: { runId: string; version: number } | null }> {
    const rows = await this.db.query<{ id: string; version: number; status: string; explicit: boolean; mine: number }>(
      `SELECT r.id, s.version, r.status, me.lineage NOT LIKE 'title:%' AS explicit, me.version AS mine
       FROM runs r JOIN series s ON s.id = r.series_id, series me
       WHERE me.id = $1 AND s.id <> me.id AND s.fingerprint <> me.fingerprint
         AND CASE WHEN me.change_id IS NOT NULL AND s.change_id IS NOT NULL THEN s.change_id = me.change_id ELSE s.lineage = me.lineage END
         AND r.created_at > now() - interval '60 days'
       ORDER BY r.created_at`,
      [seriesId],
    );
    const unfinished = (r: { status: string }) => r.status === 'queued' || r.status === 'running';
    const older = rows
      .filter(
        (r) =>
          unfinished(r) && (Number(r.version) < Number(r.mine) || (r.explicit && Number(r.version) === Number(r.mine))),
      )
      .map((r) => ({ runId: r.id, version: Number(r.version) }));
    const later = rows.filter((r) => Number(r.version) > Number(r.mine) && r.status !== 'cancelled');
    const newest = later[later.length - 1];
    return { older, newer: newest ? { runId: newest.id, version: Number(newest.version) } : null };
  }

  /** Where a series came from (its source kind and reference). */
  async seriesSource(seriesId: number): Promise<{ kind: 'mbox' | 'lore' | 'github'; ref: string } | null> {
    const [row] = await this.db.query<{ source_kind: 'mbox' | 'lore' | 'github'; source_ref: string }>(
      'SELECT source_kind, source_ref FROM series WHERE id = $1',
      [seriesId],
    );
    return row ? { kind: row.source_kind, ref: row.source_ref } : null;
  }

  async getSeries(seriesId: number): Promise<Series | null> {
    const [row] = await this.db.query<{ data: unknown }>('SELECT data FROM series WHERE id = $1', [seriesId]);
    if (!row) return null;
    return SeriesSchema.parse(typeof row.data === 'string' ? JSON.parse(row.data) : row.data);
  }

  /**
   * A new run, unless one with the same dedup key exists that did not end
   * in an error or cancellation: the same series version is not run twice.
   */
  async createRun(input: {
    seriesId: number;
    tree: string;
    treeReason?: string;
    dedupKey: string | null;
    stages: string[];
    requestedBy?: string;
    options?: unknown;
  }): Promise<{ runId: string; created: boolean }> {
    return this.db.transaction(async (tx) => {
      if (input.dedupKey !== null) {
        const [prev] = await tx.query<{ id: string }>(
          `SELECT id FROM runs WHERE dedup_key = $1 AND status NOT IN ('error', 'cancelled') ORDER BY created_at DESC LIMIT 1`,
          [input.dedupKey],
        );
        if (prev) return { runId: prev.id, created: false };
      }
      const runId = randomUUID();
      await tx.query(
        'INSERT INTO runs (id, series_id, tree, tree_reason, status, dedup_key, requested_by, options) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)',
        [
          runId,
          input.seriesId,
          input.tree,
          input.treeReason ?? null,
          'queued',
          input.dedupKey,
          input.requestedBy ?? null,
          input.options === undefined ? null : JSON.stringify(input.options),
        ],
      );
      for (const [i, name] of input.stages.entries()) {
        await tx.query(`INSERT INTO stages (run_id, name, ordinal, status) VALUES ($1,$2,$3,'pending')`, [
          runId,
          name,
          i,
        ]);
      }
      return { runId, created: true };
    });
  }

  async updateStage(
    runId: string,
    stage: string,
    u: {
      status?: StageStatus;
      attempt?: number;
      progress?: unknown;
      result?: unknown;
      error?: string | null;
      startedAt?: Date;
      finishedAt?: Date;
    },
  ): Promise<void> {
    const sets: string[] = [];
    const params: unknown[] = [runId, stage];
    const set = (col: string, v: unknown) => {
      params.push(v);
      sets.push(`${col} = $${params.length}`);
    };
    if (u.status !== undefined) set('status', u.status);
    if (u.attempt !== undefined) set('attempt', u.attempt);
    if (u.progress !== undefined) set('progress', JSON.stringify(u.progress));
    if (u.result !== undefined) set('result', JSON.stringify(u.result));
    if (u.error !== undefined) set('error', u.error);
    if (u.startedAt !== undefined) set('started_at', u.startedAt.toISOString());
    if (u.finishedAt !== undefined) set('finished_at', u.finishedAt.toISOString());
    if (sets.length === 0) return;
    await this.db.query(`UPDATE stages SET ${sets.join(', ')} WHERE run_id = $1 AND name = $2`, params);
  }

  async setRunStatus(
    runId: string,
    status: RunStatus,
    u: { verdict?: string; summary?: string; reportMarkdown?: string; reportText?: string } = {},
  ): Promise<void> {
    await this.db.query(
      `UPDATE runs SET status = $2,
         verdict = COALESCE($3, verdict), summary = COALESCE($4, summary),
         report_md = COALESCE($5, report_md), report_text = COALESCE($6, report_text),
         started_at = CASE WHEN $2 = 'running' AND started_at IS NULL THEN now() ELSE started_at END,
         finished_at = CASE WHEN $7 AND finished_at IS NULL THEN now() ELSE finished_at END
       WHERE id = $1`,
      [
        runId,
        status,
        u.verdict ?? null,
        u.summary ?? null,
        u.reportMarkdown ?? null,
        u.reportText ?? null,
        TERMINAL.includes(status),
      ],
    );
  }

  /** By full id, or by a unique prefix of at least 8 characters. */
  async getRun(idOrPrefix: string): Promise<RunRecord | null> {
    let rows = await this.db.query<Record<string, unknown>>(
      `SELECT ${RUN_COLUMNS} FROM runs r JOIN series s ON s.id = r.series_id WHERE r.id = $1`,
      [idOrPrefix],
    );
    if (rows.length === 0 && idOrPrefix.length >= 8 && /^[0-9a-f-]+$/.test(idOrPrefix)) {
      rows = await this.db.query(
        `SELECT ${RUN_COLUMNS} FROM runs r JOIN series s ON s.id = r.series_id WHERE r.id LIKE $1 LIMIT 2`,
        [`${idOrPrefix}%`],
      );
      if (rows.length > 1) return null;
    }
    const row = rows[0];
    if (!row) return null;
    const stages = await this.db.query<Record<string, unknown>>(
      'SELECT * FROM stages WHERE run_id = $1 ORDER BY ordinal',
      [row['id']],
    );
    return {
      ...toSummary(row),
      treeReason: (row['tree_reason'] as string | null) ?? null,
      dedupKey: (row['dedup_key'] as string | null) ?? null,
      requestedBy: (row['requested_by'] as string | null) ?? null,
      options: row['options'] ? (JSON.parse(String(row['options'])) as unknown) : null,
      reportMarkdown: (row['report_md'] as string | null) ?? null,
      reportText: (row['report_text'] as string | null) ?? null,
      stages: stages.map((s) => ({
        name: String(s['name']),
        ordinal: Number(s['ordinal']),
        status: s['status'] as StageStatus,
        attempt: Number(s['attempt']),
        progress: s['progress'] ?? null,
        result: s['result'] ?? null,
        error: (s['error'] as string | null) ?? null,
        startedAt: dateOrNull(s['started_at']),
        finishedAt: dateOrNull(s['finished_at']),
      })),
    };
  }

  async listRuns(opts: { limit?: number; status?: RunStatus[] } = {}): Promise<RunSummary[]> {
    const rows = await this.db.query<Record<string, unknown>>(
      `SELECT ${RUN_COLUMNS} FROM runs r JOIN series s ON s.id = r.series_id
       WHERE $1::text[] IS NULL OR r.status = ANY($1::text[]) ORDER BY r.created_at DESC LIMIT $2`,
      [opts.status ?? null, opts.limit ?? 50],
    );
    return rows.map(toSummary);
  }

  unfinishedRuns(): Promise<RunSummary[]> {
    return this.listRuns({ status: ['queued', 'running'], limit: 10_000 });
  }

  async recordTestResults(runId: string, stage: string, results: TestResult[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const r of results) {
        await tx.query(
          'INSERT INTO test_results (run_id, stage, kernel, suite, test, subtest, status, duration_ms, message) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)',
          [runId, stage, r.kernel, r.suite, r.test, r.subtest, r.status, r.durationMs, r.message],
        );
      }
    });
  }

  async testResults(runId: string): Promise<TestResult[]> {
    const rows = await this.db.query<Record<string, unknown>>(
      'SELECT * FROM test_results WHERE run_id = $1 ORDER BY id',
      [runId],
    );
    return rows.map((r) => ({
      suite: String(r['suite']),
      test: String(r['test']),
      subtest: (r['subtest'] as string | null) ?? null,
      status: r['status'] as TestResult['status'],
      durationMs: r['duration_ms'] === null ? null : Number(r['duration_ms']),
      message: (r['message'] as string | null) ?? null,
      kernel: r['kernel'] as TestResult['kernel'],
    }));
  }

  /** The newest base results of each test on a tree, for "flaky: 3 of the last 20 base runs". */
  async baseStability(q: {
    tree: string;
    suite: string;
    tests: string[];
    limit: number;
  }): Promise<Record<string, { recent: string[] }>> {
    const out: Record<string, { recent: string[] }> = {};
    for (const test of q.tests) {
      const rows = await this.db.query<{ status: string }>(
        `SELECT tr.status FROM test_results tr JOIN runs r ON r.id = tr.run_id
         WHERE r.tree = $1 AND tr.suite = $2 AND tr.test = $3 AND tr.kernel = 'base' AND tr.subtest IS NULL
         ORDER BY tr.id DESC LIMIT $4`,
        [q.tree, q.suite, test, q.limit],
      );
      out[test] = { recent: rows.map((r) => r.status) };
    }
    return out;
  }

  async quarantined(q: { tree: string; suite: string }): Promise<QuarantinedTest[]> {
    const rows = await this.db.query<Record<string, unknown>>(
      'SELECT * FROM quarantined_tests WHERE tree = $1 AND suite = $2 ORDER BY test',
      [q.tree, q.suite],
    );
    return rows.map(toQuarantined);
  }

  /** Every quarantine, newest first: the dashboard's list. */
  async quarantines(): Promise<QuarantinedTest[]> {
    const rows = await this.db.query<Record<string, unknown>>(
      'SELECT * FROM quarantined_tests ORDER BY added_at DESC, tree, suite, test',
    );
    return rows.map(toQuarantined);
  }

  /** Takes a test out of a tree's verdicts (again: the reason and who are replaced). */
  async quarantine(q: Omit<QuarantinedTest, 'addedAt'>): Promise<QuarantinedTest> {
    const [row] = await this.db.query<Record<string, unknown>>(
      `INSERT INTO quarantined_tests (tree, suite, test, reason, added_by) VALUES ($1,$2,$3,$4,$5)
       ON CONFLICT (tree, suite, test) DO UPDATE SET reason = EXCLUDED.reason, added_by = EXCLUDED.added_by, added_at = now()
       RETURNING *`,
      [q.tree, q.suite, q.test, q.reason, q.addedBy],
    );
    return toQuarantined(row!);
  }

  /** Counts the test again; false when it was not quarantined. */
  async unquarantine(q: { tree: string; suite: string; test: string }): Promise<boolean> {
    const rows = await this.db.query(
      'DELETE FROM quarantined_tests WHERE tree = $1 AND suite = $2 AND test = $3 RETURNING test',
      [q.tree, q.suite, q.test],
    );
    return rows.length > 0;
  }

  async recordPerfSamples(runId: string, samples: StoredPerfSample[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const s of samples) {
        await tx.query(
          'INSERT INTO perf_samples (run_id, scenario, side, metric, value, unit, iteration, env) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)',
          [runId, s.scenario, s.side, s.metric, s.value, s.unit, s.iteration, JSON.stringify(s.env)],
        );
      }
    });
  }

  /**
   * One night's measurement of a tree head, a row per scenario. Idempotent
   * per job: a coordinator that records a finished nightly job twice (after
   * a restart) keeps one row.
   */
  async recordNightly(points: NightlyPoint[]): Promise<number> {
    return this.db.transaction(async (tx) => {
      let added = 0;
      for (const p of points) {
        const rows = await tx.query(
          `INSERT INTO perf_nightly (job_id, tree, commit_id, scenario, value, samples, env, measured_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)
           ON CONFLICT (job_id, scenario) DO NOTHING RETURNING id`,
          [
            p.jobId,
            p.tree,
            p.commit,
            p.scenario,
            p.value,
            JSON.stringify(p.samples),
            JSON.stringify(p.env),
            p.measuredAt,
          ],
        );
        added += rows.length;
      }
      return added;
    });
  }

  /** A scenario's nightly points on a tree, oldest first. */
  async nightlyHistory(tree: string, scenario: string, limit = 365): Promise<NightlyPoint[]> {
    const rows = await this.db.query<Record<string, unknown>>(
      'SELECT * FROM (SELECT * FROM perf_nightly WHERE tree = $1 AND scenario = $2 ORDER BY measured_at DESC, id DESC LIMIT $3) recent ORDER BY measured_at, id',
      [tree, scenario, limit],
    );
    const Samples = z.array(z.number());
    const Env = z.record(z.string(), z.string());
    const json = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);
    return rows.map((r) => ({
      jobId: String(r['job_id']),
      tree: String(r['tree']),
      commit: String(r['commit_id']),
      scenario: String(r['scenario']),
      value: Number(r['value']),
      samples: Samples.parse(json(r['samples'])),
      env: Env.parse(json(r['env'])),
      measuredAt: new Date(r['measured_at'] as string).toISOString(),
    }));
  }

  async nightlyScenarios(tree: string): Promise<string[]> {
    const rows = await this.db.query<{ scenario: string }>(
      'SELECT DISTINCT scenario FROM perf_nightly WHERE tree = $1 ORDER BY scenario',
      [tree],
    );
    return rows.map((r) => r.scenario);
  }

  async recordAlert(a: PerfAlert): Promise<void> {
    await this.db.query(
      'INSERT INTO perf_alerts (tree, scenario, last_good, first_changed, direction, change, p, report) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)',
      [a.tree, a.scenario, a.lastGood, a.firstChanged, a.direction, a.change, a.p, a.report],
    );
  }

  async alerts(tree: string, scenario?: string): Promise<(PerfAlert & { createdAt: string })[]> {
    const rows = await this.db.query<Record<string, unknown>>(
      `SELECT * FROM perf_alerts WHERE tree = $1 ${scenario ? 'AND scenario = $2' : ''} ORDER BY id`,
      scenario ? [tree, scenario] : [tree],
    );
    return rows.map((r) => ({
      tree: String(r['tree']),
      scenario: String(r['scenario']),
      lastGood: String(r['last_good']),
      firstChanged: String(r['first_changed']),
      direction: r['direction'] as PerfAlert['direction'],
      change: Number(r['change']),
      p: Number(r['p']),
      report: String(r['report']),
      createdAt: new Date(r['created_at'] as string).toISOString(),
    }));
  }

  async alertRange(
    id: number,
  ): Promise<{ tree: string; scenario: string; lastGood: string; firstChanged: string } | null> {
    const [r] = await this.db.query<Record<string, unknown>>(
      'SELECT tree, scenario, last_good, first_changed FROM perf_alerts WHERE id = $1',
      [id],
    );
    return r
      ? {
          tree: String(r['tree']),
          scenario: String(r['scenario']),
          lastGood: String(r['last_good']),
          firstChanged: String(r['first_changed']),
        }
      : null;
  }

  async moveBisect(id: number, from: (BisectState | null)[], to: BisectState, by?: string): Promise<boolean> {
    const states = from.filter((f): f is BisectState => f !== null);
    const rows = await this.db.query(
      `UPDATE perf_alerts SET bisect_status = $2, bisect_at = now(), bisect_by = COALESCE($3, bisect_by),
         bisect_result = CASE WHEN $2 = 'queued' THEN NULL ELSE bisect_result END
       WHERE id = $1 AND (bisect_status = ANY($4::text[]) OR ($5 AND bisect_status IS NULL)) RETURNING id`,
      [id, to, by ?? null, states, from.includes(null)],
    );
    return rows.length > 0;
  }

  async recordBisect(id: number, state: 'done' | 'failed', result: AlertBisectResult): Promise<void> {
    await this.db.query(
      'UPDATE perf_alerts SET bisect_status = $2, bisect_result = $3, bisect_at = now() WHERE id = $1',
      [id, state, JSON.stringify(result)],
    );
  }

  async perfSamples(runId: string): Promise<StoredPerfSample[]> {
    const rows = await this.db.query<Record<string, unknown>>(
      'SELECT * FROM perf_samples WHERE run_id = $1 ORDER BY id',
      [runId],
    );
    const Env = z.record(z.string(), z.unknown());
    return rows.map((r) => ({
      scenario: String(r['scenario']),
      side: r['side'] as StoredPerfSample['side'],
      metric: String(r['metric']),
      value: Number(r['value']),
      unit: String(r['unit']),
      iteration: Number(r['iteration']),
      env: Env.parse(typeof r['env'] === 'string' ? JSON.parse(r['env']) : r['env']),
    }));
  }
}

function toQuarantined(r: Record<string, unknown>): QuarantinedTest {
  return {
    tree: String(r['tree']),
    suite: String(r['suite']),
    test: String(r['test']),
    reason: String(r['reason']),
    addedBy: String(r['added_by']),
    addedAt: new Date(r['added_at'] as string).toISOString(),
  };
}
