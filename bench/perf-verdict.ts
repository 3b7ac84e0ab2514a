/**
 * How trustworthy and how cheap is the perf verdict on this machine, per
 * clock? For each clock (icount and wall, in one run, on the same kernels):
 *
 * 1. Pools of real paired rounds, collected as the perf stage runs them
 *    (dummy-xmit, one number per session): A/A (the base kernel against
 *    itself), the base against the same kernel booted with init_on_free=1
 *    (a real cost on every free, off in Debian's config), and, when a slow
 *    kernel is given, the base against it.
 * 2. Draws: a comparison replayed as the adaptive rule runs it, rounds drawn
 *    from a pool (with replacement) one at a time and a look after each from
 *    minRounds on, up to the budget. Over many draws: the A/A false-alarm
 *    rate, the detection rate of shifts planted on the A/A rounds (series x
 *    (1 - shift)), of the real init_on_free cost and of the slow kernel, and
 *    the rounds each took. The A/A pool's log ratios are centred first: the
 *    truth of an A/A is "no change", and a pool of a few rounds has a mean
 *    that is not 0 by chance, which replays would otherwise take for a real
 *    shift (a bootstrap under the null hypothesis).
 * 3. The wall time per verdict: minutes per round (as collected) times the
 *    rounds the rule used. Ratios between the clocks are of this one run.
 *
 * Drawing from a pool of real rounds keeps the real noise shape but cannot
 * show noise the pool did not see: a bigger pool (--rounds) is a better
 * model. Run it while the host is loaded (a kernel build) to see the
 * clocks under load.
 *
 * Kernels: $KSCI_BENCH_PERF_BASE (and $KSCI_BENCH_PERF_SLOW: the perf
 * stage's base and series artifacts of `ksci run --perf
 * examples/series/slow-path.mbox`); without them, Debian's prebuilt 6.12
 * (scripts/test-kernel.sh) with its pktgen/dummy/veth modules.
 *   node dist/bench/perf-verdict.js [--clock icount|wall|both] [--rounds 6] [--budget 8] [--draws 2000]
 *                                   [--save pools.json | --from pools.json]
 * --save keeps the collected pools; --from replays saved pools without booting anything.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/log.js';
import { packageRoot } from '../src/paths.js';
import { runAb, unitValues } from '../src/perf/ab.js';
import type { ClockName } from '../src/perf/clock.js';
import { CLOCK_THRESHOLDS, loadPerfSuite, perfRunner, perfScenarios } from '../src/perf/plan.js';
import { compareSequential, type SequentialThresholds } from '../src/perf/sequential.js';
import { formatPct, median } from '../src/perf/stats.js';
import { seededRng } from '../src/random.js';

const { values: args } = parseArgs({
  options: {
    clock: { type: 'string', default: 'both' },
    rounds: { type: 'string', default: '6' },
    budget: { type: 'string', default: '8' },
    'min-rounds': { type: 'string', default: '3' },
    draws: { type: 'string', default: '2000' },
    save: { type: 'string' },
    from: { type: 'string' },
  },
});
const clocks: ClockName[] = args.clock === 'both' ? ['icount', 'wall'] : [args.clock as ClockName];
if (!clocks.every((c) => c === 'icount' || c === 'wall')) throw new Error('--clock takes icount, wall or both');
const poolRounds = Number(args.rounds);
const budget = Number(args.budget);
const minRounds = Number(args['min-rounds']);
const draws = Number(args.draws);
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
const plan = { scenarios, rounds: poolRounds, minRounds: poolRounds, warmup: 1, repetitions: 3 };

type Pair = [number, number];
interface Pool {
  pairs: Pair[];
  minutesPerRound: number;
  where: string;
}

async function collect(clock: ClockName, series: string, what: string, append: string[] = []): Promise<Pool> {
  const { runner } = await perfRunner(config, suite, { tree: 'bench', log, clock, ...(modules ? { modules } : {}) });
  const started = Date.now();
  const run = await runAb(
    runner,
    plan,
    { base: base!, series },
    {
      outDir: join(work, `${clock}-${what}`),
      log,
      append: { series: append },
      onProgress: (m) => process.stderr.write(`bench ${clock} ${what}: ${m}\n`),
    },
  );
  if (run.stoppedBy) throw new Error(`${clock} ${what}: a session failed: ${JSON.stringify(run.stoppedBy.failure)}`);
  const side = (s: 'base' | 'series') =>
    unitValues(
      run.samples.filter((x) => x.side === s),
      'session',
    );
  const [a, b] = [side('base'), side('series')];
  if (a.length !== poolRounds || b.length !== poolRounds)
    throw new Error(
      `${clock} ${what}: ${a.length}/${b.length} of ${poolRounds} rounds gave numbers (dropped: ${run.invalid.map((x) => x.reason).join('; ')})`,
    );
  return {
    pairs: a.map((x, i) => [x, b[i]!]),
    minutesPerRound: (Date.now() - started) / 60_000 / poolRounds,
    where: run.sessions[0]?.where ?? '?',
  };
}

const rng = seededRng(20261207);

/** One comparison replayed by the adaptive rule on rounds drawn from the pool. */
function replay(pool: Pair[], shift: number, t: SequentialThresholds) {
  const b: number[] = [];
  const s: number[] = [];
  for (let n = 1; n <= t.maxRounds; n++) {
    const [x, y] = pool[Math.floor(rng() * pool.length)]!;
    b.push(x);
    s.push(y * (1 - shift));
    if (n < t.minRounds) continue;
    const c = compareSequential(b, s, t);
    if (c.decided) return c;
  }
  throw new Error('unreachable: the budget decides');
}

