import { z } from 'zod';
import { ResultsStore } from '../../store/results.js';
import { type Html, html } from '../html.js';
import { actionForm, when } from '../layout.js';
import { definePage, type View } from '../page.js';

/**
 * Tests taken out of a tree's verdicts by an admin. A quarantined test
 * still runs on every series; when it fails or flakes the run lists it as
 * quarantined and its verdict does not count it. Releasing it counts it again.
 */
export const quarantinePage = definePage({
  id: 'quarantine',
  path: '/quarantine',
  nav: 'Quarantine',
  summary: 'Tests whose failures are listed but not counted in the verdicts of a tree, with why and by whom',
  input: z.object({}),
  output: z.object({
    tests: z.array(
      z.object({
        tree: z.string(),
        suite: z.string(),
        test: z.string(),
        reason: z.string(),
        addedBy: z.string(),
        addedAt: z.string(),
      }),
    ),
  }),
  async load({ db }) {
    return { tests: await new ResultsStore(db).quarantines() };
  },
  title: () => 'Quarantined tests',
  render(d, view) {
    return html`<h1>Quarantined tests</h1>
<p class="muted">They still run; a failure is listed under "quarantined" and does not fail a series. Kernel splats are never quarantined.</p>
${
  d.tests.length === 0
    ? html`<p class="muted">No test is quarantined.</p>`
    : html`<table class="quarantine"><thead><tr><th>tree</th><th>test</th><th>reason</th><th>by</th><th></th></tr></thead><tbody>
${d.tests.map(
  (t) => html`<tr><td>${t.tree}</td><td>${t.suite}/<code>${t.test}</code></td><td>${t.reason}</td>
<td>${t.addedBy}<br /><span class="muted">${when(t.addedAt)}</span></td>
<td>${actionForm(view, '/quarantine/release', 'release', testFields(t))}</td></tr>`,
)}
</tbody></table>`
}`;
  },
});

/** What names a quarantine: a test of a suite on a tree. */
export const QuarantineKey = z.object({
  tree: z.string().min(1).max(100),
  suite: z.string().min(1).max(100),
  test: z.string().min(1).max(500),
});

export const QuarantineRequest = QuarantineKey.extend({
  reason: z.string().trim().min(1, 'say why the test is quarantined').max(500),
});

function testFields(t: z.infer<typeof QuarantineKey>): Html {
  return html`<input type="hidden" name="tree" value="${t.tree}" /><input type="hidden" name="suite" value="${t.suite}" />
<input type="hidden" name="test" value="${t.test}" />`;
}

/** The admin's button beside a failing or flaky test: quarantine it on the tree, with a reason. */
export function quarantineForm(view: View, t: z.infer<typeof QuarantineKey>): Html {
  return actionForm(
    view,
    '/quarantine',
    'quarantine',
    html`${testFields(t)}<input name="reason" placeholder="why" required maxlength="500" />`,
  );
}
