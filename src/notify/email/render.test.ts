import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BuildOutcome } from '../../build/kernel.js';
import { UsageError } from '../../errors.js';
import { CLOCK_THRESHOLDS } from '../../perf/plan.js';
import { compareSequential } from '../../perf/sequential.js';
import type { RunContext, StageOutcome } from '../../pipeline/payload.js';
import { applyDetails } from '../../stages/apply/result.js';
import { buildDetails, type BuildStageData } from '../../stages/build/result.js';
import { breakLine, EMAIL_WIDTH, messageIdFor, renderEmail, type EmailInput } from './render.js';
import { perfDetails, perfSummary, type PerfSuiteData } from '../../stages/perf/result.js';
import { renderReport } from '../../stages/report/render.js';
import { suiteSummary, testDetails, type SuiteRunData } from '../../stages/test/result.js';

const BASE = '9f3c1e2a7b5d4c6e8f0a1b2c3d4e5f60718293a4';
const HEAD = 'c0ffee00d15ea5e0123456789abcdef012345678';
const RUN_ID = '5b0c2d1e-8f3a-4c6b-9d7e-1a2b3c4d5e6f';
const COVER = '20250110101500.1234-1-jane@example.org';
const TITLE = 'udp: coalesce GSO segments on the veth fast path';

const run: RunContext = {
  runId: RUN_ID,
  stages: ['apply', 'build', 'test', 'perf', 'report'],
  tree: { name: 'net-next', reason: 'subject tag net-next' },
  build: {
    configs: ['x86_64-defconfig', 'kvm-guest'],
    arch: 'x86_64',
    toolchain: 'gcc',
    perPatch: false,
    suites: ['net'],
    perfSuites: ['pktgen'],
    perfBisect: false,
    perfClock: 'wall',
  },
  series: {
    title: TITLE,
    version: 3,
    total: 3,
    isRfc: false,
    author: { name: 'Jane Q. Hacker', address: 'jane@example.org' },
    messageId: COVER,
    patches: [
      { counter: 1, title: 'udp: factor out the GSO segment count' },
      { counter: 2, title: 'veth: coalesce GSO segments before xmit' },
      { counter: 3, title: 'selftests: net: udpgso: cover veth coalescing' },
    ],
  },
};

const built = (config: string, commit: string): BuildOutcome => ({
  config,
  commit,
  treeId: 'b'.repeat(40),
  status: 'ok',
  cacheHit: false,
  durationMs: 412_000,
  artifactKey: `${config}-${commit.slice(0, 8)}`,
  artifactDir: `/var/lib/ksci/artifacts/${config}/${commit.slice(0, 12)}`,
  configMismatches: [],
  firstError: null,
  errors: [],
  failedTargets: [],
  warnings: [],
  steps: 1,
  networkAttempt: false,
  logTail: [],
});

const buildData: BuildStageData = {
  toolchain: 'gcc',
  toolchainVersions: { gcc: 'gcc (Debian 14.2.0-8) 14.2.0', ld: 'GNU ld (GNU Binutils for Debian) 2.43.50.20241210' },
  builds: ['x86_64-defconfig', 'kvm-guest'].map((config) => ({
    config,
    configHash: 'd41d8cd98f00b204e9800998ecf8427e',
    base: { ...built(config, BASE), cacheHit: true },
    series: built(config, HEAD),
    perPatch: [],
    warnings: { before: 3, after: 3, added: [], removed: [] },
    selftests: null,
  })),
};

const udpgsoOutput = [
  'TAP version 13',
  '1..1',
  '# timeout set to 3600',
  '# selftests: net: udpgso.sh',
  '# ipv4',
  '#\tno GSO',
  '# udpgso.c:412: recv: expected 1472 bytes, got 1400 (errno 0): gso_size=1400 segs=2 payload=2800 mss=1460 cork=0',
  '# \x1b[31mFAIL\x1b[0m: veth coalesce 2 segments',
  'not ok 1 selftests: net: udpgso.sh # exit=1',
];

