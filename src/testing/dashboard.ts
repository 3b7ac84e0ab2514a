import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { silentLogger } from '../log.js';
import { openDb, type Db } from '../store/db.js';
import { migrate } from '../store/migrations.js';
import { ResultsStore } from '../store/results.js';
import { AdminTokens } from '../web/auth.js';
import { buildWebServer } from '../web/server.js';
import { type DashboardData, type DashboardDataOptions, generateDashboardData } from './dashboard-data.js';
import { testConfig } from './harness.js';

export interface Dashboard {
  url: string;
  db: Db;
  data: DashboardData;
  /** An admin token named "maintainer". */
  token: string;
  /** What admins asked for, in order. */
  actions: { action: 'cancel' | 'retest' | 'resend' | 'bisect'; runId: string; by: string }[];
  close(): Promise<void>;
}

/**
 * The real dashboard over real HTTP on PGlite filled by the generator. The
 * admin actions are the coordinator's part and are tested with it; here
 * they record the call and do to the database what the coordinator would
 * (a cancel ends the run as cancelled), so the pages show the result.
 */
export async function startDashboard(
  o: { publicRead?: boolean; data?: Partial<DashboardDataOptions> } = {},
): Promise<Dashboard> {
  const dir = mkdtempSync(join(tmpdir(), 'ksci-web-'));
  const db = await openDb({ databaseUrl: null, dataDir: dir });
  await migrate(db);
  const data = await generateDashboardData(db, {
    series: 80,
    testsPerRun: 10,
    nightlyDays: 200,
    scenarios: 3,
    ...o.data,
  });
  const config = testConfig(dir, {
    trees: data.trees.map((name) => ({ name, source: { kind: 'git', url: join(dir, name) }, tags: [name] })),
    defaultTree: data.trees[0],
    web: { port: 0, publicRead: o.publicRead ?? true },
  });
  const tokens = AdminTokens.forDataDir(dir);
  const token = tokens.add('maintainer');
  const actions: Dashboard['actions'] = [];
  const store = new ResultsStore(db);
  const app = await buildWebServer({
    db,
    config,
    live: null,
    log: silentLogger,
    tokens,
    actions: {
      async cancel(runId, by) {
        actions.push({ action: 'cancel', runId, by });
        await store.setRunStatus(runId, 'cancelled', { verdict: 'cancelled', summary: `cancelled by ${by}` });
      },
      async retest(runId, by) {
        actions.push({ action: 'retest', runId, by });
        return runId;
      },
      async resendReply(runId, by) {
        actions.push({ action: 'resend', runId, by });
      },
      // The queue and its worker are tested in src/perf/alert-bisect.test.ts; here the alert shows it queued.
      async bisectAlert(alertId, by) {
        actions.push({ action: 'bisect', runId: String(alertId), by });
        if (!(await store.moveBisect(alertId, [null, 'done', 'failed'], 'queued', by)))
          throw new UsageError(`alert ${alertId} is being bisected already`);
      },
    },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    db,
    data,
    token,
    actions,
    async close() {
      await app.close();
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
