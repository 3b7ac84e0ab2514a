import { z } from 'zod';
import { href, html } from '../html.js';
import { badge, duration, pager, when } from '../layout.js';
import { definePage } from '../page.js';
import { iso, isoOrNull } from './sql.js';

const PAGE_SIZE = 50;
const VERDICTS = ['pass', 'fail', 'error', 'cancelled', 'skipped', 'running'] as const;

const Input = z.object({
  list: z.string().max(100).optional(),
  tree: z.string().max(100).optional(),
  author: z.string().max(200).optional(),
  verdict: z.enum(VERDICTS).optional(),
  q: z.string().max(200).optional(),
  page: z.coerce.number().int().min(1).max(10_000).default(1),
});

const Row = z.object({
  seriesId: z.number(),
  title: z.string(),
  author: z.string(),
  version: z.number(),
  versions: z.array(z.object({ version: z.number(), seriesId: z.number() })),
  postedAt: z.string().nullable(),
  receivedAt: z.string(),
  run: z
    .object({
      id: z.string(),
      tree: z.string(),
      status: z.string(),
      verdict: z.string().nullable(),
      finishedAt: z.string().nullable(),
      /** From the mail's Date (or, without one, when ksci received it) to the verdict. */
      postToVerdictMs: z.number().nullable(),
    })
    .nullable(),
});

const Output = z.object({
  filters: Input.omit({ page: true }),
  page: z.number(),
  hasNext: z.boolean(),
  series: z.array(Row),
  trees: z.array(z.string()),
  /** The configured lore lists (a filter takes any list name). */
  lists: z.array(z.string()),
});

