import { settle } from '../vm/compare.js';
import type { KernelRun } from '../vm/kernel-run.js';

/** `ksci test`'s report: a line per test, then what went wrong with the kernel. */
export function formatKernelRun(run: KernelRun, outDir: string): string {
  const lines: string[] = [];
  const first = run.boots[0]?.outcome;
  if (first)
    lines.push(
      `kernel ${first.kernelRelease ?? '(did not reach the init)'} under ${first.accel.toUpperCase()}; boot ${first.bootSeconds ?? '?'} s`,
    );
  for (const b of run.boots) {
    lines.push(
      `boot ${run.boots.indexOf(b) + 1} (${b.purpose}, ${b.tests.length} test(s)): ${b.outcome.verdict}: ${b.outcome.reason}`,
    );
    if (b.outcome.verdict !== 'completed') lines.push(...b.outcome.excerpt.slice(0, 30).map((l) => `  | ${l}`));
  }
  for (const t of run.tests) {
    const s = settle(t.attempts);
    lines.push(
      `${s.toUpperCase().padEnd(7)} ${t.name}  (${t.attempts.join(' -> ') || 'not run'}${t.last.seconds !== null ? `, ${t.last.seconds} s` : ''})`,
    );
    if (s === 'fail' || s === 'flaky') lines.push(...t.last.output.slice(-15).map((l) => `  | ${l}`));
  }
  for (const x of run.splats) {
    lines.push(`SPLAT ${x.kind}: ${x.title}${x.test ? ` (during ${x.test})` : ''}`, `  fingerprint ${x.fingerprint}`);
    lines.push(...x.excerpt.slice(0, 30).map((l) => `  | ${l}`));
  }
  for (const x of run.ignoredSplats) lines.push(`known splat ignored: ${x.title} (${x.reason})`);
  lines.push(`logs: ${outDir}`);
  return `${lines.join('\n')}\n`;
}
