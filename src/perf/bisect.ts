/**
 * Which patch (or commit) costs the throughput: binary search over an
 * ordered list of kernels after a known-good one: a series' prefixes (the
 * kernels the build stage made after each patch with --per-patch), or the
 * commits of a nightly change point's range (built when probed). Each probe
 * is an A/B of the good kernel against that one on the scenario that
 * regressed. The good kernel is known good and the last one known bad, so
 * log2(n) probes name the first bad one, under the usual bisection
 * assumption that the cost, once in, stays in.
 */
import type { Logger } from '../log.js';
import { analyzeAb, runAb, type AbPlan, type SampleUnit } from './ab.js';
import type { PerfRunner } from './runner.js';
import type { SequentialThresholds } from './sequential.js';
import type { PerfVerdict } from './stats.js';

export interface SeriesPrefix {
  /** The patch this prefix ends with (or the commit's place in the range). */
  counter: number;
  title: string;
  /** The bzImage, or how to build it when the probe needs it. */
  kernel: string | (() => Promise<string>);
}

export interface BisectProbe {
  counter: number;
  /** The verdict of the judged scenario; a probe is bad when it is a regression. */
  verdict: PerfVerdict | 'no comparison';
  change: number | null;
}

export interface BisectResult {
  /** The scenario whose verdict decides each probe: the one that regressed most. */
  scenario: string;
  culprit: { counter: number; title: string } | null;
  probes: BisectProbe[];
  /** Why there is no culprit, or a caveat. */
  note: string | null;
}

/** The next prefix to probe between a known-good and a known-bad index (-1 is the base), or null when they are adjacent. */
export function nextProbe(good: number, bad: number): number | null {
  return bad - good > 1 ? Math.floor((good + bad) / 2) : null;
}

export async function bisectSeries(
  runner: PerfRunner,
  plan: AbPlan,
  base: string,
  prefixes: SeriesPrefix[],
  scenario: string,
  o: {
    thresholds: SequentialThresholds;
    unit: SampleUnit;
    outDir: string;
    log: Logger;
    signal?: AbortSignal | undefined;
    onProgress?: (m: string) => void;
  },
): Promise<BisectResult> {
  const scenarios = plan.scenarios.filter((s) => s.name === scenario);
  const probes: BisectProbe[] = [];
  if (prefixes.length === 0)
    return { scenario, culprit: null, probes, note: 'no per-patch kernels (the build stage ran without --per-patch)' };
  let good = -1;
  let bad = prefixes.length - 1;
  for (let mid = nextProbe(good, bad); mid !== null; mid = nextProbe(good, bad)) {
    if (o.signal?.aborted) break;
    const p = prefixes[mid]!;
    o.onProgress?.(`bisect ${scenario}: patch ${p.counter} of ${prefixes[prefixes.length - 1]!.counter}`);
    const kernel = typeof p.kernel === 'string' ? p.kernel : await p.kernel();
    const ab = await runAb(
      runner,
      { ...plan, scenarios },
      { base, series: kernel },
      {
        outDir: `${o.outDir}/bisect-${p.counter}`,
        log: o.log,
        signal: o.signal,
        judge: { thresholds: o.thresholds, unit: o.unit },
      },
    );
    const v = analyzeAb(ab, scenarios, o.thresholds, o.unit)[0]!;
    const verdict = ab.stoppedBy ? 'no comparison' : (v.comparison?.verdict ?? 'no comparison');
    probes.push({ counter: p.counter, verdict, change: v.comparison?.change ?? null });
    if (verdict === 'regression') bad = mid;
    else good = mid;
  }
  const culprit = prefixes[bad]!;
  const unsure = probes.some((p) => p.verdict === 'noisy' || p.verdict === 'no comparison');
  return {
    scenario,
    culprit: { counter: culprit.counter, title: culprit.title },
    probes,
    note: unsure
      ? 'a probe was too noisy to tell (or failed) and counted as good: treat the culprit as a lead, not a proof'
      : null,
  };
}
