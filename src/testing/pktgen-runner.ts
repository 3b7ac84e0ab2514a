import { readFileSync } from 'node:fs';
import type { PerfClock } from '../perf/clock.js';
import type { PerfRunner, PerfSessionRequest } from '../perf/runner.js';
import { fixturePath } from './paths.js';

/**
 * A perf runner standing in for QEMU: every run is answered with the real
 * pktgen capture (test/fixtures/pktgen/shared-dummy0.txt), its rate set by
 * `pps(request, run index)`, so what sits above the runner (rounds, samples,
 * verdicts, bisection) is tested on the parser's real input without booting.
 * `requests` keeps every session asked for, in order.
 */
export function fakePktgenRunner(
  pps: (req: PerfSessionRequest, run: number) => number,
  clock: PerfClock = { name: 'wall' },
): PerfRunner & { requests: PerfSessionRequest[] } {
  const capture = readFileSync(fixturePath('pktgen', 'shared-dummy0.txt'), 'utf8');
  const requests: PerfSessionRequest[] = [];
  return {
    name: 'fake',
    clock,
    requests,
    async session(req) {
      requests.push(req);
      const runs = req.runs.map((r, i) => ({
        scenario: r.scenario.name,
        rep: r.rep,
        warmup: r.warmup,
        exitCode: 0,
        timedOut: false,
        output: [],
        files: { 'pktgen.dummy0': Buffer.from(capture.replace(/\d+pps/, `${Math.round(pps(req, i))}pps`)) },
      }));
      return { failure: null, runs, kernelRelease: '6.12', splats: [], logFile: '/dev/null', where: 'fake' };
    },
  };
}
