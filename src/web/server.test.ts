import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HOSTILE_IMG, HOSTILE_SCRIPT } from '../testing/dashboard-data.js';
import { type Dashboard, startDashboard } from '../testing/dashboard.js';
import { ResultsStore } from '../store/results.js';
import { PAGES } from './pages/index.js';
import type { PageDef } from './page.js';

const page = (id: string): PageDef => PAGES.find((p) => p.id === id)!;

/** A page's JSON, checked against the schema the OpenAPI document publishes for it. */
async function api(d: Dashboard, id: string, path: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${d.url}/api${path}`);
  assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
  const body = await res.json();
  const parsed = page(id).output.safeParse(body);
  assert.ok(parsed.success, `${path} does not match its schema: ${parsed.error?.message}`);
  return body as Record<string, unknown>;
}

describe('dashboard over HTTP, on a generated results database', { timeout: 240_000 }, () => {
  let d: Dashboard;
  before(async () => {
    d = await startDashboard();
  });
  after(async () => {
    await d?.close();
  });

  it('lists series newest first, 50 a page, and filters them', async () => {
    const all = (await api(d, 'series-list', '/series')) as { series: { receivedAt: string }[]; hasNext: boolean };
    assert.equal(all.series.length, 50);
    assert.equal(all.hasNext, true);
    const times = all.series.map((s) => s.receivedAt);
    assert.deepEqual(times, [...times].sort().reverse());
    const second = (await api(d, 'series-list', '/series?page=2')) as { series: { seriesId: number }[] };
    assert.ok(second.series.length > 0);
    const failing = (await api(d, 'series-list', '/series?verdict=fail')) as {
      series: { run: { verdict: string } | null }[];
    };
    assert.ok(failing.series.length > 0);
    for (const s of failing.series) assert.equal(s.run?.verdict, 'fail');
    const tree = d.data.trees[1]!;
    const onTree = (await api(d, 'series-list', `/series?tree=${tree}`)) as { series: { run: { tree: string } }[] };
    assert.ok(onTree.series.length > 0);
    for (const s of onTree.series) assert.equal(s.run.tree, tree);
    const text = (await api(d, 'series-list', '/series?q=dynptr')) as { series: { title: string }[] };
    for (const s of text.series) assert.match(s.title, /dynptr/i);
    const list = (await api(d, 'series-list', `/series?list=${d.data.lists[0]}`)) as { series: unknown[] };
    assert.ok(list.series.length > 0);
    const bad = await fetch(`${d.url}/api/series?verdict=maybe`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /verdict/);
  });

  it('shows a failing run: the new failure with its excerpt, the splat and its fingerprint, the reproducer', async () => {
    const run = (await api(d, 'run', `/runs/${d.data.failingRunId}`)) as {
      verdict: string;
      suites: { newFailures: { excerpt: string[] }[]; newSplats: { fingerprint: string }[]; reproducer: string[] }[];
      stages: { name: string; durationMs: number | null }[];
    };
    assert.equal(run.verdict, 'fail');
    const suite = run.suites.find((s) => s.newFailures.length > 0);
    assert.ok(suite, 'a suite with a new failure');
    assert.ok(suite.newFailures[0]!.excerpt.length > 0);
    assert.ok(run.suites.some((s) => s.newSplats.some((x) => x.fingerprint.length > 0)));
    assert.ok(suite.reproducer.some((l) => l.startsWith('ksci test ')));
    assert.deepEqual(
      run.stages.map((s) => s.name),
      ['apply', 'build', 'test', 'perf', 'report'],
    );
    const html = await (await fetch(`${d.url}/runs/${d.data.failingRunId}`)).text();
    assert.match(html, /New failures/);
    assert.match(html, /class="reproducer"/);
    assert.equal((await fetch(`${d.url}/api/runs/00000000-0000-0000-0000-000000000000`)).status, 404);
  });

  it('shows a perf run per scenario with the rounds of both sides and the interval', async () => {
    const run = (await api(d, 'run', `/runs/${d.data.perfRunId}`)) as {
      perf: { verdict: string; base: number[]; series: number[]; ci: [number, number] | null }[];
    };
    assert.ok(run.perf.length >= 1);
    const regression = run.perf.find((p) => p.verdict === 'regression');
    assert.ok(regression, JSON.stringify(run.perf.map((p) => p.verdict)));
    assert.ok(regression.base.length >= 3 && regression.series.length === regression.base.length);
    assert.ok(regression.ci && regression.ci[1] < 0);
  });

  it('marks both planted change points on the nightly trend, and answers 304 when nothing changed', async () => {
    const tree = d.data.changePoints[0]!.tree;
    const res = await fetch(`${d.url}/api/nightly?tree=${tree}`);
    const nightly = (await res.json()) as {
      scenarios: { scenario: string; t: number[]; changePoints: { firstChanged: string; at: string | null }[] }[];
    };
    assert.ok(nightly.scenarios.every((s) => s.t.length === 200));
    const marked = nightly.scenarios.flatMap((s) =>
      s.changePoints.map((c) => ({ scenario: s.scenario, firstChanged: c.firstChanged, at: c.at })),
    );
    assert.deepEqual(
      marked.map((m) => `${m.scenario} ${m.firstChanged}`).sort(),
      d.data.changePoints.map((c) => `${c.scenario} ${c.firstChanged}`).sort(),
    );
    assert.ok(marked.every((m) => m.at !== null));
    const tag = res.headers.get('etag');
    assert.ok(tag);
    const again = await fetch(`${d.url}/api/nightly?tree=${tree}`, { headers: { 'if-none-match': tag } });
    assert.equal(again.status, 304);
  });

  it('ranks the planted flaky tests and the failing streak on the flakes page', async () => {
    const tree = d.data.alwaysFailing.tree;
    const flakes = (await api(d, 'flakes', `/flakes?tree=${tree}&days=90`)) as {
      tests: { test: string; flips: number; failingFor: number }[];
    };
    const streak = flakes.tests.find((t) => t.test === d.data.alwaysFailing.test);
    assert.ok(streak, flakes.tests.map((t) => t.test).join(', '));
    assert.ok(streak.failingFor >= 12, `failing for ${streak.failingFor}`);
    for (const f of d.data.flakyTests.filter((t) => t.tree === tree))
      assert.ok(
        flakes.tests.some((t) => t.test === f.test && t.flips > 0),
        `${f.test} not ranked as flaky`,
      );
  });

  it('compares two runs in KernelCI categories, and groups splats into incidents across runs', async () => {
    const [a, b] = [d.data.runIds[0]!, d.data.failingRunId];
    const cmp = (await api(d, 'compare', `/compare?a=${a}&b=${b}`)) as {
      counts: Record<string, number>;
      tests: { category: string }[];
    };
    assert.ok(cmp.tests.length > 0);
    assert.equal(
      Object.values(cmp.counts).reduce((x, y) => x + y, 0),
      cmp.tests.length,
    );
    const incidents = (await api(d, 'incidents', '/incidents?days=365')) as { incidents: { runs: number }[] };
    assert.ok(
      incidents.incidents.some((i) => i.runs > 1),
      'an incident seen in several runs',
    );
  });

  it('renders every page, and the series and run pages of a series, as HTML', async () => {
    for (const path of ['/series', '/nightly', '/flakes', '/compare', '/incidents', '/alerts', '/status', '/workers']) {
      const res = await fetch(`${d.url}${path}`);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    }
    const series = (await api(d, 'series', `/series/${d.data.seriesIds[0]}`)) as { versions: unknown[] };
    assert.ok(series.versions.length >= 1);
    const status = (await api(d, 'status', '/status')) as { days: { p50Ms: number | null }[] };
    assert.ok(status.days.some((x) => x.p50Ms !== null));
  });

  it('renders attacker-controlled titles and logs as text', async () => {
    for (const path of [`/series/${d.data.hostileSeriesId}`, `/runs/${d.data.hostileRunId}`, '/series?q=alert']) {
      const body = await (await fetch(`${d.url}${path}`)).text();
      assert.ok(!body.includes(HOSTILE_SCRIPT), `${path} has the script tag raw`);
      assert.ok(!body.includes(HOSTILE_IMG), `${path} has the img tag raw`);
      assert.ok(body.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), `${path} does not show the title as text`);
    }
  });

  it('publishes an OpenAPI document with every page', async () => {
    const doc = (await (await fetch(`${d.url}/api/openapi.json`)).json()) as { openapi: string; paths: object };
    assert.equal(doc.openapi, '3.1.0');
    for (const p of PAGES) assert.ok(`/api${p.path.replace(/:(\w+)/g, '{$1}')}` in doc.paths, p.path);
  });

  it('lets only a logged-in admin with the form token cancel a run', async () => {
    const target = `${d.url}/runs/${d.data.runningRunId}/cancel`;
    const form = (o: Record<string, string>) => ({
      method: 'POST',
      redirect: 'manual' as const,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(o['cookie'] ? { cookie: o['cookie'] } : {}) },
      body: new URLSearchParams(Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'cookie'))).toString(),
    });
    assert.equal((await fetch(target, form({}))).status, 401);
    assert.equal((await fetch(`${d.url}/login`, form({ token: 'ksci_not-a-token' }))).status, 403);
    const login = await fetch(`${d.url}/login`, form({ token: d.token, next: '/series' }));
    assert.equal(login.status, 303);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    assert.match(cookie, /^ksci_session=/);
    assert.match(login.headers.get('set-cookie') ?? '', /HttpOnly/i);
    assert.equal((await fetch(target, form({ cookie }))).status, 403, 'no CSRF token');
    assert.equal((await fetch(target, form({ cookie, csrf: 'forged' }))).status, 403);
    const runPage = await (await fetch(`${d.url}/runs/${d.data.runningRunId}`, { headers: { cookie } })).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(runPage)?.[1];
    assert.ok(csrf, 'the run page has the cancel form for an admin');
    assert.equal(d.actions.length, 0);
    const ok = await fetch(target, form({ cookie, csrf }));
    assert.equal(ok.status, 303);
    assert.deepEqual(d.actions, [{ action: 'cancel', runId: d.data.runningRunId, by: 'maintainer' }]);
    // A bot: the bearer token, no cookie, no form.
    const alert = (await api(d, 'alerts', '/alerts')) as { alerts: { id: number }[] };
    const id = alert.alerts[0]!.id;
    const triage = await fetch(`${d.url}/api/alerts/${id}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'acknowledged', note: 'skb_ext allocation, expected' }),
    });
    assert.equal(triage.status, 200, await triage.clone().text());
    const after = (await api(d, 'alerts', '/alerts?status=acknowledged')) as {
      alerts: { id: number; note: string; updatedBy: string }[];
    };
    assert.deepEqual(
      after.alerts.map((a) => [a.id, a.note, a.updatedBy]),
      [[id, 'skb_ext allocation, expected', 'maintainer']],
    );
  });

  it('lets an admin quarantine a test, re-send a reply and start a bisection; the pages show each', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${d.url}/api${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const flaky = d.data.flakyTests[0]!;
    assert.equal((await post('/quarantine', { ...flaky, reason: '' })).status, 400, 'a quarantine needs a reason');
    const anonymous = await fetch(`${d.url}/api/quarantine`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...flaky, reason: 'x' }),
    });
    assert.equal(anonymous.status, 401);
    const q = await post('/quarantine', { ...flaky, reason: 'races the <b>timer</b> on TCG' });
    assert.equal(q.status, 200, await q.clone().text());
    const listed = (await api(d, 'quarantine', '/quarantine')) as {
      tests: { tree: string; test: string; reason: string; addedBy: string }[];
    };
    assert.deepEqual(
      listed.tests.map((t) => [t.tree, t.test, t.reason, t.addedBy]),
      [[flaky.tree, flaky.test, 'races the <b>timer</b> on TCG', 'maintainer']],
    );
    // What the test stage reads for its verdict.
    const store = new ResultsStore(d.db);
    assert.deepEqual(
      (await store.quarantined({ tree: flaky.tree, suite: flaky.suite })).map((t) => t.test),
      [flaky.test],
    );
    const flakes = (await api(d, 'flakes', `/flakes?tree=${flaky.tree}&days=90`)) as {
      tests: { test: string; quarantine: string | null }[];
    };
    assert.match(flakes.tests.find((t) => t.test === flaky.test)?.quarantine ?? '', /quarantined by maintainer/);
    const html = await (await fetch(`${d.url}/quarantine`)).text();
    assert.ok(html.includes('races the &lt;b&gt;timer&lt;/b&gt;'), 'the reason is rendered as text');
    assert.equal((await post('/quarantine/release', flaky)).status, 200);
    assert.equal((await post('/quarantine/release', flaky)).status, 404, 'released once');
    assert.deepEqual(await store.quarantined({ tree: flaky.tree, suite: flaky.suite }), []);

    const runId = d.data.failingRunId;
    assert.equal((await post(`/runs/${runId}/resend`, {})).status, 200);
    assert.deepEqual(d.actions.at(-1), { action: 'resend', runId, by: 'maintainer' });

    const { alerts } = (await api(d, 'alerts', '/alerts')) as { alerts: { id: number; bisection: unknown }[] };
    const alert = alerts.find((a) => a.bisection === null)!;
    assert.equal((await post(`/alerts/${alert.id}/bisect`, {})).status, 200);
    assert.equal((await post(`/alerts/${alert.id}/bisect`, {})).status, 400, 'one bisection of an alert at a time');
    assert.equal((await post('/alerts/x/bisect', {})).status, 400);
    const after = (await api(d, 'alerts', '/alerts')) as { alerts: { id: number; bisection: { status: string } }[] };
    assert.equal(after.alerts.find((a) => a.id === alert.id)?.bisection.status, 'queued');
  });

  it('refuses path tricks for artifacts and console logs', async () => {
    assert.equal((await fetch(`${d.url}/artifacts/..%2F..%2Fetc/passwd`)).status, 404);
    assert.equal((await fetch(`${d.url}/artifacts/0123456789abcdef0123/..%2F..%2F..%2Fetc%2Fpasswd`)).status, 404);
    assert.equal((await fetch(`${d.url}/runs/${d.data.failingRunId}/console/bpf/series/99`)).status, 404);
  });
});

describe('dashboard with publicRead off', { timeout: 120_000 }, () => {
  let d: Dashboard;
  before(async () => {
    d = await startDashboard({ publicRead: false, data: { series: 20, nightlyDays: 60 } });
  });
  after(async () => {
    await d?.close();
  });

  it('sends a browser to the login page and an API client a 401, and lets a token in', async () => {
    const page = await fetch(`${d.url}/series`, { redirect: 'manual' });
    assert.equal(page.status, 302);
    assert.match(page.headers.get('location') ?? '', /^\/login\?next=%2Fseries/);
    assert.equal((await fetch(`${d.url}/api/series`)).status, 401);
    const ok = await fetch(`${d.url}/api/series`, { headers: { authorization: `Bearer ${d.token}` } });
    assert.equal(ok.status, 200);
  });
});