const kernel = (commit: string, udpgso: 'pass' | 'fail') => ({
  commit,
  kernel: `/var/lib/ksci/artifacts/kvm-guest/${commit.slice(0, 12)}/bzImage`,
  cached: commit === BASE,
  boots: [
    {
      tests: ['udpgso.sh', 'reuseport_bpf', 'so_txtime.sh'],
      purpose: 'run' as const,
      outcome: {
        verdict: 'completed' as const,
        reason: 'all tests ran',
        excerpt: [],
        kernelRelease: '6.13.0-rc6-ksci+',
        bootSeconds: 2.4,
        durationMs: 81_000,
        accel: 'kvm',
      },
      consoleFile: `/var/lib/ksci/runs/${RUN_ID}/net-${commit.slice(0, 12)}.console`,
    },
  ],
  tests: [
    {
      name: 'udpgso.sh',
      attempts: udpgso === 'pass' ? ['pass' as const] : ['fail' as const, 'fail' as const],
      last: {
        name: 'udpgso.sh',
        status: udpgso,
        exitCode: udpgso === 'pass' ? 0 : 1,
        seconds: 14.2,
        output: udpgso === 'pass' ? [] : udpgsoOutput,
      },
    },
    {
      name: 'reuseport_bpf',
      attempts: ['pass' as const],
      last: { name: 'reuseport_bpf', status: 'pass' as const, exitCode: 0, seconds: 3.1, output: [] },
    },
    {
      name: 'so_txtime.sh',
      attempts: ['pass' as const],
      last: { name: 'so_txtime.sh', status: 'pass' as const, exitCode: 0, seconds: 21.7, output: [] },
    },
  ],
  splats: [],
  ignoredSplats: [],
  bootFailure: null,
});

const suite: SuiteRunData = {
  suite: 'net',
  config: 'kvm-guest',
  base: kernel(BASE, 'pass'),
  series: kernel(HEAD, 'fail'),
  comparison: {
    newFailures: [{ name: 'udpgso.sh', base: 'pass', series: 'fail', seriesAttempts: ['fail', 'fail'] }],
    preExisting: [],
    flaky: [],
    fixed: [],
    quarantined: [],
    notRun: [],
    newSplats: [],
    preExistingSplats: [],
  },
  reproducer: [
    `ksci vm --kernel /var/lib/ksci/artifacts/kvm-guest/${HEAD.slice(0, 12)}/bzImage --suite net --test udpgso.sh`,
  ],
};

const basePps = [1_512_300, 1_498_800, 1_530_100, 1_505_600, 1_521_900, 1_509_400, 1_517_200, 1_502_700];
const seriesPps = basePps.map((x, i) => Math.round(x * (0.82 + (i % 3) * 0.004)));
const session = (side: 'base' | 'series', round: number) => ({
  side,
  round,
  failure: null,
  kernelRelease: '6.13.0-rc6-ksci+',
  splats: [],
  logFile: `/var/lib/ksci/runs/${RUN_ID}/perf-${side}-${round}.log`,
  where: 'vm (kvm, 2 vCPUs)',
});
const perfSuite: PerfSuiteData = {
  suite: 'pktgen',
  config: 'perf',
  base: { commit: BASE, kernel: `/var/lib/ksci/artifacts/perf/${BASE.slice(0, 12)}/bzImage` },
  series: { commit: HEAD, kernel: `/var/lib/ksci/artifacts/perf/${HEAD.slice(0, 12)}/bzImage` },
  plan: {
    rounds: 8,
    minRounds: 3,
    warmup: 1,
    repetitions: 3,
    unit: 'session',
    runner: 'vm',
    append: { base: [], series: [] },
  },
  run: {
    clock: 'wall',
    sessions: basePps.flatMap((_, r) => [session('base', r), session('series', r)]),
    samples: basePps.flatMap((pps, r) => [
      {
        scenario: 'veth-xmit',
        side: 'base' as const,
        round: r,
        rep: 0,
        pps,
        results: [],
        env: { cpu_model: 'AMD EPYC 7B13', governor: 'performance' },
      },
      {
        scenario: 'veth-xmit',
        side: 'series' as const,
        round: r,
        rep: 0,
        pps: seriesPps[r]!,
        results: [],
        env: { cpu_model: 'AMD EPYC 7B13', governor: 'performance' },
      },
    ]),
    invalid: [],
    stoppedBy: null,
  },
  verdicts: [
    {
      scenario: 'veth-xmit',
      description: 'pktgen into one end of a veth pair, 64-byte UDP',
      base: basePps,
      series: seriesPps,
      comparison: compareSequential(basePps, seriesPps, { ...CLOCK_THRESHOLDS.wall, minRounds: 3, maxRounds: 8 }),
      missing: null,
      invalid: [],
    },
  ],
  bisect: null,
};

const outcome = (stage: string, status: StageOutcome['status'], summary: string, data: unknown): StageOutcome => ({
  stage,
  status,
  summary,
  data,
  attempts: 1,
  startedAt: null,
  finishedAt: null,
});