function rates(pool: Pair[], shift: number, t: SequentialThresholds) {
  let regression = 0;
  let changed = 0;
  let within4 = 0;
  let rounds = 0;
  for (let d = 0; d < draws; d++) {
    const c = replay(pool, shift, t);
    if (c.verdict === 'regression') {
      regression++;
      if (c.rounds <= 4) within4++;
    }
    if (c.verdict === 'regression' || c.verdict === 'improvement') changed++;
    rounds += c.rounds;
  }
  return { regression: regression / draws, changed: changed / draws, within4: within4 / draws, rounds: rounds / draws };
}

const cv = (xs: number[]) => {
  const m = xs.reduce((a, x) => a + x, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1)) / m;
};
const pct = (x: number, d = 1) => `${(x * 100).toFixed(d)}%`;
const sizeOf = (p: Pair[]) => median(p.map(([a, b]) => b / a)) - 1;
/** The pool with its mean log ratio taken out: what an A/A is, by construction. */
const centred = (p: Pair[]): Pair[] => {
  const m = p.reduce((a, [x, y]) => a + Math.log(y / x), 0) / p.length;
  return p.map(([x, y]) => [x, y * Math.exp(-m)]);
};
const saved: Record<string, Record<string, Pool>> = args.from ? JSON.parse(readFileSync(args.from, 'utf8')) : {};
async function pool(clock: ClockName, series: string, what: string, append: string[] = []): Promise<Pool> {
  const hit = saved[clock]?.[what];
  if (hit) return hit;
  if (args.from) throw new Error(`${args.from} has no ${clock} ${what} pool`);
  const p = await collect(clock, series, what, append);
  (saved[clock] ??= {})[what] = p;
  if (args.save) writeFileSync(args.save, JSON.stringify(saved, null, 1));
  return p;
}

console.log(
  `perf-verdict: dummy-xmit, ${scenarios[0]!.env['PKTGEN_COUNT']} packets a run, 1 warm-up + 3 runs a session; pools of ${poolRounds} real rounds; ${draws} replays of the adaptive rule (${minRounds} to ${budget} rounds)`,
);
const summary: Record<string, { cv: number; aaMinutes: number; oneMinutes: number }> = {};
for (const clock of clocks) {
  const t: SequentialThresholds = { ...CLOCK_THRESHOLDS[clock], minRounds, maxRounds: budget };
  const aa = await pool(clock, base, 'aa');
  const iof = await pool(clock, base, 'init_on_free', ['init_on_free=1']);
  const aaPool = centred(aa.pairs);
  const baseCv = cv(aa.pairs.flat());
  const ratioCv = cv(aa.pairs.map(([a, b]) => b / a));
  const fa = rates(aaPool, 0, t);
  console.log(`\n${clock} (${aa.where}; minChange ${pct(t.minChange)}, equivalence ±${pct(t.equivalence)}):`);
  console.log(
    `  A/A: session cv ${pct(baseCv, 3)}, per-round ratio cv ${pct(ratioCv, 3)}, the pool's own mean ratio ${formatPct(sizeOf(aa.pairs))}; ${aa.minutesPerRound.toFixed(2)} min a round`,
  );
  console.log(
    `  A/A false alarms: ${pct(fa.changed, 2)} of replays (goal <= 1%), ${fa.rounds.toFixed(1)} rounds on average`,
  );
  let oneRounds = budget;
  for (const shift of [0.005, 0.01, 0.02, 0.03]) {
    const r = rates(aaPool, shift, t);
    if (shift === 0.01) oneRounds = r.rounds;
    console.log(
      `  planted ${formatPct(-shift)}: called a regression in ${pct(r.regression)} (within 4 rounds ${pct(r.within4)}), ${r.rounds.toFixed(1)} rounds on average`,
    );
  }
  const ri = rates(iof.pairs, 0, t);
  console.log(
    `  init_on_free=1 (real): ${formatPct(sizeOf(iof.pairs))} (per-round ratio cv ${pct(cv(iof.pairs.map(([a, b]) => b / a)), 3)}), a regression in ${pct(ri.regression)}, ${ri.rounds.toFixed(1)} rounds on average`,
  );
  if (slow) {
    const sp = await pool(clock, slow, 'slow-path');
    const rs = rates(sp.pairs, 0, t);
    console.log(
      `  slow-path series (real): ${formatPct(sizeOf(sp.pairs))}, a regression in ${pct(rs.regression)}, ${rs.rounds.toFixed(1)} rounds on average`,
    );
  }
  const aaMinutes = fa.rounds * aa.minutesPerRound;
  const oneMinutes = oneRounds * aa.minutesPerRound;
  console.log(
    `  wall time per verdict: A/A ${aaMinutes.toFixed(1)} min, a 1% shift ${oneMinutes.toFixed(1)} min (rounds used x minutes a round)`,
  );
  summary[clock] = { cv: ratioCv, aaMinutes, oneMinutes };
}
if (summary['icount'] && summary['wall']) {
  const i = summary['icount'];
  const w = summary['wall'];
  console.log(
    `\nicount vs wall in this run: per-round noise ${(w.cv / i.cv).toFixed(0)}x smaller; time per A/A verdict ${(i.aaMinutes / w.aaMinutes).toFixed(2)}x the wall clock's`,
  );
}
rmSync(work, { recursive: true, force: true });
