import { z } from 'zod';
import { html } from '../html.js';
import { badge, duration, when } from '../layout.js';
import { definePage } from '../page.js';
import { iso, isoOrNull, msBetween } from './sql.js';

const Run = z.object({
  id: z.string(),
  tree: z.string(),
  status: z.string(),
  verdict: z.string().nullable(),
  summary: z.string().nullable(),
  createdAt: z.string(),
  durationMs: z.number().nullable(),
  stages: z.array(
    z.object({ name: z.string(), status: z.string(), attempts: z.number(), durationMs: z.number().nullable() }),
  ),
});
const Version = z.object({
  seriesId: z.number(),
  version: z.number(),
  title: z.string(),
  receivedAt: z.string(),
  patches: z.array(z.object({ counter: z.number(), subject: z.string() })),
  runs: z.array(Run),
  /** Against the version before, by the failing tests of their latest finished runs. */
  fixed: z.array(z.string()),
  broke: z.array(z.string()),
});
const Output = z.object({
  seriesId: z.number(),
  title: z.string(),
  author: z.string(),
  messageId: z.string(),
  source: z.string(),
  versions: z.array(Version),
});

/** A series with every version of it, their runs and stages, and what each version fixed or broke. */
export const seriesPage = definePage({
  id: 'series',
  path: '/series/:id',
  summary: 'One series: its versions, their runs with stage timelines, and what changed between versions',
  input: z.object({ id: z.coerce.number().int().min(1) }),
  output: Output,
  async load({ db }, { id }) {
    const [me] = await db.query<Record<string, unknown>>(
      'SELECT id, title, author_name, author_email, message_id, source_ref, lineage FROM series WHERE id = $1',
      [id],
    );
    if (!me) return null;
    const versions = await db.query<Record<string, unknown>>(
      'SELECT id, version, title, created_at FROM series WHERE lineage = $1 ORDER BY version, id',
      [me['lineage']],
    );
    const ids = versions.map((v) => Number(v['id']));
    const [patches, runs] = await Promise.all([
      db.query<Record<string, unknown>>(
        'SELECT series_id, counter, subject FROM patches WHERE series_id = ANY($1) ORDER BY counter',
        [ids],
      ),
      db.query<Record<string, unknown>>(
        'SELECT id, series_id, tree, status, verdict, summary, created_at, started_at, finished_at FROM runs WHERE series_id = ANY($1) ORDER BY created_at',
        [ids],
      ),
    ]);
    // By run id, not by a join on runs: the planner would scan all stages and results for the join.
    const runIds = runs.map((r) => String(r['id']));
    const [stages, failing] = await Promise.all([
      db.query<Record<string, unknown>>(
        'SELECT run_id, name, status, attempt, started_at, finished_at FROM stages WHERE run_id = ANY($1) ORDER BY ordinal',
        [runIds],
      ),
      db.query<{ run_id: string; name: string }>(
        `SELECT DISTINCT run_id, suite || ':' || test AS name FROM test_results
         WHERE run_id = ANY($1) AND kernel = 'series' AND status IN ('fail', 'error')`,
        [runIds],
      ),
    ]);
    const failingOf = (runId: string | undefined) =>
      new Set(failing.filter((f) => f.run_id === runId).map((f) => f.name));
    const out: z.infer<typeof Version>[] = [];
    let previous: Set<string> | null = null;
    for (const v of versions) {
      const sid = Number(v['id']);
      const vRuns = runs.filter((r) => Number(r['series_id']) === sid);
      const lastFinished = [...vRuns].reverse().find((r) => r['finished_at'] && r['status'] !== 'cancelled');
      const now = lastFinished ? failingOf(String(lastFinished['id'])) : null;
      out.push({
        seriesId: sid,
        version: Number(v['version']),
        title: String(v['title']),
        receivedAt: iso(v['created_at']),
        patches: patches
          .filter((p) => Number(p['series_id']) === sid)
          .map((p) => ({ counter: Number(p['counter']), subject: String(p['subject']) })),
        runs: vRuns.map((r) => ({
          id: String(r['id']),
          tree: String(r['tree']),
          status: String(r['status']),
          verdict: (r['verdict'] as string | null) ?? null,
          summary: (r['summary'] as string | null) ?? null,
          createdAt: iso(r['created_at']),
          durationMs: msBetween(isoOrNull(r['started_at']), isoOrNull(r['finished_at'])),
          stages: stages
            .filter((s) => s['run_id'] === r['id'])
            .map((s) => ({
              name: String(s['name']),
              status: String(s['status']),
              attempts: Number(s['attempt']),
              durationMs: msBetween(isoOrNull(s['started_at']), isoOrNull(s['finished_at'])),
            })),
        })),
        fixed: previous && now ? [...previous].filter((t) => !now.has(t)).sort() : [],
        broke: previous && now ? [...now].filter((t) => !previous!.has(t)).sort() : [],
      });
      if (now) previous = now;
    }
    return {
      seriesId: id,
      title: String(me['title']),
      author: `${String(me['author_name'])} <${String(me['author_email'])}>`,
      messageId: String(me['message_id']),
      source: String(me['source_ref']),
      versions: out.reverse(),
    };
  },
  title: (d) => d.title,
  render(d) {
    return html`<h1>${d.title}</h1>
<p class="muted">${d.author} · <code>${d.messageId}</code>${/^https?:\/\//.test(d.source) ? html` · <a href="${d.source}" rel="noreferrer">source</a>` : html` · ${d.source}`}</p>
${d.versions.map(
  (v) => html`<section class="version" id="v${v.version}">
<h2>v${v.version} <span class="muted">${when(v.receivedAt)}</span></h2>
${v.fixed.length || v.broke.length ? html`<p>against the version before: ${v.fixed.length ? html`fixed ${v.fixed.map((t) => html`<code>${t}</code> `)}` : ''}${v.broke.length ? html` broke ${v.broke.map((t) => html`<code>${t}</code> `)}` : ''}</p>` : ''}
<ol class="patches">${v.patches.map((p) => html`<li value="${p.counter}">${p.subject}</li>`)}</ol>
${
  v.runs.length
    ? html`<table class="runs"><thead><tr><th>run</th><th>tree</th><th>verdict</th><th>stages</th><th class="num">duration</th></tr></thead><tbody>
${v.runs.map(
  (r) => html`<tr><td><a href="/runs/${r.id}">${r.id.slice(0, 8)}</a> ${when(r.createdAt)}</td><td>${r.tree}</td>
<td>${badge(r.verdict ?? r.status)}<br /><span class="muted">${r.summary ?? ''}</span></td>
<td>${r.stages.map((s) => html`${s.name} ${badge(s.status)} <span class="muted">${duration(s.durationMs)}${s.attempts > 1 ? `, ${s.attempts} attempts` : ''}</span><br />`)}</td>
<td class="num">${duration(r.durationMs)}</td></tr>`,
)}
</tbody></table>`
    : html`<p class="muted">not run</p>`
}
</section>`,
)}`;
  },
});
