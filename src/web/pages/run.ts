import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ArtifactStore } from '../../artifacts/store.js';
import type { Config } from '../../config/schema.js';
import { StageOutcomeSchema } from '../../pipeline/payload.js';
import { BuildStageDataSchema, oneLine } from '../../stages/build/result.js';
import { PerfStageDataSchema } from '../../stages/perf/result.js';
import { SplatSchema, TestStageDataSchema, type SuiteRunData } from '../../stages/test/result.js';
import { EmailStore } from '../../notify/email/replies.js';
import { ResultsStore } from '../../store/results.js';
import { html, jsonScript, type Html } from '../html.js';
import { actionForm, badge, bytes, duration, when } from '../layout.js';
import { CHART_SCRIPTS, definePage, type View } from '../page.js';
import { quarantineForm } from './quarantine.js';
import { json, msBetween } from './sql.js';

const EXCERPT_LINES = 40;

const Stage = z.object({
  name: z.string(),
  status: z.string(),
  attempts: z.number(),
  startedAt: z.string().nullable(),
  durationMs: z.number().nullable(),
  /** Where it ran, when the stage's result says (a VM host, a build host). */
  workers: z.array(z.string()),
  summary: z.string().nullable(),
  error: z.string().nullable(),
});
const Splat = SplatSchema;
const TestRow = z.object({
  name: z.string(),
  base: z.string(),
  series: z.string(),
  attempts: z.array(z.string()),
  history: z.string().nullable(),
  /** Why it is quarantined on the run's tree (then its failure did not count). */
  quarantine: z.string().nullable(),
  /** The end of the series kernel's output of this test. */
  excerpt: z.array(z.string()),
});
const FileLink = z.object({ label: z.string(), url: z.string(), bytes: z.number().nullable() });
const Suite = z.object({
  suite: z.string(),
  config: z.string(),
  bootFailure: z.string().nullable(),
  newFailures: z.array(TestRow),
  preExisting: z.array(TestRow),
  flaky: z.array(TestRow),
  fixed: z.array(TestRow),
  quarantined: z.array(TestRow),
  passed: z.array(z.string()),
  notRun: z.array(z.string()),
  newSplats: z.array(Splat),
  preExistingSplats: z.array(Splat),
  reproducer: z.array(z.string()),
  consoles: z.array(FileLink),
});
const Build = z.object({
  config: z.string(),
  base: z.string(),
  series: z.string(),
  firstError: z.string().nullable(),
  logTail: z.array(z.string()),
  warnings: z.object({
    before: z.number(),
    after: z.number(),
    added: z.array(z.string()),
    removed: z.array(z.string()),
  }),
  perPatch: z.array(
    z.object({ counter: z.number(), title: z.string(), status: z.string(), firstError: z.string().nullable() }),
  ),
  artifacts: z.array(FileLink),
});
const PerfScenario = z.object({
  suite: z.string(),
  scenario: z.string(),
  description: z.string(),
  clock: z.string(),
  base: z.array(z.number()),
  series: z.array(z.number()),
  change: z.number().nullable(),
  ci: z.tuple([z.number(), z.number()]).nullable(),
  verdict: z.string(),
  reason: z.string(),
  rounds: z.number(),
});
const Bisect = z.object({
  suite: z.string(),
  scenario: z.string(),
  culprit: z.object({ counter: z.number(), title: z.string() }).nullable(),
  probes: z.array(z.object({ counter: z.number(), verdict: z.string(), change: z.number().nullable() })),
  note: z.string().nullable(),
});