/** Newest first, one row per series (its latest version), with the versions before it. */
export const seriesListPage = definePage({
  id: 'series-list',
  path: '/series',
  nav: 'Series',
  summary: 'Series, newest first, filtered by list, tree, author, verdict or title text; 50 a page',
  input: Input,
  output: Output,
  async load({ db, config }, q) {
    const where = [
      // Only the latest version of each lineage is a row.
      `NOT EXISTS (SELECT 1 FROM series n WHERE n.lineage = s.lineage AND (n.version > s.version OR (n.version = s.version AND n.id > s.id)))`,
    ];
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    if (q.q) where.push(`s.title ILIKE ${p(`%${likeEscape(q.q)}%`)}`);
    if (q.author)
      where.push(`(s.author_name ILIKE ${p(`%${likeEscape(q.author)}%`)} OR s.author_email ILIKE $${params.length})`);
    if (q.tree) where.push(`r.tree = ${p(q.tree)}`);
    if (q.list) where.push(`r.requested_by = ${p(`lore:${q.list}`)}`);
    if (q.verdict === 'running') where.push(`r.status IN ('queued', 'running')`);
    else if (q.verdict) where.push(`r.verdict = ${p(q.verdict)}`);
    // The page's ids first, then their details: an OFFSET skips rows after computing them, so the
    // skipped ones must not carry the latest run or the mail date (which reads the whole series JSON).
    const needsRun = Boolean(q.tree || q.list || q.verdict);
    const rows = await db.query<Record<string, unknown>>(
      `WITH page AS (
         SELECT s.id, s.created_at FROM series s
         ${needsRun ? 'JOIN LATERAL (SELECT * FROM runs WHERE series_id = s.id ORDER BY created_at DESC LIMIT 1) r ON true' : ''}
         WHERE ${where.join(' AND ')}
         ORDER BY s.created_at DESC, s.id DESC LIMIT ${p(PAGE_SIZE + 1)} OFFSET ${p((q.page - 1) * PAGE_SIZE)})
       SELECT s.id, s.title, s.version, s.author_name, s.author_email, s.created_at, s.lineage,
         COALESCE(s.data->'cover'->>'date', s.data->'patches'->0->>'date') AS posted_at,
         r.id AS run_id, r.tree, r.status, r.verdict, r.finished_at
       FROM page JOIN series s ON s.id = page.id
       LEFT JOIN LATERAL (SELECT * FROM runs WHERE series_id = s.id ORDER BY created_at DESC LIMIT 1) r ON true
       ORDER BY page.created_at DESC, page.id DESC`,
      params,
    );
    const page = rows.slice(0, PAGE_SIZE);
    const lineages = page.map((r) => String(r['lineage']));
    const versions = lineages.length
      ? await db.query<{ lineage: string; version: number; id: string }>(
          'SELECT lineage, version, id FROM series WHERE lineage = ANY($1) ORDER BY version, id',
          [lineages],
        )
      : [];
    return {
      filters: { list: q.list, tree: q.tree, author: q.author, verdict: q.verdict, q: q.q },
      page: q.page,
      hasNext: rows.length > PAGE_SIZE,
      trees: config.trees.map((t) => t.name),
      lists: config.lore.lists.map((l) => l.name),
      series: page.map((r) => {
        const posted = isoOrNull(r['posted_at']);
        const received = iso(r['created_at']);
        const finished = isoOrNull(r['finished_at']);
        const from = posted ?? received;
        return {
          seriesId: Number(r['id']),
          title: String(r['title']),
          author: `${String(r['author_name'])} <${String(r['author_email'])}>`,
          version: Number(r['version']),
          versions: versions
            .filter((v) => v.lineage === r['lineage'])
            .map((v) => ({ version: Number(v.version), seriesId: Number(v.id) })),
          postedAt: posted,
          receivedAt: received,
          run: r['run_id']
            ? {
                id: String(r['run_id']),
                tree: String(r['tree']),
                status: String(r['status']),
                verdict: (r['verdict'] as string | null) ?? null,
                finishedAt: finished,
                postToVerdictMs: finished ? Date.parse(finished) - Date.parse(from) : null,
              }
            : null,
        };
      }),
    };
  },
  title: () => 'Series',
  render(d, view) {
    const f = d.filters;
    const option = (v: string, cur: string | undefined) =>
      html`<option value="${v}" ${v === cur ? html`selected` : ''}>${v || 'any'}</option>`;
    return html`<h1>Series</h1>
<form class="filters" method="get" action="/series">
  <label>text <input name="q" value="${f.q ?? ''}" placeholder="title" /></label>
  <label>author <input name="author" value="${f.author ?? ''}" /></label>
  <label>list <input name="list" value="${f.list ?? ''}" list="lists" size="10" /></label>
  <datalist id="lists">${d.lists.map((l) => html`<option value="${l}"></option>`)}</datalist>
  <label>tree <select name="tree">${['', ...d.trees].map((t) => option(t, f.tree))}</select></label>
  <label>verdict <select name="verdict">${['', ...VERDICTS].map((v) => option(v, f.verdict))}</select></label>
  <button type="submit">filter</button>
</form>
<table class="series">
<thead><tr><th>series</th><th>versions</th><th>author</th><th>tree</th><th>verdict</th><th>posted</th><th class="num">post → verdict</th></tr></thead>
<tbody>
${d.series.map(
  (s) => html`<tr>
  <td><a href="/series/${s.seriesId}">${s.title}</a></td>
  <td>${s.versions.map((v) => html`<a href="/series/${v.seriesId}">v${v.version}</a> `)}</td>
  <td>${s.author}</td>
  <td>${s.run?.tree ?? ''}</td>
  <td>${s.run ? html`<a href="/runs/${s.run.id}">${badge(s.run.verdict ?? s.run.status)}</a>` : badge(null)}</td>
  <td>${when(s.postedAt ?? s.receivedAt)}</td>
  <td class="num">${duration(s.run?.postToVerdictMs ?? null)}</td>
</tr>`,
)}
</tbody>
</table>
${d.series.length === 0 ? html`<p class="muted">No series match. <a href="${href('/series')}">Clear the filters</a>.</p>` : ''}
${pager({ url: view.url, page: d.page, hasNext: d.hasNext })}`;
  },
});

/** A LIKE pattern that matches the text literally. */
function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}
