/**
 * How trustworthy is the perf verdict on this machine, under QEMU?
 *
 * 1. A/A: `rounds` A/B rounds of the base kernel against itself (the
 *    dummy-xmit scenario, one number per session as the perf stage counts
 *    them). Draws of n of those rounds, compared as the perf stage does
 *    (paired), give the false-positive rate: any "regression" or
 *    "improvement" is one.
 * 2. Planted shifts on that real noise: the same draws with the second side
 *    scaled by (1 - shift); the rate at which each is called a regression,
 *    and the smallest shift found in >= 95% of draws.
 * 3. A real injected slowdown (if a second kernel is given): `rounds` rounds
 *    of base against it; its size (the median ratio of the rounds, so the
 *    reference is measured in the same run) and how often n rounds detect it.
 *
 * Kernels: $KSCI_BENCH_PERF_BASE and $KSCI_BENCH_PERF_SLOW (bzImages: the
 * perf stage's base and series artifacts of `ksci run --perf
 * examples/series/slow-path.mbox`, which allocates a 64-byte object per skb,
 * are such a pair); without them, Debian's prebuilt 6.12
 * (scripts/test-kernel.sh) with its pktgen/dummy/veth modules, A/A only.
 *   node dist/bench/perf-verdict.js [rounds=16] [n=8] [draws=2000]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/log.js';
import { packageRoot } from '../src/paths.js';
import { runAb, unitValues, type AbRun } from '../src/perf/ab.js';
import { loadPerfSuite, perfRunner, perfScenarios } from '../src/perf/plan.js';
import { comparePerf, DEFAULT_THRESHOLDS, formatPct, median, type PerfVerdict } from '../src/perf/stats.js';
import { seededRng } from '../src/random.js';

const rounds = Number(process.argv[2] ?? 16);
const n = Number(process.argv[3] ?? 8);
const draws = Number(process.argv[4] ?? 2000);
const log = createLogger('bench', 'warn');
const work = mkdtempSync(join(tmpdir(), 'ksci-bench-perf-'));

let base = process.env['KSCI_BENCH_PERF_BASE'];
const slow = process.env['KSCI_BENCH_PERF_SLOW'];
let modules: string[] | undefined;
if (!base) {
  base = execFileSync(join(packageRoot, 'scripts', 'test-kernel.sh'), { encoding: 'utf8' }).trim();
  modules = readFileSync(join(dirname(base), `modules-${base.split('/vmlinuz-')[1]}`, 'modules.list'), 'utf8')
    .trim()
    .split('\n');
}

const { config } = loadConfig({
  env: { ...process.env, KSCI_DATA_DIR: process.env['KSCI_DATA_DIR'] ?? join(work, 'data') },
});
const suite = loadPerfSuite(config, 'pktgen');
const scenarios = perfScenarios(suite, { PKTGEN_COUNT: process.env['KSCI_BENCH_PKTGEN_COUNT'] ?? '200000' }, [
  'dummy-xmit',
]);
const { runner } = await perfRunner(config, suite, { tree: 'bench', log, ...(modules ? { modules } : {}) });
const plan = { scenarios, rounds, warmup: 1, repetitions: 3 };

type Pair = [number, number];
async function collect(series: string, what: string): Promise<{ pairs: Pair[]; run: AbRun; minutes: number }> {
  const started = Date.now();
  const run = await runAb(
    runner,
    plan,
    { base: base!, series },
    { outDir: join(work, what), log, onProgress: (m) => process.stderr.write(`bench ${what}: ${m}\n`) },
  );
  if (run.stoppedBy) throw new Error(`${what}: a session failed: ${JSON.stringify(run.stoppedBy.failure)}`);
  const side = (s: 'base' | 'series') =>
    unitValues(
      run.samples.filter((x) => x.side === s),
      'session',
    );
  const [a, b] = [side('base'), side('series')];
  if (a.length !== rounds || b.length !== rounds)
    throw new Error(
      `${what}: ${a.length}/${b.length} of ${rounds} rounds gave numbers (dropped: ${run.invalid.map((x) => x.reason).join('; ')})`,
    );
  return { pairs: a.map((x, i) => [x, b[i]!]), run, minutes: (Date.now() - started) / 60_000 };
}

const rng = seededRng(20261201);
/** n distinct rounds. */
function draw(pairs: Pair[]): Pair[] {
  const picked = new Set<number>();
  while (picked.size < n) picked.add(Math.floor(rng() * pairs.length));
  return [...picked].sort((x, y) => x - y).map((i) => pairs[i]!);
}
function rate(pairs: Pair[], shift: number, want: PerfVerdict[], paired = true): number {
  let hits = 0;
  for (let d = 0; d < draws; d++) {
    const got = draw(pairs);
    const c = comparePerf(
      got.map((p) => p[0]),
      got.map((p) => p[1] * (1 - shift)),
      { ...DEFAULT_THRESHOLDS, resamples: 500 },
      { paired, seed: d },
    );
    if (want.includes(c.verdict)) hits++;
  }
  return hits / draws;
}
const cv = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) / m;
};
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