const Output = z.object({
  id: z.string(),
  series: z.object({ id: z.number(), title: z.string(), version: z.number() }),
  tree: z.string(),
  treeReason: z.string().nullable(),
  status: z.string(),
  verdict: z.string().nullable(),
  summary: z.string().nullable(),
  requestedBy: z.string().nullable(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
  stages: z.array(Stage),
  suites: z.array(Suite),
  builds: z.array(Build),
  perf: z.array(PerfScenario),
  bisect: z.array(Bisect),
  report: z.string().nullable(),
  /** The reply on the list, for a series from one: what was decided and sent. */
  reply: z
    .object({
      status: z.string(),
      recipients: z.array(z.string()),
      messageId: z.string(),
      error: z.string().nullable(),
      sentAt: z.string().nullable(),
      resentBy: z.string().nullable(),
    })
    .nullable(),
  /** Whether the series came from a list (then a reply can be sent again). */
  fromList: z.boolean(),
});
export type RunPageData = z.infer<typeof Output>;

export const runPage = definePage({
  id: 'run',
  path: '/runs/:id',
  summary: 'One run: verdict, test failures with excerpts, splats, reproducer, builds, logs and artifacts, perf',
  input: z.object({ id: z.string().regex(/^[0-9a-f-]{8,36}$/, 'a run id') }),
  output: Output,
  async load({ db, config }, { id }) {
    const run = await new ResultsStore(db).getRun(id);
    if (!run) return null;
    const outcomes = new Map(
      run.stages.flatMap((s) => {
        const o = StageOutcomeSchema.safeParse(json(s.result));
        return o.success ? [[s.name, o.data] as const] : [];
      }),
    );
    const test = TestStageDataSchema.safeParse(outcomes.get('test')?.data);
    const build = BuildStageDataSchema.safeParse(outcomes.get('build')?.data);
    const perf = PerfStageDataSchema.safeParse(outcomes.get('perf')?.data);
    const artifacts = new ArtifactStore(join(config.dataDir, 'artifacts'));
    const reply = await new EmailStore(db).forRun(run.id);
    const source = await new ResultsStore(db).seriesSource(run.seriesId);
    return {
      id: run.id,
      series: { id: run.seriesId, title: run.seriesTitle, version: run.seriesVersion },
      tree: run.tree,
      treeReason: run.treeReason,
      status: run.status,
      verdict: run.verdict,
      summary: run.summary,
      requestedBy: run.requestedBy,
      createdAt: run.createdAt.toISOString(),
      finishedAt: run.finishedAt?.toISOString() ?? null,
      stages: run.stages.map((s) => {
        const started = s.startedAt?.toISOString() ?? null;
        return {
          name: s.name,
          status: s.status,
          attempts: s.attempt,
          startedAt: started,
          durationMs: msBetween(started, s.finishedAt?.toISOString() ?? null),
          workers: s.name === 'test' && test.success ? testHosts(test.data.suites) : [],
          summary: outcomes.get(s.name)?.summary ?? null,
          error: s.error,
        };
      }),
      suites: test.success ? test.data.suites.map((s) => suiteView(run.id, s, config)) : [],
      builds: build.success
        ? build.data.builds.map((b) => ({
            config: b.config,
            base: b.base.status,
            series: b.series.status,
            firstError: b.series.firstError ? oneLine(b.series.firstError) : null,
            logTail: b.series.status === 'ok' ? [] : b.series.logTail.slice(-EXCERPT_LINES),
            warnings: {
              before: b.warnings.before,
              after: b.warnings.after,
              added: b.warnings.added.map(oneLine),
              removed: b.warnings.removed.map(oneLine),
            },
            perPatch: b.perPatch.map((p) => ({
              counter: p.counter,
              title: p.title,
              status: p.outcome.status,
              firstError: p.outcome.firstError ? oneLine(p.outcome.firstError) : null,
            })),
            artifacts: [
              ...artifactLinks(artifacts, b.base.artifactKey, `base ${b.config}`),
              ...artifactLinks(artifacts, b.series.artifactKey, `series ${b.config}`),
            ],
          }))
        : [],
      perf: perf.success
        ? perf.data.suites.flatMap((s) =>
            s.verdicts.map((v) => ({
              suite: s.suite,
              scenario: v.scenario,
              description: v.description,
              clock: s.run.clock,
              base: v.base,
              series: v.series,
              change: v.comparison?.change ?? null,
              ci: v.comparison?.ci ?? null,
              verdict: v.comparison?.verdict ?? 'missing',
              reason: v.comparison?.reason ?? v.missing ?? '',
              rounds: Math.min(v.base.length, v.series.length),
            })),
          )
        : [],
      bisect: perf.success ? perf.data.suites.flatMap((s) => (s.bisect ? [{ suite: s.suite, ...s.bisect }] : [])) : [],
      report: run.reportText,
      reply: reply && {
        status: reply.status,
        recipients: reply.recipients,
        messageId: reply.messageId,
        error: reply.error,
        sentAt: reply.sentAt?.toISOString() ?? null,
        resentBy: reply.resentBy,
      },
      fromList: source?.kind === 'lore',
    };
  },
  title: (d) => `Run ${d.id.slice(0, 8)}: ${d.series.title}`,
  scripts: CHART_SCRIPTS,
  render(d, view) {
    const verdict = d.verdict ?? d.status;
    const terminal = !['queued', 'running'].includes(d.status);
    return html`<h1>${d.series.title} <span class="muted">v${d.series.version}</span></h1>
<div class="verdict ${verdict}" id="verdict">${badge(verdict)} ${d.summary ?? ''}</div>
<p class="muted">run <code>${d.id}</code> · tree ${d.tree}${d.treeReason ? html` (${d.treeReason})` : ''} ·
  <a href="/series/${d.series.id}">series</a> · requested by ${d.requestedBy ?? 'unknown'} · ${when(d.createdAt)} ·
  <a href="/api/runs/${d.id}">JSON</a></p>
<p>${terminal ? '' : actionForm(view, `/runs/${d.id}/cancel`, 'cancel this run')}
  ${terminal ? actionForm(view, `/runs/${d.id}/retest`, 'retest') : ''}</p>
${d.suites.map((s) => renderSuite(s, d.tree, view))}
${d.builds.length ? html`<h2>Builds</h2>${d.builds.map(renderBuild)}` : ''}
${d.perf.length ? renderPerf(d) : ''}
<h2>Stages</h2>
${stageTimeline(d.stages, d.createdAt)}
${d.fromList && terminal ? renderReply(d, view) : ''}
${d.report ? html`<h2>Report as sent</h2><pre>${d.report}</pre>` : ''}`;
  },
});

function renderReply(d: RunPageData, view: View): Html {
  const r = d.reply;
  return html`<h2 id="reply">Reply on the list</h2>
<p>${
    r
      ? html`${badge(r.status)} <code>&lt;${r.messageId}&gt;</code>${r.recipients.length ? ` to ${r.recipients.join(', ')}` : ''}
  ${r.sentAt ? html` · sent ${when(r.sentAt)}` : ''}${r.resentBy ? ` · re-sent by ${r.resentBy}` : ''}${r.error ? html`<br /><span class="muted">${r.error}</span>` : ''}`
      : html`<span class="muted">not decided yet</span>`
  }
  ${actionForm(view, `/runs/${d.id}/resend`, r?.status === 'sent' ? 're-send the reply' : 'send the reply')}</p>`;
}

function testHosts(suites: SuiteRunData[]): string[] {
  const hosts = suites.flatMap((s) => [...s.base.boots, ...s.series.boots].flatMap((b) => (b.host ? [b.host] : [])));
  return [...new Set(hosts)];
}

function suiteView(runId: string, s: SuiteRunData, config: Config): z.infer<typeof Suite> {
  const outputOf = (name: string) =>
    (s.series.tests.find((t) => t.name === name)?.last.output ?? []).slice(-EXCERPT_LINES);
  const row = (r: SuiteRunData['comparison']['newFailures'][number]) => ({
    name: r.name,
    base: r.base,
    series: r.series,
    attempts: r.seriesAttempts,
    history: r.history ?? null,
    quarantine: r.quarantine ?? null,
    excerpt: outputOf(r.name),
  });
  const c = s.comparison;
  const listed = new Set(
    [...c.newFailures, ...c.preExisting, ...c.flaky, ...c.fixed, ...c.quarantined].map((r) => r.name),
  );
  return {
    suite: s.suite,
    config: s.config,
    bootFailure: s.series.bootFailure,
    newFailures: c.newFailures.map(row),
    preExisting: c.preExisting.map(row),
    flaky: c.flaky.map(row),
    fixed: c.fixed.map(row),
    quarantined: c.quarantined.map(row),
    passed: s.series.tests.filter((t) => !listed.has(t.name) && t.attempts[0] === 'pass').map((t) => t.name),
    notRun: c.notRun,
    newSplats: c.newSplats,
    preExistingSplats: c.preExistingSplats,
    reproducer: s.reproducer,
    consoles: (['base', 'series'] as const).flatMap((kernel) =>
      s[kernel].boots.map((b, i) => ({
        label: `${kernel} boot ${i + 1} (${b.purpose}, ${b.outcome.verdict})`,
        url: `/runs/${runId}/console/${encodeURIComponent(s.suite)}/${kernel}/${i}`,
        bytes: fileSize(b.consoleFile, config.dataDir),
      })),
    ),
  };
}

/** A file the coordinator can serve: it exists here and lies inside the data directory. */
export function fileSize(path: string, dataDir: string): number | null {
  if (!path.startsWith(`${dataDir}/`) || !existsSync(path)) return null;
  return statSync(path).size;
}

function artifactLinks(store: ArtifactStore, key: string, label: string): z.infer<typeof FileLink>[] {
  let set: ReturnType<ArtifactStore['get']> = null;
  try {
    set = store.get(key);
  } catch {
    return [];
  }
  if (!set) return [];
  return Object.entries(set.manifest.files).map(([name, f]) => ({
    label: `${label}: ${name}`,
    url: `/artifacts/${key}/${name.split('/').map(encodeURIComponent).join('/')}`,
    bytes: f.bytes,
  }));
}

function fileLinks(links: z.infer<typeof FileLink>[]): Html {
  return html`<ul class="files">${links.map(
    (l) =>
      html`<li>${l.bytes === null ? html`${l.label} <span class="muted">(not on this host)</span>` : html`<a href="${l.url}">${l.label}</a> <span class="muted">${bytes(l.bytes)}</span>`}</li>`,
  )}</ul>`;
}

/** A failing or flaky test can be quarantined on the run's tree from its row, by an admin. */
interface TableOpts {
  withExcerpt: boolean;
  cls: string;
  quarantineOn?: { tree: string; suite: string; view: View };
}

function testTable(title: string, rows: z.infer<typeof TestRow>[], o: TableOpts): Html {
  if (rows.length === 0) return html``;
  const q = o.quarantineOn;
  return html`<h3>${title} (${rows.length})</h3>
<table class="${o.cls}"><thead><tr><th>test</th><th>base</th><th>series</th><th>attempts</th><th>history</th></tr></thead><tbody>
${rows.map(
  (
    r,
  ) => html`<tr><td><code>${r.name}</code>${q ? quarantineForm(q.view, { tree: q.tree, suite: q.suite, test: r.name }) : ''}</td>
  <td>${badge(r.base)}</td><td>${badge(r.series)}</td>
  <td>${r.attempts.join(', ')}</td><td class="muted">${r.quarantine ?? r.history ?? ''}</td></tr>
  ${o.withExcerpt && r.excerpt.length ? html`<tr><td colspan="5"><pre class="excerpt">${r.excerpt.join('\n')}</pre></td></tr>` : ''}`,
)}
</tbody></table>`;
}

function renderSplat(s: z.infer<typeof Splat>): Html {
  return html`<div class="splat"><p><strong>${s.title}</strong> <span class="muted">${s.kind}${s.test ? ` during ${s.test}` : ''} ·
  fingerprint <a href="/incidents?fingerprint=${encodeURIComponent(s.fingerprint)}"><code>${s.fingerprint}</code></a></span></p>
  <pre>${s.excerpt.join('\n')}</pre></div>`;
}

function renderSuite(s: z.infer<typeof Suite>, tree: string, view: View): Html {
  const quarantineOn = { tree, suite: s.suite, view };
  return html`<section class="suite" id="suite-${s.suite}">
<h2>Suite ${s.suite} <span class="muted">config ${s.config}</span></h2>
${s.bootFailure ? html`<p class="verdict fail">the series kernel does not boot: ${s.bootFailure}</p>` : ''}
${s.newSplats.length ? html`<h3>New kernel splats (${s.newSplats.length})</h3>${s.newSplats.map(renderSplat)}` : ''}
${testTable('New failures', s.newFailures, { withExcerpt: true, cls: 'new-failures', quarantineOn })}
${testTable('Also failing on the base', s.preExisting, { withExcerpt: true, cls: 'pre-existing', quarantineOn })}
${testTable('Flaky', s.flaky, { withExcerpt: false, cls: 'flaky', quarantineOn })}
${testTable('Quarantined, not counted', s.quarantined, { withExcerpt: true, cls: 'quarantined' })}
${testTable('Fixed', s.fixed, { withExcerpt: false, cls: 'fixed' })}
${s.preExistingSplats.length ? html`<h3>Splats also on the base (${s.preExistingSplats.length})</h3>${s.preExistingSplats.map(renderSplat)}` : ''}
${s.notRun.length ? html`<p>Not run: ${s.notRun.join(', ')}</p>` : ''}
<details><summary>Passed (${s.passed.length})</summary><p>${s.passed.map((p) => html`<code>${p}</code> `)}</p></details>
${s.reproducer.length ? html`<h3>Reproduce</h3><pre class="reproducer">${s.reproducer.join('\n')}</pre>` : ''}
<h3>Console logs</h3>${fileLinks(s.consoles)}
</section>`;
}

function renderBuild(b: z.infer<typeof Build>): Html {
  return html`<section class="build"><h3>${b.config}: base ${badge(b.base === 'ok' ? 'pass' : 'fail')} series ${badge(b.series === 'ok' ? 'pass' : 'fail')}</h3>
${b.firstError ? html`<pre>${b.firstError}</pre>` : ''}
${b.logTail.length ? html`<pre>${b.logTail.join('\n')}</pre>` : ''}
<p>warnings: ${b.warnings.before} → ${b.warnings.after}</p>
${b.warnings.added.length ? html`<p>new warnings:</p><pre>${b.warnings.added.join('\n')}</pre>` : ''}
${b.warnings.removed.length ? html`<details><summary>warnings gone (${b.warnings.removed.length})</summary><pre>${b.warnings.removed.join('\n')}</pre></details>` : ''}
${
  b.perPatch.length
    ? html`<table class="per-patch"><thead><tr><th>patch</th><th>build</th><th>first error</th></tr></thead><tbody>
${b.perPatch.map((p) => html`<tr><td>${p.counter}. ${p.title}</td><td>${badge(p.status === 'ok' ? 'pass' : 'fail')}</td><td>${p.firstError ?? ''}</td></tr>`)}
</tbody></table>`
    : ''
}
${b.artifacts.length ? html`<details><summary>Artifacts (${b.artifacts.length})</summary>${fileLinks(b.artifacts)}</details>` : html`<p class="muted">artifacts: not on this host</p>`}
</section>`;
}

const pct = (x: number | null) => (x === null ? '—' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}%`);

function renderPerf(d: RunPageData): Html {
  return html`<h2>Throughput</h2>
<table class="perf"><thead><tr><th>scenario</th><th>clock</th><th class="num">rounds</th><th class="num">change</th><th>95% interval</th><th>verdict</th></tr></thead><tbody>
${d.perf.map(
  (
    p,
  ) => html`<tr><td>${p.suite}/${p.scenario}<br /><span class="muted">${p.description}</span></td><td>${p.clock}</td><td class="num">${p.rounds}</td>
  <td class="num">${pct(p.change)}</td><td>${p.ci ? `${pct(p.ci[0])} .. ${pct(p.ci[1])}` : '—'}</td><td>${badge(p.verdict)}<br /><span class="muted">${p.reason}</span></td></tr>`,
)}
</tbody></table>
${d.perf.map((p, i) => html`<div class="chart" id="perf-${i}" data-title="${p.suite}/${p.scenario} (${p.clock})"></div>`)}
${jsonScript(
  'perf-data',
  d.perf.map((p) => ({ base: p.base, series: p.series })),
)}
${d.bisect.map(
  (b) => html`<h3>Bisection of ${b.suite}/${b.scenario}</h3>
<p>${b.culprit ? html`culprit: patch ${b.culprit.counter} "${b.culprit.title}"` : 'no single culprit'}${b.note ? ` (${b.note})` : ''}</p>
<table><thead><tr><th>patch</th><th>verdict</th><th class="num">change</th></tr></thead><tbody>
${b.probes.map((p) => html`<tr><td>${p.counter}</td><td>${badge(p.verdict)}</td><td class="num">${pct(p.change)}</td></tr>`)}
</tbody></table>`,
)}`;
}

function stageTimeline(stages: z.infer<typeof Stage>[], createdAt: string): Html {
  const t0 = Date.parse(createdAt);
  const end = Math.max(
    t0 + 1,
    ...stages.map((s) => (s.startedAt ? Date.parse(s.startedAt) + (s.durationMs ?? 0) : t0)),
  );
  const scale = (ms: number) => `${((ms / (end - t0)) * 100).toFixed(1)}%`;
  return html`<table class="stages"><thead><tr><th>stage</th><th>status</th><th>started</th><th class="num">duration</th><th class="num">attempts</th><th>worker</th><th style="width:30%">timeline</th></tr></thead><tbody>
${stages.map(
  (
    s,
  ) => html`<tr><td>${s.name}</td><td>${badge(s.status)}</td><td>${when(s.startedAt)}</td><td class="num">${duration(s.durationMs)}</td>
  <td class="num">${s.attempts}</td><td>${s.workers.join(', ')}</td>
  <td>${s.startedAt ? html`<span class="stage-bar" style="margin-left:${scale(Date.parse(s.startedAt) - t0)};width:${scale(s.durationMs ?? 0)}"></span>` : ''}</td></tr>
  ${s.summary || s.error ? html`<tr><td></td><td colspan="6" class="muted">${s.summary ?? ''}${s.error ? html`<br />${s.error}` : ''}</td></tr>` : ''}`,
)}
</tbody></table>`;
}