const outcomes: StageOutcome[] = [
  outcome('apply', 'passed', '3 patches applied on 9f3c1e2a7b5d', {
    status: 'applied',
    baseCommit: BASE,
    headCommit: HEAD,
    ref: `refs/ksci/${RUN_ID}`,
    base: { reason: 'base-commit', note: null },
    patches: run.series.patches.map((p) => ({ ...p, commit: HEAD })),
    partiallyMerged: [],
  }),
  outcome('build', 'passed', '2 config(s) built, no new warnings', buildData),
  outcome('test', 'failed', suiteSummary(suite), { suites: [suite] }),
  outcome('perf', 'failed', perfSummary(perfSuite), { suites: [perfSuite] }),
];

const report = renderReport(run, outcomes, {
  apply: applyDetails,
  build: buildDetails,
  test: testDetails,
  perf: perfDetails,
});

function input(extra: Partial<EmailInput> = {}): EmailInput {
  return {
    series: {
      ...run.series,
      references: ['20241220093000.777-1-jane@example.org'],
      subject: `[PATCH net-next v3 0/3] ${TITLE}`,
    },
    runId: RUN_ID,
    verdict: report.verdict,
    headline: report.headline,
    report: report.text,
    tree: run.tree,
    baseCommit: BASE,
    configs: run.build.configs,
    resultsUrl: `https://ci.example.org/runs/${RUN_ID}`,
    reproducer: `ksci run --mbox https://lore.kernel.org/all/${COVER}/t.mbox.gz --tree net-next`,
    policy: {
      mode: 'list',
      listAddress: 'netdev@vger.kernel.org',
      from: 'ksci <ksci@ci.example.org>',
      cc: ['ksci-reports@ci.example.org'],
    },
    ...extra,
  };
}

function assertMailShape(text: string): void {
  const lines = text.split('\n');
  assert.equal(lines.pop(), '', 'the body ends with a newline');
  for (const [i, l] of lines.entries()) {
    assert.ok([...l].length <= EMAIL_WIDTH, `line ${i + 1} has ${[...l].length} columns: ${JSON.stringify(l)}`);
    if (l !== '-- ') assert.doesNotMatch(l, /\s$/, `line ${i + 1} ends in whitespace: ${JSON.stringify(l)}`);
    assert.doesNotMatch(l, /[\x00-\x1f\x7f]/, `line ${i + 1} holds a control character: ${JSON.stringify(l)}`);
  }
  assert.doesNotMatch(text, /<html|<\/?[a-z]+>/i);
}

