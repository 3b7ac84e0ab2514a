import { z } from 'zod';
import { ResultsStore } from '../../store/results.js';
import { href, html } from '../html.js';
import { when } from '../layout.js';
import { definePage } from '../page.js';
import { quarantineForm } from './quarantine.js';
import { stability } from '../stability.js';
import { iso } from './sql.js';

const SHOWN = 50;

/** The least stable tests of a tree, on its base kernels (a series cannot make its base flaky), as a test x day grid. */
export const flakesPage = definePage({
  id: 'flakes',
  path: '/flakes',
  nav: 'Flakes',
  summary: 'The least stable tests of a tree on its base kernels: flips, failing streak, a test x day grid',
  input: z.object({
    tree: z.string().max(100).optional(),
    days: z.coerce.number().int().min(1).max(90).default(21),
  }),
  output: z.object({
    tree: z.string(),
    trees: z.array(z.string()),
    days: z.array(z.string()),
    tests: z.array(
      z.object({
        suite: z.string(),
        test: z.string(),
        runs: z.number(),
        failures: z.number(),
        flips: z.number(),
        failingFor: z.number(),
        firstFlakyAt: z.string().nullable(),
        lastFailureAt: z.string().nullable(),
        cells: z.array(z.string()),
        /** Why it is quarantined on this tree, when it is. */
        quarantine: z.string().nullable(),
      }),
    ),
  }),
  async load({ db, config }, q) {
    const trees = config.trees.map((t) => t.name);
    const tree = q.tree ?? trees[0]!;
    const [newest] = await db.query<{ at: unknown }>('SELECT max(created_at) AS at FROM runs WHERE tree = $1', [tree]);
    const until = newest?.at ? Date.parse(iso(newest.at)) : Date.now();
    const days = Array.from({ length: q.days }, (_, i) =>
      new Date(until - (q.days - 1 - i) * 86400_000).toISOString().slice(0, 10),
    );
    // Runs first, then their results by run id: a join lets the planner scan every result.
    const runs = await db.query<{ id: string; created_at: unknown }>(
      'SELECT id, created_at FROM runs WHERE tree = $1 AND created_at >= $2',
      [tree, `${days[0]}T00:00:00Z`],
    );
    const at = new Map(runs.map((r) => [r.id, iso(r.created_at)]));
    const rows = await db.query<{ run_id: string; suite: string; test: string; status: string }>(
      `SELECT run_id, suite, test, status FROM test_results WHERE run_id = ANY($1) AND kernel = 'base' AND subtest IS NULL`,
      [[...at.keys()]],
    );
    const tests = stability(
      rows.map((r) => ({ suite: r.suite, test: r.test, status: r.status, at: at.get(r.run_id)! })),
      days,
    )
      .filter((t) => t.flips > 0 || t.failingFor > 0)
      .slice(0, SHOWN);
    const quarantined = new Map(
      (await new ResultsStore(db).quarantines())
        .filter((q) => q.tree === tree)
        .map((q) => [`${q.suite}/${q.test}`, `quarantined by ${q.addedBy}: ${q.reason}`]),
    );
    return {
      tree,
      trees,
      days,
      tests: tests.map((t) => ({ ...t, quarantine: quarantined.get(`${t.suite}/${t.test}`) ?? null })),
    };
  },
  title: (d) => `Flakes on ${d.tree}`,
  render(d, view) {
    return html`<h1>Least stable tests on ${d.tree}</h1>
<p>${d.trees.map((t) => html`<a href="${href('/flakes', { tree: t })}">${t}</a> `)} · base kernels, last ${d.days.length} days,
  sorted by flips then the current failing streak</p>
${
  d.tests.length === 0
    ? html`<p class="muted">Every test was stable in this window.</p>`
    : html`<table class="grid flakes"><thead><tr><th>test</th><th class="num">flips</th><th>failing for</th><th>first flaky</th><th>last failure</th>
${d.days.map((day) => html`<th title="${day}">${day.slice(8)}</th>`)}</tr></thead><tbody>
${d.tests.map(
  (t) => html`<tr><td class="name">${t.suite}/<code>${t.test}</code>
${t.quarantine ? html`<br /><span class="muted">${t.quarantine}</span>` : quarantineForm(view, { tree: d.tree, suite: t.suite, test: t.test })}</td><td class="name num">${t.flips}</td>
<td class="name">${t.failingFor ? `${t.failingFor} runs` : ''}</td><td class="name">${when(t.firstFlakyAt)}</td><td class="name">${when(t.lastFailureAt)}</td>
${t.cells.map((c, i) => html`<td class="cell-${c}" title="${d.days[i]}: ${c}"></td>`)}</tr>`,
)}
</tbody></table>`
}`;
  },
});