if (rounds < n) throw new Error(`need rounds >= n (${rounds} < ${n})`);
const aa = await collect(base, 'aa');
const ratiosAA = aa.pairs.map(([a, b]) => b / a);
const changed: PerfVerdict[] = ['regression', 'improvement'];
const fp = rate(aa.pairs, 0, changed);
const fpUnpaired = rate(aa.pairs, 0, changed, false);
const shifts = [0.01, 0.02, 0.03, 0.04, 0.05, 0.08];
const power = shifts.map((shift) => ({
  shift,
  paired: rate(aa.pairs, shift, ['regression']),
  unpaired: rate(aa.pairs, shift, ['regression'], false),
}));
const smallest = power.find((p) => p.paired >= 0.95);

const pps = aa.pairs.flat();
console.log(
  `perf-verdict: dummy-xmit under QEMU (${aa.run.sessions[0]?.where}), ${scenarios[0]!.env['PKTGEN_COUNT']} packets a run, 1 warm-up + 3 runs a session, ${draws} draws of n=${n} rounds`,
);
console.log(
  `  A/A: ${rounds} rounds in ${aa.minutes.toFixed(1)} min; median ${Math.round(median(pps))} pps; session-to-session cv ${pct(cv(pps))}, within-round ratio cv ${pct(cv(ratiosAA))}`,
);
console.log(`  A/A false positives: paired ${pct(fp)} (goal <= 1%), unpaired ${pct(fpUnpaired)}`);
for (const p of power)
  console.log(
    `  planted ${formatPct(-p.shift)} on the real A/A noise: called a regression in ${pct(p.paired)} paired, ${pct(p.unpaired)} unpaired`,
  );
console.log(
  `  smallest planted shift found in >= 95% of draws: ${smallest ? formatPct(-smallest.shift) : `none up to ${formatPct(-shifts[shifts.length - 1]!)}`} (goal: 3% or less)`,
);
if (slow) {
  const ab = await collect(slow, 'ab');
  const ratios = ab.pairs.map(([a, b]) => b / a);
  const detected = rate(ab.pairs, 0, ['regression']);
  const full = comparePerf(
    ab.pairs.map((p) => p[0]),
    ab.pairs.map((p) => p[1]),
    DEFAULT_THRESHOLDS,
    { paired: true },
  );
  console.log(
    `  injected slowdown (${rounds} rounds in ${ab.minutes.toFixed(1)} min): slow/base median ratio ${median(ratios).toFixed(3)} (${formatPct(median(ratios) - 1)}), ratio cv ${pct(cv(ratios))}`,
  );
  console.log(
    `  injected slowdown called a regression by n=${n} rounds: ${pct(detected)} of draws; all ${rounds} rounds: ${full.verdict} (${full.reason})`,
  );
}
rmSync(work, { recursive: true, force: true });
