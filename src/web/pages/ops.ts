import { z } from 'zod';
import { WorkerInfoSchema } from '../../queue/presence.js';
import { type Html, html } from '../html.js';
import { actionForm, badge, duration, when } from '../layout.js';
import { definePage, type View } from '../page.js';
import { iso, isoOrNull, percentile } from './sql.js';

export const ALERT_STATUSES = ['new', 'acknowledged', 'invalid', 'fixed'] as const;

const BisectionResult = z.object({
  culprit: z.string().nullable(),
  probes: z.array(z.object({ counter: z.number(), verdict: z.string(), change: z.number().nullable() })),
  commits: z.number(),
  note: z.string().nullable(),
  error: z.string().optional(),
});

function bisectionOf(r: Record<string, unknown>) {
  const status = r['bisect_status'] as 'queued' | 'running' | 'done' | 'failed' | null;
  if (!status) return null;
  const result = BisectionResult.safeParse(
    typeof r['bisect_result'] === 'string' ? JSON.parse(r['bisect_result']) : r['bisect_result'],
  );
  return {
    status,
    by: (r['bisect_by'] as string | null) ?? null,
    at: isoOrNull(r['bisect_at']),
    culprit: result.success ? result.data.culprit : null,
    probes: result.success ? result.data.probes : [],
    commits: result.success ? result.data.commits : null,
    note: result.success ? result.data.note : null,
    error: result.success ? (result.data.error ?? null) : null,
  };
}

type AlertRow = { id: number; bisect: string; bisection: ReturnType<typeof bisectionOf> };

/** The bisection's state or result, and the button that starts one (none while one is queued or running). */
function renderBisection(a: AlertRow, view: View): Html {
  const b = a.bisection;
  const button = actionForm(view, `/alerts/${a.id}/bisect`, b ? 'bisect again' : 'bisect');
  const command = html`<span class="muted">by hand: <code>${a.bisect}</code></span>`;
  if (!b) return html`${button} ${command}`;
  const who = html`<span class="muted">${b.by ?? ''} ${when(b.at)}</span>`;
  if (b.status === 'queued' || b.status === 'running')
    return html`<span class="bisect">bisection ${b.status}</span> ${who}`;
  if (b.status === 'failed')
    return html`<span class="bisect">bisection failed: ${b.error ?? 'unknown'}</span> ${who}<br />${button} ${command}`;
  const probes = b.probes.map(
    (p) => `${p.counter}: ${p.verdict}${p.change === null ? '' : ` ${(p.change * 100).toFixed(1)}%`}`,
  );
  return html`<span class="bisect">${b.culprit ? html`culprit: <code>${b.culprit}</code>` : 'no culprit'}</span> ${who}
<br /><span class="muted">${b.commits ?? '?'} commits; probes ${probes.join(', ')}${b.note ? `; ${b.note}` : ''}</span><br />${button}`;
}

/** Nightly change points to triage (Perfherder's alerts view): status, note, and how to bisect. */
export const alertsPage = definePage({
  id: 'alerts',
  path: '/alerts',
  nav: 'Alerts',
  summary: 'Nightly change points with their triage status and note',
  input: z.object({ status: z.enum(ALERT_STATUSES).optional(), tree: z.string().max(100).optional() }),
  output: z.object({
    alerts: z.array(
      z.object({
        id: z.number(),
        tree: z.string(),
        scenario: z.string(),
        lastGood: z.string(),
        firstChanged: z.string(),
        direction: z.string(),
        change: z.number(),
        p: z.number(),
        status: z.enum(ALERT_STATUSES),
        note: z.string().nullable(),
        updatedBy: z.string().nullable(),
        createdAt: z.string(),
        /** The command that bisects the range (a bisection runs on the perf hosts, for minutes to hours). */
        bisect: z.string(),
        /** A bisection asked for from here: where it stands and what it found. */
        bisection: z
          .object({
            status: z.enum(['queued', 'running', 'done', 'failed']),
            by: z.string().nullable(),
            at: z.string().nullable(),
            culprit: z.string().nullable(),
            probes: z.array(z.object({ counter: z.number(), verdict: z.string(), change: z.number().nullable() })),
            commits: z.number().nullable(),
            note: z.string().nullable(),
            error: z.string().nullable(),
          })
          .nullable(),
      }),
    ),
  }),
  async load({ db }, q) {
    const rows = await db.query<Record<string, unknown>>(
      `SELECT * FROM perf_alerts WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR tree = $2) ORDER BY created_at DESC, id DESC LIMIT 500`,
      [q.status ?? null, q.tree ?? null],
    );
    return {
      alerts: rows.map((r) => ({
        id: Number(r['id']),
        tree: String(r['tree']),
        scenario: String(r['scenario']),
        lastGood: String(r['last_good']),
        firstChanged: String(r['first_changed']),
        direction: String(r['direction']),
        change: Number(r['change']),
        p: Number(r['p']),
        status: r['status'] as (typeof ALERT_STATUSES)[number],
        note: (r['note'] as string | null) ?? null,
        updatedBy: (r['updated_by'] as string | null) ?? null,
        createdAt: iso(r['created_at']),
        bisect: `ksci nightly bisect ${String(r['tree'])} ${String(r['scenario'])} ${String(r['last_good'])} ${String(r['first_changed'])}`,
        bisection: bisectionOf(r),
      })),
    };
  },
  title: () => 'Alerts',
  render(d, view) {
    return html`<h1>Nightly alerts</h1>
<p>${['', ...ALERT_STATUSES].map((s) => html`<a href="/alerts${s ? `?status=${s}` : ''}">${s || 'all'}</a> `)}</p>
<table class="alerts"><thead><tr><th>#</th><th>tree / scenario</th><th>change</th><th>range</th><th>status</th><th>note</th></tr></thead><tbody>
${d.alerts.map(
  (a) => html`<tr id="alert-${a.id}"><td>${a.id}</td><td>${a.tree}<br />${a.scenario}</td>
<td>${badge(a.direction)} ${(a.change * 100).toFixed(1)}%<br /><span class="muted">p ${a.p.toExponential(1)}, ${when(a.createdAt)}</span></td>
<td><code>${a.lastGood.slice(0, 12)}..${a.firstChanged.slice(0, 12)}</code><br />${renderBisection(a, view)}</td>
<td>${badge(a.status)}${a.updatedBy ? html`<br /><span class="muted">by ${a.updatedBy}</span>` : ''}</td>
<td>${a.note ?? ''}
${actionForm(
  view,
  `/alerts/${a.id}`,
  'save',
  html`<select name="status">${ALERT_STATUSES.map((s) => html`<option ${s === a.status ? html`selected` : ''}>${s}</option>`)}</select>
  <input name="note" value="${a.note ?? ''}" placeholder="note" maxlength="2000" />`,
)}</td></tr>`,
)}
</tbody></table>`;
  },
});

