/**
 * Dashboard server time per page on a lab-sized results database: about
 * 20,000 runs, 200,000 test results and a year of nightly samples for 10
 * scenarios per tree (src/testing/dashboard-data.ts, on PGlite unless
 * DATABASE_URL names a PostgreSQL server to fill). Server time is the
 * Server-Timing header the dashboard sets (routing, queries, rendering);
 * each page is asked `requests` times in turn after one warm-up. Reference
 * in the same run: a static asset through the same server, so the ratio
 * is what a page costs over the HTTP stack itself on this machine.
 *   node dist/bench/web.js [series=8000] [requests=30]
 */
import { performance } from 'node:perf_hooks';
import { startDashboard } from '../src/testing/dashboard.js';
import { percentile } from './stats.js';

const SERIES = Number(process.argv[2] ?? 8000);
const REQUESTS = Number(process.argv[3] ?? 30);

const t0 = performance.now();
const d = await startDashboard({ data: { series: SERIES, testsPerRun: 14, nightlyDays: 365, scenarios: 10 } });
const [counts] = await d.db.query<{ runs: string; results: string; nightly: string; series: string }>(
  `SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM test_results) AS results,
     (SELECT count(*) FROM perf_nightly) AS nightly, (SELECT count(*) FROM series) AS series`,
);
console.log(
  `database: ${counts!.series} series, ${counts!.runs} runs, ${counts!.results} test results, ${counts!.nightly} nightly points (${d.db.kind}); generated in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
);

const tree = d.data.changePoints[0]!.tree;
const pages: [string, string][] = [
  ['static asset (reference)', '/assets/style.css'],
  ['series list', '/series'],
  ['series list, page 100', '/series?page=100'],
  ['series list, verdict=fail', '/series?verdict=fail'],
  ['series list, text search', '/series?q=dynptr'],
  ['series list, author + tree', `/series?author=ivan&tree=${tree}`],
  ['a series', `/series/${d.data.seriesIds[Math.floor(d.data.seriesIds.length / 2)]}`],
  ['a failing run', `/runs/${d.data.failingRunId}`],
  ['a perf run', `/runs/${d.data.perfRunId}`],
  ['nightly, a year, 10 scenarios', `/nightly?tree=${tree}&days=365`],
  ['flakes, 21 days', `/flakes?tree=${tree}`],
  ['compare two runs', `/compare?a=${d.data.runIds[0]}&b=${d.data.failingRunId}`],
  ['compare a tree over time', `/compare?tree=${tree}&from=2026-06-01&to=2026-11-01`],
  ['incidents, 30 days', '/incidents'],
  ['alerts', '/alerts'],
  ['status, 14 days', '/status'],
  ['series list JSON', '/api/series'],
  ['nightly JSON', `/api/nightly?tree=${tree}`],
];

const serverMs = async (path: string): Promise<number> => {
  const res = await fetch(`${d.url}${path}`);
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status}`);
  const m = /dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '');
  if (!m) throw new Error(`${path}: no Server-Timing header`);
  return Number(m[1]);
};

const results: { name: string; p50: number; p95: number }[] = [];
for (const [name, path] of pages) {
  await serverMs(path);
  const xs: number[] = [];
  for (let i = 0; i < REQUESTS; i++) xs.push(await serverMs(path));
  xs.sort((a, b) => a - b);
  results.push({ name, p50: percentile(xs, 50), p95: percentile(xs, 95) });
}
const ref = results[0]!;
console.log(`\nserver time over ${REQUESTS} requests each (target: p95 under 200 ms)`);
console.log(`${'page'.padEnd(34)} ${'p50 ms'.padStart(9)} ${'p95 ms'.padStart(9)} ${'p50 / reference'.padStart(16)}`);
for (const r of results)
  console.log(
    `${r.name.padEnd(34)} ${r.p50.toFixed(1).padStart(9)} ${r.p95.toFixed(1).padStart(9)} ${`${(r.p50 / ref.p50).toFixed(0)}x`.padStart(16)}${r.p95 > 200 ? '  over target' : ''}`,
  );
await d.close();
