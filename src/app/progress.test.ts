import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createLogger } from '../log.js';
import type { RunRecord, StageRecord } from '../store/results.js';
import { fit, formatElapsed, humanLogLine, RunView, renderRun, ttyLogDestination } from './progress.js';

const T0 = new Date('2025-06-02T10:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

function stage(name: string, ordinal: number, s: Partial<StageRecord>): StageRecord {
  return {
    name,
    ordinal,
    status: 'pending',
    attempt: 0,
    progress: 0,
    result: null,
    error: null,
    startedAt: null,
    finishedAt: null,
    ...s,
  };
}

function outcome(stageName: string, status: string, summary: string) {
  return { stage: stageName, status, summary, data: {}, attempts: 1, startedAt: null, finishedAt: null };
}

/** A run 12 minutes in: applied, building the series kernel, tests and the report still to come. */
function buildingRun(): RunRecord {
  return {
    id: '3f9c2a71-5b1e-4c0d-9a8e-2d6f1b7c4e90',
    seriesId: 7,
    seriesTitle: 'net: add rich packet metadata to xdp_buff',
    seriesVersion: 3,
    tree: 'net-next',
    status: 'running',
    verdict: null,
    summary: null,
    createdAt: T0,
    startedAt: at(1),
    finishedAt: null,
    treeReason: 'subject tag net-next',
    dedupKey: 'k',
    requestedBy: 'cli',
    options: null,
    reportMarkdown: null,
    reportText: null,
    stages: [
      stage('apply', 0, {
        status: 'passed',
        attempt: 1,
        progress: { message: 'applying 3/3' },
        result: outcome('apply', 'passed', 'applied 3 patches on 1a2b3c4d5e6f'),
        startedAt: at(1),
        finishedAt: at(5),
      }),
      stage('build', 1, {
        status: 'active',
        attempt: 1,
        progress: {
          message: 'vm series: 1234 build steps (a full build has 2480): CC      net/core/dev.o',
          done: 1234,
          total: 2480,
        },
        startedAt: at(5),
      }),
      stage('test', 2, {}),
      stage('report', 3, {}),
    ],
  };
}

function finishedRun(): RunRecord {
  const run = buildingRun();
  return {
    ...run,
    status: 'failed',
    verdict: 'fail',
    finishedAt: at(1500),
    stages: [
      run.stages[0]!,
      {
        ...run.stages[1]!,
        status: 'failed',
        result: outcome('build', 'failed', 'vm: 2 new warnings in the series build'),
        finishedAt: at(905),
      },
      stage('test', 2, {
        status: 'error',
        attempt: 2,
        error: 'qemu exited 1\n    at bootKernel (src/vm/qemu.ts:200)',
        startedAt: at(905),
        finishedAt: at(1499),
      }),
      stage('report', 3, {
        status: 'passed',
        attempt: 1,
        result: outcome('report', 'passed', 'FAIL: the series adds 2 compiler warnings'),
        startedAt: at(1499),
        finishedAt: at(1500),
      }),
    ],
  };
}

describe('formatElapsed', () => {
  it('is m:ss with the minutes unbounded, and never negative', () => {
    assert.equal(formatElapsed(0), '0:00');
    assert.equal(formatElapsed(4_999), '0:04');
    assert.equal(formatElapsed(59 * 60_000 + 59_000), '59:59');
    assert.equal(formatElapsed(75 * 60_000), '75:00');
    assert.equal(formatElapsed(-1_500), '0:00');
  });
});

describe('fit', () => {
  it('cuts to the width with an ellipsis, counting characters rather than bytes', () => {
    assert.equal(fit('abcdef', 6), 'abcdef');
    assert.equal(fit('abcdef', 4), 'abc…');
    assert.equal(fit('✓✓✓✓', 3), '✓✓…');
    assert.equal(fit('abc', 0), '');
  });
});

describe('renderRun', () => {
  it('shows the header, each stage with its state and clock, and what the active one is doing', () => {
    const lines = renderRun(buildingRun(), { now: at(725), width: 200 });
    assert.deepEqual(lines, [
      'run 3f9c2a71  running 12:04  net-next  v3 net: add rich packet metadata to xdp_buff',
      '  ✓ apply   0:04  applied 3 patches on 1a2b3c4d5e6f',
      '  ▸ build  12:00  vm series: 1234 build steps (a full build has 2480): CC      net/core/dev.o',
      '  · test',
      '  · report',
    ]);
  });

  it('adds done/total when the message does not already say them', () => {
    const run = buildingRun();
    run.stages[1] = { ...run.stages[1]!, progress: { message: 'booting the series kernel', done: 2, total: 8 } };
    assert.equal(renderRun(run, { now: at(65), width: 200 })[2], '  ▸ build   1:00  [2/8] booting the series kernel');
  });

  it('shows how finished stages ended: summary, else the first line of the error, and the attempt', () => {
    const lines = renderRun(finishedRun(), { now: at(5000), width: 200 });
    assert.deepEqual(lines, [
      'run 3f9c2a71  failed 24:59  net-next  v3 net: add rich packet metadata to xdp_buff',
      '  ✓ apply   0:04  applied 3 patches on 1a2b3c4d5e6f',
      '  ✗ build  15:00  vm: 2 new warnings in the series build',
      '  ! test    9:54  qemu exited 1',
      '  ✓ report  0:01  FAIL: the series adds 2 compiler warnings',
    ]);
  });

  it('shows a pending stage that waits to retry, without a clock', () => {
    const run = buildingRun();
    run.stages[1] = {
      ...run.stages[1]!,
      status: 'pending',
      attempt: 1,
      error: 'retrying after: worker lost',
      startedAt: at(5),
    };
    assert.equal(renderRun(run, { now: at(600), width: 200 })[2], '  · build         retrying after: worker lost');
  });

  it('ignores progress and results of shapes it does not know', () => {
    const run = buildingRun();
    run.stages[0] = { ...run.stages[0]!, result: { verdict: 'pass' } };
    run.stages[1] = { ...run.stages[1]!, progress: 42 };
    const lines = renderRun(run, { now: at(65), width: 200 });
    assert.equal(lines[1], '  ✓ apply   0:04');
    assert.equal(lines[2], '  ▸ build   1:00');
  });

  it('cuts every line to the width', () => {
    const lines = renderRun(buildingRun(), { now: at(725), width: 40 });
    for (const l of lines) assert.ok([...l].length <= 40, l);
    assert.equal(lines[0], 'run 3f9c2a71  running 12:04  net-next  …');
    assert.equal(lines[2], '  ▸ build  12:00  vm series: 1234 build…');
  });

  it('keeps escape sequences from build output off the terminal', () => {
    const run = buildingRun();
    run.stages[1] = { ...run.stages[1]!, progress: { message: 'vm: \x1b[01;35mwarning\x1b[0m \x1b]0;owned\x07x\r' } };
    const line = renderRun(run, { now: at(65), width: 200 })[2]!;
    assert.ok(!/[\x00-\x1f]/.test(line), JSON.stringify(line));
    assert.match(line, /vm: warning/);
  });

  it('colours only the marks, when asked', () => {
    const lines = renderRun(finishedRun(), { now: at(5000), width: 200, colors: true });
    assert.equal(lines[2], '  \x1b[31m✗\x1b[0m build  15:00  vm: 2 new warnings in the series build');
    assert.ok(!lines[0]!.includes('\x1b'));
  });
});

/**
 * A terminal screen that understands what a redraw uses (cursor up/down/
 * column 1, erase line, erase to end of line), so the tests assert on what
 * the user sees rather than on the escape sequences chosen to get there.
 */
class Screen {
  readonly lines: string[] = [''];
  row = 0;
  col = 0;
  raw = '';

  write(chunk: string): boolean {
    this.raw += chunk;
    const re = /\x1b\[([?0-9;]*)([A-Za-z])|([\s\S])/g;
    for (let m = re.exec(chunk); m; m = re.exec(chunk)) {
      const [, params, cmd, ch] = m;
      const n = Number(params) || 1;
      if (ch === '\n') {
        this.row++;
        this.col = 0;
        while (this.lines.length <= this.row) this.lines.push('');
      } else if (ch !== undefined) {
        const line = [...this.lines[this.row]!.padEnd(this.col)];
        line[this.col++] = ch;
        this.lines[this.row] = line.join('');
      } else if (cmd === 'A') this.row = Math.max(0, this.row - n);
      else if (cmd === 'B') this.row = Math.min(this.lines.length - 1, this.row + n);
      else if (cmd === 'G') this.col = 0;
      else if (cmd === 'K' && params === '2') this.lines[this.row] = '';
      else if (cmd === 'K') this.lines[this.row] = [...this.lines[this.row]!].slice(0, this.col).join('');
      // h/l (synchronized output) and m (colours) do not change the text.
    }
    return true;
  }

  /** The screen's lines, without the empty line the cursor waits on. */
  text(): string[] {
    const lines = this.lines.map((l) => l.trimEnd());
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return lines;
  }
}

function terminal(): Screen & { isTTY: boolean; columns: number; rows: number } {
  return Object.assign(new Screen(), { isTTY: true, columns: 100, rows: 40 });
}

describe('RunView', () => {
  const clock = () => at(725);

  it('draws the run, and redraws it in place on the next update', () => {
    const screen = terminal();
    const view = new RunView(screen, { now: clock, minIntervalMs: 0 });
    assert.equal(view.live, true);
    const first = buildingRun();
    view.update(first);
    assert.deepEqual(screen.text(), renderRun(first, { now: clock(), width: 99 }));

    const second = finishedRun();
    const before = screen.raw.length;
    view.update(second);
    view.stop();
    assert.deepEqual(screen.text(), renderRun(second, { now: clock(), width: 99 }));
    // The redraw went back up over the old block instead of printing a second one below it.
    assert.match(screen.raw.slice(before), /\x1b\[\d*A/);
  });

  it('prints notes above the block, where they stay', () => {
    const screen = terminal();
    const view = new RunView(screen, { now: clock, minIntervalMs: 0 });
    view.note('ksci: full log in /tmp/x.log');
    view.update(buildingRun());
    view.note('warn: ccache is cold (dir=/root/.cache/ksci/ccache)');
    view.note('error: \x1b[2Jcleared?');
    view.stop();
    assert.deepEqual(screen.text(), [
      'ksci: full log in /tmp/x.log',
      'warn: ccache is cold (dir=/root/.cache/ksci/ccache)',
      'error: cleared?',
      ...renderRun(buildingRun(), { now: clock(), width: 99 }),
    ]);
  });

  it('shows the latest state at stop, whatever the throttle held back', () => {
    const screen = terminal();
    const view = new RunView(screen, { now: clock, minIntervalMs: 60_000 });
    view.update(buildingRun());
    view.update(finishedRun());
    view.stop();
    assert.deepEqual(screen.text(), renderRun(finishedRun(), { now: clock(), width: 99 }));
    view.update(buildingRun());
    view.note('after the end');
    assert.deepEqual(screen.text(), [...renderRun(finishedRun(), { now: clock(), width: 99 }), 'after the end']);
  });

  it('draws on a terminal that reports no size, as an unsized pseudo-terminal does', () => {
    const screen = Object.assign(terminal(), { columns: 0, rows: 0 });
    const view = new RunView(screen, { now: clock, minIntervalMs: 0 });
    view.update(buildingRun());
    view.stop();
    assert.deepEqual(screen.text(), renderRun(buildingRun(), { now: clock(), width: 79 }));
  });

  it('never moves the cursor on a stream that is not a terminal', () => {
    let written = '';
    const file = {
      isTTY: false,
      write(chunk: string) {
        written += chunk;
        return true;
      },
    };
    const view = new RunView(file, { now: clock, minIntervalMs: 0 });
    assert.equal(view.live, false);
    view.update(buildingRun());
    view.update(finishedRun());
    assert.equal(written, '');
    view.note('warn: disk almost full');
    view.stop();
    assert.ok(!written.includes('\x1b'), JSON.stringify(written));
    assert.equal(
      written,
      `warn: disk almost full\n${renderRun(finishedRun(), { now: clock(), width: 79 }).join('\n')}\n`,
    );
  });
});

describe('ttyLogDestination', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ksci-progress-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes every record to the file and hands warnings and errors to the callback as one line', () => {
    const file = join(dir, 'logs', 'run.log');
    const human: string[] = [];
    const log = createLogger('ksci', 'debug', ttyLogDestination({ file, onWarn: (l) => human.push(l) }));
    log.debug({ stage: 'build' }, 'make started');
    log.info({ runId: 'r1' }, 'series loaded');
    log.warn({ runId: 'r1', stage: 'test', reason: 'no kvm here' }, 'falling back to TCG');
    log.error({ err: new Error('connection refused') }, 'could not record run state');
    log.child({ stage: 'build' }).fatal('out of disk');

    assert.deepEqual(human, [
      'warn: falling back to TCG (runId=r1 stage=test reason="no kvm here")',
      'error: could not record run state (err="connection refused")',
      'fatal: out of disk (stage=build)',
    ]);
    const records = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; level: number; name: string });
    assert.deepEqual(
      records.map((r) => r.msg),
      ['make started', 'series loaded', 'falling back to TCG', 'could not record run state', 'out of disk'],
    );
    assert.ok(records.every((r) => r.name === 'ksci'));
  });

  it('appends to a log file that exists', () => {
    const file = join(dir, 'again.log');
    createLogger('ksci', 'info', ttyLogDestination({ file, onWarn: () => {} })).info('one');
    createLogger('ksci', 'info', ttyLogDestination({ file, onWarn: () => {} })).info('two');
    assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 2);
  });
});

describe('humanLogLine', () => {
  it('keeps a line that is not a JSON record as it is, minus control characters', () => {
    assert.equal(humanLogLine('not json\n'), 'not json');
    assert.equal(humanLogLine('{"level":40,"msg":"a\\nb","n":3,"ok":false}'), 'warn: a b (n=3 ok=false)');
  });
});