/** How the lab is doing: queued and running runs per tree, post-to-verdict time per day, the infrastructure error rate. */
export const statusPage = definePage({
  id: 'status',
  path: '/status',
  nav: 'Status',
  summary: 'Runs queued and running per tree; time from post to verdict per day (p50/p90); infrastructure error rate',
  input: z.object({ days: z.coerce.number().int().min(1).max(365).default(14) }),
  output: z.object({
    trees: z.array(z.object({ tree: z.string(), queued: z.number(), running: z.number() })),
    days: z.array(
      z.object({
        day: z.string(),
        finished: z.number(),
        errors: z.number(),
        errorRate: z.number(),
        p50Ms: z.number().nullable(),
        p90Ms: z.number().nullable(),
      }),
    ),
  }),
  async load({ db }, q) {
    const trees = await db.query<{ tree: string; queued: string; running: string }>(
      `SELECT tree, count(*) FILTER (WHERE status = 'queued') AS queued, count(*) FILTER (WHERE status = 'running') AS running
       FROM runs WHERE status IN ('queued', 'running') GROUP BY tree ORDER BY tree`,
    );
    const runs = await db.query<{ status: string; finished_at: unknown; posted_at: unknown; created_at: unknown }>(
      `SELECT r.status, r.finished_at, r.created_at, s.created_at AS posted_at FROM runs r JOIN series s ON s.id = r.series_id
       WHERE r.finished_at >= (SELECT max(finished_at) FROM runs) - make_interval(days => $1) AND r.status <> 'cancelled'`,
      [q.days],
    );
    const byDay = new Map<string, { finished: number; errors: number; waits: number[] }>();
    for (const r of runs) {
      const fin = isoOrNull(r.finished_at);
      if (!fin) continue;
      const d = fin.slice(0, 10);
      if (!byDay.has(d)) byDay.set(d, { finished: 0, errors: 0, waits: [] });
      const e = byDay.get(d)!;
      e.finished++;
      if (r.status === 'error') e.errors++;
      else e.waits.push(Date.parse(fin) - Date.parse(iso(r.posted_at)));
    }
    return {
      trees: trees.map((t) => ({ tree: t.tree, queued: Number(t.queued), running: Number(t.running) })),
      days: [...byDay.entries()]
        .sort((a, b) => b[0].localeCompare(a[0]))
        .map(([day, e]) => ({
          day,
          finished: e.finished,
          errors: e.errors,
          errorRate: e.finished ? e.errors / e.finished : 0,
          p50Ms: percentile(e.waits, 0.5),
          p90Ms: percentile(e.waits, 0.9),
        })),
    };
  },
  title: () => 'Status',
  render(d) {
    return html`<h1>Status</h1>
<h2>Waiting and running, per tree</h2>
${
  d.trees.length
    ? html`<table><thead><tr><th>tree</th><th class="num">queued</th><th class="num">running</th></tr></thead><tbody>
${d.trees.map((t) => html`<tr><td>${t.tree}</td><td class="num">${t.queued}</td><td class="num">${t.running}</td></tr>`)}</tbody></table>`
    : html`<p class="muted">nothing queued</p>`
}
<h2>Received to verdict, per day</h2>
<table class="days"><thead><tr><th>day</th><th class="num">runs</th><th class="num">p50</th><th class="num">p90</th><th class="num">infrastructure errors</th></tr></thead><tbody>
${d.days.map(
  (
    x,
  ) => html`<tr><td>${x.day}</td><td class="num">${x.finished}</td><td class="num">${duration(x.p50Ms)}</td><td class="num">${duration(x.p90Ms)}</td>
<td class="num">${x.errors} (${(x.errorRate * 100).toFixed(1)}%)</td></tr>`,
)}
</tbody></table>`;
  },
});

