import { z } from 'zod';
import { href, html, jsonScript } from '../html.js';
import { badge, when } from '../layout.js';
import { CHART_SCRIPTS, definePage } from '../page.js';
import { iso, json } from './sql.js';

const RANGES = [30, 90, 180, 365, 730] as const;

const ChangePoint = z.object({
  alertId: z.number(),
  lastGood: z.string(),
  firstChanged: z.string(),
  /** When the first changed commit was measured; null when it is no longer in the shown range. */
  at: z.string().nullable(),
  direction: z.string(),
  change: z.number(),
  status: z.string(),
});
const Scenario = z.object({
  scenario: z.string(),
  clock: z.string(),
  /** Column-wise, as the chart takes them: seconds since the epoch, median, min and max of the night's sessions. */
  t: z.array(z.number()),
  median: z.array(z.number()),
  min: z.array(z.number()),
  max: z.array(z.number()),
  commits: z.array(z.string()),
  jobs: z.array(z.string()),
  changePoints: z.array(ChangePoint),
});
const Output = z.object({
  tree: z.string().nullable(),
  trees: z.array(z.string()),
  days: z.number(),
  scenarios: z.array(Scenario),
});

/** Nightly throughput of a tree: a trend per scenario with its change points marked. */
export const nightlyPage = definePage({
  id: 'nightly',
  path: '/nightly',
  nav: 'Nightly',
  summary: 'Nightly throughput per tree and scenario over time (median and spread per night), with change points',
  input: z.object({
    tree: z.string().max(100).optional(),
    scenario: z.string().max(200).optional(),
    days: z.coerce.number().int().min(1).max(3650).default(365),
  }),
  output: Output,
  async load({ db }, q) {
    const trees = (await db.query<{ tree: string }>('SELECT DISTINCT tree FROM perf_nightly ORDER BY tree')).map(
      (r) => r.tree,
    );
    const tree = q.tree ?? trees[0] ?? null;
    if (!tree) return { tree: null, trees, days: q.days, scenarios: [] };
    const [newest] = await db.query<{ at: unknown }>(
      'SELECT max(measured_at) AS at FROM perf_nightly WHERE tree = $1',
      [tree],
    );
    const until = newest?.at ? Date.parse(iso(newest.at)) : Date.now();
    const since = new Date(until - q.days * 86400_000).toISOString();
    const rows = await db.query<Record<string, unknown>>(
      `SELECT scenario, job_id, commit_id, value, samples, env->>'clock' AS clock, measured_at FROM perf_nightly
       WHERE tree = $1 AND measured_at >= $2 ${q.scenario ? 'AND scenario = $3' : ''} ORDER BY scenario, measured_at, id`,
      q.scenario ? [tree, since, q.scenario] : [tree, since],
    );
    const alerts = await db.query<Record<string, unknown>>(
      'SELECT id, scenario, last_good, first_changed, direction, change, status FROM perf_alerts WHERE tree = $1 ORDER BY id',
      [tree],
    );
    const byScenario = new Map<string, z.infer<typeof Scenario>>();
    for (const r of rows) {
      const name = String(r['scenario']);
      let s = byScenario.get(name);
      if (!s) {
        s = {
          scenario: name,
          clock: String(r['clock'] ?? 'wall'),
          t: [],
          median: [],
          min: [],
          max: [],
          commits: [],
          jobs: [],
          changePoints: [],
        };
        byScenario.set(name, s);
      }
      const samples = (json(r['samples']) as number[]) ?? [];
      const value = Number(r['value']);
      s.t.push(Math.round(Date.parse(iso(r['measured_at'])) / 1000));
      s.median.push(value);
      s.min.push(samples.length ? Math.min(...samples) : value);
      s.max.push(samples.length ? Math.max(...samples) : value);
      s.commits.push(String(r['commit_id']));
      s.jobs.push(String(r['job_id']));
    }
    for (const a of alerts) {
      const s = byScenario.get(String(a['scenario']));
      if (!s) continue;
      const i = s.commits.indexOf(String(a['first_changed']));
      s.changePoints.push({
        alertId: Number(a['id']),
        lastGood: String(a['last_good']),
        firstChanged: String(a['first_changed']),
        at: i >= 0 ? new Date(s.t[i]! * 1000).toISOString() : null,
        direction: String(a['direction']),
        change: Number(a['change']),
        status: String(a['status']),
      });
    }
    return { tree, trees, days: q.days, scenarios: [...byScenario.values()] };
  },
  title: (d) => `Nightly throughput${d.tree ? ` of ${d.tree}` : ''}`,
  scripts: CHART_SCRIPTS,
  render(d) {
    if (!d.tree)
      return html`<h1>Nightly throughput</h1><p class="muted">No nightly measurements yet (perf.nightly.trees).</p>`;
    return html`<h1>Nightly throughput of ${d.tree}</h1>
<p>${d.trees.map((t) => html`<a href="${href('/nightly', { tree: t, days: d.days })}">${t}</a> `)} ·
  range ${RANGES.map((r) => (r === d.days ? html`<strong>${r} d</strong> ` : html`<a href="${href('/nightly', { tree: d.tree, days: r })}">${r} d</a> `))}
  · drag across a chart to zoom, double-click to reset; click a night for its measurements</p>
${d.scenarios.map(
  (s, i) => html`<section class="nightly-scenario">
<h2>${s.scenario} <span class="muted">clock ${s.clock}, ${s.t.length} nights</span></h2>
<div class="chart" id="nightly-${i}"></div>
${
  s.changePoints.length
    ? html`<ul class="cp-legend">${s.changePoints.map(
        (
          c,
        ) => html`<li class="change-point">${badge(c.direction)} ${c.change > 0 ? '+' : ''}${(c.change * 100).toFixed(1)}% between
  <code>${c.lastGood.slice(0, 12)}</code>..<code>${c.firstChanged.slice(0, 12)}</code> ${when(c.at)} · alert
  <a href="/alerts#alert-${c.alertId}">#${c.alertId}</a> ${badge(c.status)}</li>`,
      )}</ul>`
    : html`<p class="muted">no change points</p>`
}
</section>`,
)}
${jsonScript('nightly-data', { tree: d.tree, scenarios: d.scenarios.map((s) => ({ ...s, changePoints: s.changePoints.map((c) => ({ at: c.at, direction: c.direction, label: `${c.change > 0 ? '+' : ''}${(c.change * 100).toFixed(1)}%` })) })) })}`;
  },
});

/** One night of a tree: every scenario's measurement, the commit and the sessions. */
export const nightPage = definePage({
  id: 'night',
  path: '/nightly/:tree/:job',
  summary: 'One nightly measurement of a tree head: commit, each scenario value, its sessions and environment',
  input: z.object({ tree: z.string().max(100), job: z.string().max(200) }),
  output: z.object({
    tree: z.string(),
    job: z.string(),
    commit: z.string(),
    measuredAt: z.string(),
    scenarios: z.array(
      z.object({
        scenario: z.string(),
        value: z.number(),
        samples: z.array(z.number()),
        env: z.record(z.string(), z.string()),
      }),
    ),
  }),
  async load({ db }, q) {
    const rows = await db.query<Record<string, unknown>>(
      'SELECT * FROM perf_nightly WHERE tree = $1 AND job_id = $2 ORDER BY scenario',
      [q.tree, q.job],
    );
    const first = rows[0];
    if (!first) return null;
    return {
      tree: q.tree,
      job: q.job,
      commit: String(first['commit_id']),
      measuredAt: iso(first['measured_at']),
      scenarios: rows.map((r) => ({
        scenario: String(r['scenario']),
        value: Number(r['value']),
        samples: json(r['samples']) as number[],
        env: json(r['env']) as Record<string, string>,
      })),
    };
  },
  title: (d) => `${d.tree} nightly ${d.measuredAt.slice(0, 10)}`,
  render(d) {
    return html`<h1>${d.tree} on ${when(d.measuredAt)}</h1>
<p>commit <code>${d.commit}</code> · job <code>${d.job}</code> · <a href="${href('/nightly', { tree: d.tree })}">trend</a></p>
<table><thead><tr><th>scenario</th><th class="num">median pps</th><th>sessions</th><th>environment</th></tr></thead><tbody>
${d.scenarios.map(
  (
    s,
  ) => html`<tr><td>${s.scenario}</td><td class="num">${Math.round(s.value)}</td><td>${s.samples.map((x) => Math.round(x)).join(', ')}</td>
<td class="muted">${Object.entries(s.env)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')}</td></tr>`,
)}
</tbody></table>`;
  },
});