describe('renderEmail', () => {
  it('threads under the cover letter with its subject, Re: once', () => {
    const m = renderEmail(input());
    assert.equal(m.subject, `Re: [PATCH net-next v3 0/3] ${TITLE}`);
    assert.equal(m.inReplyTo, COVER);
    assert.deepEqual(m.references, ['20241220093000.777-1-jane@example.org', COVER]);
    const again = renderEmail(
      input({ series: { ...input().series, subject: 'RE:  [PATCH net-next v3 0/3]\n ' + TITLE, references: [COVER] } }),
    );
    assert.equal(
      again.subject,
      `RE: [PATCH net-next v3 0/3] ${TITLE}`,
      'an unfolded subject that already is a reply is kept',
    );
    assert.deepEqual(again.references, [COVER], 'the parent is listed once, last');
  });

  it("mode 'list': To the list, Cc the author and the extra copies, each address once", () => {
    const m = renderEmail(
      input({
        policy: {
          mode: 'list',
          listAddress: 'netdev@vger.kernel.org',
          from: 'ksci <ksci@ci.example.org>',
          cc: ['JANE@example.org', 'netdev@vger.kernel.org', 'Maintainer <maint@example.org>'],
        },
      }),
    );
    assert.equal(m.from, 'ksci <ksci@ci.example.org>');
    assert.deepEqual(m.to, ['netdev@vger.kernel.org']);
    assert.deepEqual(m.cc, ['"Jane Q. Hacker" <jane@example.org>', 'Maintainer <maint@example.org>']);
  });

  it("mode 'author': the author only, no copies", () => {
    const m = renderEmail(
      input({
        policy: {
          mode: 'author',
          listAddress: 'netdev@vger.kernel.org',
          from: 'ksci@ci.example.org',
          cc: ['maint@example.org'],
        },
      }),
    );
    assert.deepEqual(m.to, ['"Jane Q. Hacker" <jane@example.org>']);
    assert.deepEqual(m.cc, []);
  });

  it('Message-ID: the same for a resend, new for another verdict, in the domain of From', () => {
    const a = renderEmail(input());
    assert.equal(a.messageId, `ksci.${RUN_ID}.fail@ci.example.org`);
    assert.deepEqual(renderEmail(input()), a, 'rendering is deterministic, body included');
    assert.equal(renderEmail(input({ verdict: 'error' })).messageId, `ksci.${RUN_ID}.error@ci.example.org`);
    assert.equal(messageIdFor(RUN_ID, 'pass', 'Bot <Bot@CI.Example.ORG>'), `ksci.${RUN_ID}.pass@ci.example.org`);
    assert.match(
      messageIdFor('run 7/a', 'pass', 'bot@ci.example.org'),
      /^ksci\.[0-9a-f]{32}\.pass@ci\.example\.org$/,
      'a run id that is no dot-atom is hashed',
    );
    assert.throws(
      () => messageIdFor(RUN_ID, 'pass', 'ksci'),
      (e: unknown) => e instanceof UsageError && /no domain/.test(e.message),
    );
  });

  it('headers mark it as a bot mail and name the run', () => {
    assert.deepEqual(renderEmail(input()).headers, {
      'Auto-Submitted': 'auto-generated',
      'X-ksci-Run': RUN_ID,
      'X-ksci-Verdict': 'fail',
    });
  });

  it('the body: greeting, verdict, what was tested, the report detail, link, reproducer, signature', () => {
    const { text } = renderEmail(input());
    assertMailShape(text);
    assert.match(
      text,
      /^Hi Jane Q\. Hacker,\n\nksci tested v3 of this series \(3 patches\)\.\n\nFAIL: test: net: 2\/3 passed; new failures: udpgso\.sh \(fail, fail\)\n/,
    );
    assert.match(text, /\nSomething in the series needs a look/);
    assert.match(
      text,
      /\nWhat was tested:\n {2}tree: {4}net-next \(subject tag net-next\)\n {2}base: {4}9f3c1e2a7b5d4c6e8f0a1b2c3d4e5f60718293a4\n {2}configs: x86_64-defconfig, kvm-guest\n {2}run: {5}5b0c2d1e-/,
    );
    // The report's detail, as the renderers wrote it.
    assert.match(text, /\nStages:\n {2}apply {5}passed {4}3 patches applied/);
    assert.match(text, /\n {4}NEW FAILURE udpgso\.sh: fail, then fail; passed on the base\n {6}\| TAP version 13\n/);
    assert.match(text, /\n {6}\| # {7}no GSO\n/, 'a tab is expanded to the next stop');
    assert.match(text, /\n {6}\| # FAIL: veth coalesce 2 segments\n/, 'colour escapes are dropped');
    assert.match(
      text,
      /\n {6}\| # udpgso\.c:412: recv: expected 1472 bytes, got 1400 \(errno 0\): \\\n {6}\| gso_size=1400 segs=2 payload=2800 mss=1460 cork=0\n/,
    );
    assert.match(
      text,
      /\n {6}REGRESSION: 1,510,850 -> 1,2\d\d,\d{3} pps, -1\d\.\d% \(CI -1\d\.\d% \.\. \\\n {6}-1\d\.\d%\), 8 rounds of at most 8, clock wall\n/,
    );
    assert.match(text, /\n {6}base {3}\(n=8, cv \d\.\d+%\): 1,512,300 1,498,800 /);
    assert.match(
      text,
      /\n {6}ksci vm --kernel \\\n {6}\/var\/lib\/ksci\/artifacts\/kvm-guest\/c0ffee00d15e\/bzImage --suite \\\n {6}net --test udpgso\.sh\n/,
      'a command is cut between its words',
    );
    // Already said by the mail's own headers and lines: not repeated from the report.
    assert.doesNotMatch(text, /Message-ID:|^Author:|ksci FAIL:/m);
    assert.ok(text.includes(`\nFull results:\n  https://ci.example.org/runs/${RUN_ID}\n`));
    const repro = text.slice(text.indexOf('\nTo reproduce:\n') + 15, text.indexOf('\n\n-- \n')).split('\n');
    assert.equal(repro[0], '  ksci run --mbox \\', 'cut at a space while one fits');
    assert.ok(
      repro[1]!.startsWith('  https://') && repro[1]!.endsWith('\\') && [...repro[1]!].length === EMAIL_WIDTH,
      'a URL longer than a line is cut at the width',
    );
    assert.equal(unbreak(repro, '  '), `  ${input().reproducer}`);
    assert.ok(text.endsWith('\n\n-- \nksci: automated testing of kernel patch series\n'), text.slice(-120));
  });

  it('every verdict gets its own note; no link, no reproducer, no name, no base: those lines go', () => {
    const skipped = renderReport(run, [
      outcome('apply', 'skipped', 'already merged: every patch is in the base', null),
    ]);
    const { text } = renderEmail(
      input({
        series: {
          ...input().series,
          author: { name: '', address: 'jane@example.org' },
          isRfc: true,
          version: 1,
          total: 1,
        },
        verdict: skipped.verdict,
        headline: skipped.headline,
        report: skipped.text,
        baseCommit: null,
        resultsUrl: null,
        reproducer: null,
      }),
    );
    assertMailShape(text);
    assert.match(
      text,
      /^ksci tested RFC v1 of this series \(1 patch\)\.\n\nSKIPPED: apply: already merged: every patch is in the base\n\nNothing was built or tested/,
    );
    assert.match(text, /\n {2}base: {4}not chosen: the run ended before that\n/);
    assert.doesNotMatch(text, /Full results|To reproduce|\n\n\n/);
    const notes = (['pass', 'fail', 'error', 'cancelled', 'skipped'] as const).map(
      (verdict) => renderEmail(input({ verdict })).text.split('\n')[6],
    );
    assert.equal(new Set(notes).size, 5, notes.join('\n'));
  });

  it('prose wraps at words with a hanging indent; a token longer than a line is broken with a marker', () => {
    const configs = Array.from({ length: 12 }, (_, i) => `x86_64-config-${i}`);
    const url = `https://ci.example.org/runs/${RUN_ID}/artifacts/${'a'.repeat(60)}/console.log`;
    const { text } = renderEmail(
      input({ configs, resultsUrl: url, tree: { name: 'net-next', reason: `default tree; ${'x'.repeat(90)}` } }),
    );
    assertMailShape(text);
    const tested = text.slice(text.indexOf('What was tested:'), text.indexOf('Stages:'));
    assert.match(
      tested,
      /\n {2}configs: x86_64-config-0, [^\n]*,\n {11}x86_64-config-\d+,/,
      'continued under the value, after a comma',
    );
    assert.ok(tested.split('\n').every((l) => [...l].length <= EMAIL_WIDTH));
    const link = text.slice(text.indexOf('Full results:\n') + 'Full results:\n'.length).split('\n');
    assert.ok(link[0]!.endsWith('\\') && link[1]!.startsWith('  '), link.slice(0, 3).join('\n'));
    assert.equal(unbreak(link.slice(0, 3), '  '), `  ${url}`);
  });
});

/** Undoes breakLine: drops each trailing "\" and the prefix it repeated on the next line. */
function unbreak(lines: string[], prefix: string): string {
  return lines
    .map((l, i) => (i > 0 ? l.slice(prefix.length) : l))
    .join('\n')
    .replace(/\\\n/g, '');
}

describe('breakLine', () => {
  it('leaves a line that fits alone', () => {
    assert.deepEqual(breakLine('x'.repeat(EMAIL_WIDTH)), ['x'.repeat(EMAIL_WIDTH)]);
  });

  it('breaks after the last space that fits, else hard at the width, keeps the gutter, loses nothing', () => {
    const line = `    | ${'word '.repeat(20)}${'#'.repeat(150)} tail`;
    const pieces = breakLine(line);
    assert.ok(pieces.length > 3);
    for (const p of pieces) assert.ok([...p].length <= EMAIL_WIDTH, p);
    for (const p of pieces.slice(0, -1)) assert.ok(p.endsWith('\\'), p);
    for (const p of pieces.slice(1)) assert.ok(p.startsWith('    | '), p);
    assert.match(pieces[0]!, /word \\$/, 'the first piece ends at a space');
    assert.equal([...pieces[2]!].length, EMAIL_WIDTH, 'a run without spaces is cut at the width');
    assert.equal(unbreak(pieces, '    | '), line);
  });

  it('counts columns in code points, not UTF-16 units or bytes', () => {
    const line = `  ${'ü'.repeat(70)}🙂🙂`;
    const pieces = breakLine(line);
    assert.deepEqual(
      pieces.map((p) => [...p].length),
      [EMAIL_WIDTH, 5],
    );
    assert.equal(unbreak(pieces, '  '), line);
  });

  it('an indentation too deep to repeat is not repeated', () => {
    const line = `${' '.repeat(50)}${'z'.repeat(60)}`;
    const pieces = breakLine(line);
    assert.ok(pieces.every((p) => [...p].length <= EMAIL_WIDTH));
    assert.equal(pieces.slice(1).join('').startsWith('z'), true);
    assert.equal(unbreak(pieces, ''), line);
  });
});