/** Live: queues, workers with capabilities and heartbeats, perf host locks, lore polling. */
export const workersPage = definePage({
  id: 'workers',
  path: '/workers',
  nav: 'Workers',
  summary: 'Live queues, workers (roles, capabilities, last heartbeat), perf hosts locked, lore poll state per list',
  input: z.object({}),
  output: z.object({
    live: z.boolean(),
    queues: z.array(z.object({ queue: z.string(), counts: z.record(z.string(), z.number()), workers: z.number() })),
    workers: z.array(WorkerInfoSchema),
    hostLocks: z.array(z.object({ host: z.string(), ttlSeconds: z.number() })),
    lore: z.array(
      z.object({
        list: z.string(),
        lastPollAt: z.string().nullable(),
        lastOkAt: z.string().nullable(),
        lastError: z.string().nullable(),
        pending: z.number(),
      }),
    ),
  }),
  async load({ db, live }) {
    const lore = await db.query<Record<string, unknown>>(
      `SELECT l.list, l.last_poll_at, l.last_ok_at, l.last_error,
         (SELECT count(*) FROM lore_messages m WHERE m.list = l.list AND m.status = 'pending') AS pending
       FROM lore_lists l ORDER BY l.list`,
    );
    return {
      live: live !== null,
      queues: live ? await live.queues() : [],
      workers: live ? await live.workers() : [],
      hostLocks: live ? await live.hostLocks() : [],
      lore: lore.map((l) => ({
        list: String(l['list']),
        lastPollAt: isoOrNull(l['last_poll_at']),
        lastOkAt: isoOrNull(l['last_ok_at']),
        lastError: (l['last_error'] as string | null) ?? null,
        pending: Number(l['pending']),
      })),
    };
  },
  title: () => 'Queues and workers',
  render(d, view) {
    return html`<h1>Queues and workers</h1>
${d.live ? '' : html`<p class="muted">Redis is not connected: no live state.</p>`}
<p>${view.user ? html`<a href="/admin/queues">jobs in detail (bull-board)</a>` : html`<span class="muted">log in for the jobs in detail (bull-board)</span>`}</p>
<h2>Queues</h2>
<table class="queues"><thead><tr><th>queue</th><th class="num">waiting</th><th class="num">active</th><th class="num">delayed</th><th class="num">failed</th><th class="num">workers</th></tr></thead><tbody>
${d.queues.map(
  (
    q,
  ) => html`<tr><td>${q.queue}</td><td class="num">${q.counts['waiting'] ?? 0}</td><td class="num">${q.counts['active'] ?? 0}</td>
<td class="num">${q.counts['delayed'] ?? 0}</td><td class="num">${q.counts['failed'] ?? 0}</td><td class="num">${q.workers}</td></tr>`,
)}
</tbody></table>
<h2>Workers</h2>
<table class="workers"><thead><tr><th>worker</th><th>roles</th><th>capabilities</th><th>started</th><th>last heartbeat</th></tr></thead><tbody>
${d.workers.map(
  (w) =>
    html`<tr><td>${w.id}</td><td>${w.roles.join(', ')}</td><td class="muted">${Object.entries(w.capabilities)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ')}</td><td>${when(w.startedAt)}</td><td>${when(w.heartbeatAt ?? null)}</td></tr>`,
)}
</tbody></table>
<h2>Perf hosts locked</h2>
${d.hostLocks.length ? html`<ul>${d.hostLocks.map((h) => html`<li>${h.host} <span class="muted">(lock expires in ${h.ttlSeconds} s unless renewed)</span></li>`)}</ul>` : html`<p class="muted">none</p>`}
<h2>Lore polling</h2>
<table class="lore"><thead><tr><th>list</th><th>last poll</th><th>last success</th><th class="num">pending</th><th>last error</th></tr></thead><tbody>
${d.lore.map(
  (l) =>
    html`<tr><td>${l.list}</td><td>${when(l.lastPollAt)}</td><td>${when(l.lastOkAt)}</td><td class="num">${l.pending}</td><td>${l.lastError ?? ''}</td></tr>`,
)}
</tbody></table>`;
  },
});
