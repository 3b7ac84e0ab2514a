import { z } from 'zod';
import { href, html } from '../html.js';
import { badge, when } from '../layout.js';
import { definePage } from '../page.js';
import { CATEGORIES, compareResults } from '../stability.js';
import { iso } from './sql.js';

const RunId = z.string().regex(/^[0-9a-f-]{36}$/, 'a full run id');

/**
 * Two runs' series kernels, or one tree's base kernels at two times (the
 * newest run at or before each), test by test in KernelCI's categories.
 */
export const comparePage = definePage({
  id: 'compare',
  path: '/compare',
  nav: 'Compare',
  summary: 'Compare two runs (a, b) or a tree at two times (tree, from, to) in KernelCI categories',
  input: z.object({
    a: RunId.optional(),
    b: RunId.optional(),
    tree: z.string().max(100).optional(),
    from: z.string().date().optional(),
    to: z.string().date().optional(),
  }),
  output: z.object({
    before: z.object({ runId: z.string(), at: z.string(), label: z.string() }).nullable(),
    after: z.object({ runId: z.string(), at: z.string(), label: z.string() }).nullable(),
    counts: z.record(z.string(), z.number()),
    tests: z.array(
      z.object({ test: z.string(), before: z.string().nullable(), after: z.string().nullable(), category: z.string() }),
    ),
  }),
  async load({ db }, q) {
    const kernel = q.tree ? 'base' : 'series';
    const side = async (runId: string | undefined, at: string | undefined) => {
      const rows = runId
        ? await db.query<Record<string, unknown>>('SELECT id, tree, created_at FROM runs WHERE id = $1', [runId])
        : q.tree && at
          ? await db.query<Record<string, unknown>>(
              `SELECT id, tree, created_at FROM runs WHERE tree = $1 AND created_at <= $2 ORDER BY created_at DESC LIMIT 50`,
              [q.tree, `${at}T23:59:59Z`],
            )
          : [];
      // The newest of them that recorded base results (a cached base is recorded by the run that made it).
      const withBase =
        q.a || q.b
          ? null
          : await db.query<{ run_id: string }>(
              `SELECT DISTINCT run_id FROM test_results WHERE run_id = ANY($1) AND kernel = 'base'`,
              [rows.map((r) => r['id'])],
            );
      const r = withBase ? rows.find((x) => withBase.some((w) => w.run_id === x['id'])) : rows[0];
      if (!r) return null;
      const results = await db.query<{ suite: string; test: string; subtest: string | null; status: string }>(
        'SELECT suite, test, subtest, status FROM test_results WHERE run_id = $1 AND kernel = $2',
        [r['id'], kernel],
      );
      return {
        info: {
          runId: String(r['id']),
          at: iso(r['created_at']),
          label: `${kernel} kernel of ${String(r['tree'])} run ${String(r['id']).slice(0, 8)}`,
        },
        results: new Map(results.map((t) => [`${t.suite}/${t.test}${t.subtest ? `/${t.subtest}` : ''}`, t.status])),
      };
    };
    const [before, after] = await Promise.all([side(q.a, q.from), side(q.b, q.to)]);
    const tests = before && after ? compareResults(before.results, after.results) : [];
    const counts: Record<string, number> = {};
    for (const c of CATEGORIES) counts[c] = tests.filter((t) => t.category === c).length;
    return { before: before?.info ?? null, after: after?.info ?? null, counts, tests };
  },
  title: () => 'Compare',
  render(d, view) {
    const u = new URL(view.url, 'http://x').searchParams;
    const form = html`<form class="filters" method="get" action="/compare">
  <label>run a <input name="a" value="${u.get('a') ?? ''}" size="38" /></label>
  <label>run b <input name="b" value="${u.get('b') ?? ''}" size="38" /></label>
  <span class="muted">or</span>
  <label>tree <input name="tree" value="${u.get('tree') ?? ''}" /></label>
  <label>from <input type="date" name="from" value="${u.get('from') ?? ''}" /></label>
  <label>to <input type="date" name="to" value="${u.get('to') ?? ''}" /></label>
  <button type="submit">compare</button></form>`;
    if (!d.before || !d.after)
      return html`<h1>Compare</h1>${form}<p class="muted">Pick two runs, or a tree and two dates.</p>`;
    const shown = d.tests.filter((t) => t.category !== 'unchanged');
    return html`<h1>Compare</h1>${form}
<p>before: <a href="/runs/${d.before.runId}">${d.before.label}</a> ${when(d.before.at)} · after:
  <a href="/runs/${d.after.runId}">${d.after.label}</a> ${when(d.after.at)}</p>
<p>${CATEGORIES.map((c) => html`${c}: <strong>${d.counts[c] ?? 0}</strong> · `)}</p>
<table class="compare"><thead><tr><th>test</th><th>before</th><th>after</th><th>change</th></tr></thead><tbody>
${shown.map((t) => html`<tr><td><code>${t.test}</code></td><td>${badge(t.before)}</td><td>${badge(t.after)}</td><td>${t.category}</td></tr>`)}
</tbody></table>`;
  },
});

