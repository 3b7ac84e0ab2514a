import type { AbRun, ScenarioVerdict } from '../perf/ab.js';
import { formatPct } from '../perf/stats.js';

const VERDICT_WORD = { improvement: 'IMPROVEMENT', regression: 'REGRESSION', 'no-change': 'no change', noisy: 'too noisy to tell' } as const;

function pps(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** What ran where, and how often: the first lines of every perf report. */
export function perfHeader(run: AbRun, unit: string): string[] {
  const of = (side: 'base' | 'series') => run.sessions.filter((s) => s.side === side);
  const release = (side: 'base' | 'series') => of(side).find((s) => s.kernelRelease)?.kernelRelease ?? 'unknown';
  const env = run.samples[0]?.env ?? {};
  const lines = [
    `base ${release('base')} (${of('base').length} sessions) vs series ${release('series')} (${of('series').length} sessions), interleaved`,
    `where: ${run.sessions[0]?.where ?? 'nowhere'}; CPU ${env['cpu_model'] ?? 'unknown'}, governor ${env['governor'] ?? 'unknown'}; one sample = ${unit === 'session' ? "a session's median run" : 'one run'}`,
  ];
  if (run.stoppedBy) {
    const s = run.stoppedBy;
    lines.push(`STOPPED: the ${s.side} kernel's session ${s.round} ended in ${s.failure!.kind}: ${s.failure!.reason}`, ...s.failure!.excerpt.slice(0, 20).map((l) => `    ${l}`));
  }
  for (const s of run.sessions) for (const sp of s.splats) lines.push(`splat on the ${s.side} kernel (round ${s.round}${sp.test ? `, during ${sp.test}` : ''}): ${sp.title}`);
  return lines;
}

/** One block per scenario: the numbers, the interval, the test, the verdict, and every sample. */
export function perfScenarioLines(v: ScenarioVerdict): string[] {
  const head = `${v.scenario}: ${v.description}`;
  if (!v.comparison) return [head, `  no comparison: ${v.missing}`, ...invalidLines(v)];
  const c = v.comparison;
  return [
    head,
    `  ${VERDICT_WORD[c.verdict]}: median ${pps(c.base.median)} -> ${pps(c.series.median)} pps, ${c.reason}`,
    `  base   (n=${c.base.n}, cv ${(c.base.cv * 100).toFixed(1)}%): ${v.base.map(pps).join(' ')}`,
    `  series (n=${c.series.n}, cv ${(c.series.cv * 100).toFixed(1)}%): ${v.series.map(pps).join(' ')}`,
    ...invalidLines(v),
  ];
}

function invalidLines(v: ScenarioVerdict): string[] {
  return v.invalid.map((x) => `  dropped: ${x.side} round ${x.round} run ${x.rep}: ${x.reason}`);
}

/** A Markdown table of the verdicts, for reports and PR comments. */
export function perfTable(verdicts: ScenarioVerdict[]): string[] {
  const rows = verdicts.map((v) => {
    const c = v.comparison;
    if (!c) return `| ${v.scenario} | | | | | | ${v.missing} |`;
    return `| ${v.scenario} | ${pps(c.base.median)} | ${pps(c.series.median)} | ${formatPct(c.change)} | ${formatPct(c.ci[0])} .. ${formatPct(c.ci[1])} | ${c.mannWhitney.p.toPrecision(2)} | ${VERDICT_WORD[c.verdict]} |`;
  });
  return ['| scenario | base pps | series pps | change | CI | p | verdict |', '|---|---:|---:|---:|---|---:|---|', ...rows];
}

export function formatPerf(run: AbRun, verdicts: ScenarioVerdict[], unit: string): string {
  return [...perfHeader(run, unit), '', ...verdicts.flatMap((v) => [...perfScenarioLines(v), '']), ''].join('\n');
}