/** Kernel splats grouped by fingerprint into incidents across the runs of a period. */
export const incidentsPage = definePage({
  id: 'incidents',
  path: '/incidents',
  nav: 'Incidents',
  summary: 'Kernel splats of recent runs grouped by fingerprint into incidents',
  input: z.object({
    fingerprint: z.string().max(200).optional(),
    days: z.coerce.number().int().min(1).max(365).default(30),
  }),
  output: z.object({
    days: z.number(),
    incidents: z.array(
      z.object({
        fingerprint: z.string(),
        title: z.string(),
        kind: z.string(),
        runs: z.number(),
        firstSeen: z.string(),
        lastSeen: z.string(),
        newIn: z.number(),
        runIds: z.array(z.string()),
      }),
    ),
  }),
  async load({ db }, q) {
    // Splats live in the test stage's result; a period of runs is read, not the whole history.
    const rows = await db.query<Record<string, unknown>>(
      `WITH recent AS (SELECT id, created_at FROM runs WHERE created_at >= (SELECT max(created_at) FROM runs) - make_interval(days => $1)),
       splats AS (
         SELECT r.id AS run_id, r.created_at, x.splat, x.kind AS which FROM recent r JOIN stages st ON st.run_id = r.id AND st.name = 'test',
         LATERAL (SELECT s AS splat, 'new' AS kind FROM jsonb_path_query(st.result, '$.data.suites[*].comparison.newSplats[*]') s
                  UNION ALL SELECT s, 'pre' FROM jsonb_path_query(st.result, '$.data.suites[*].comparison.preExistingSplats[*]') s) x)
       SELECT splat->>'fingerprint' AS fingerprint, min(splat->>'title') AS title, min(splat->>'kind') AS kind,
         count(DISTINCT run_id) AS runs, min(created_at) AS first_seen, max(created_at) AS last_seen,
         count(DISTINCT run_id) FILTER (WHERE which = 'new') AS new_in,
         (array_agg(DISTINCT run_id))[1:20] AS run_ids
       FROM splats ${q.fingerprint ? `WHERE splat->>'fingerprint' = $2` : ''}
       GROUP BY 1 ORDER BY runs DESC, last_seen DESC LIMIT 100`,
      q.fingerprint ? [q.days, q.fingerprint] : [q.days],
    );
    return {
      days: q.days,
      incidents: rows.map((r) => ({
        fingerprint: String(r['fingerprint']),
        title: String(r['title']),
        kind: String(r['kind']),
        runs: Number(r['runs']),
        firstSeen: iso(r['first_seen']),
        lastSeen: iso(r['last_seen']),
        newIn: Number(r['new_in']),
        runIds: (r['run_ids'] as string[]) ?? [],
      })),
    };
  },
  title: () => 'Incidents',
  render(d) {
    return html`<h1>Kernel splats by fingerprint</h1>
<p class="muted">runs of the last ${d.days} days · <a href="${href('/incidents', { days: 365 })}">a year</a></p>
<table class="incidents"><thead><tr><th>splat</th><th>fingerprint</th><th class="num">runs</th><th class="num">new in</th><th>first seen</th><th>last seen</th><th>runs</th></tr></thead><tbody>
${d.incidents.map(
  (
    i,
  ) => html`<tr><td>${i.title} <span class="muted">${i.kind}</span></td><td><code>${i.fingerprint}</code></td><td class="num">${i.runs}</td>
<td class="num">${i.newIn}</td><td>${when(i.firstSeen)}</td><td>${when(i.lastSeen)}</td>
<td>${i.runIds.map((r) => html`<a href="/runs/${r}">${r.slice(0, 8)}</a> `)}</td></tr>`,
)}
</tbody></table>`;
  },
});
