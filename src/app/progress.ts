import { createLogUpdate } from 'log-update';
import { type DestinationStream, pino } from 'pino';
import { z } from 'zod';
import { StageOutcomeSchema } from '../pipeline/payload.js';
import type { StageProgress } from '../pipeline/stage.js';
import type { RunRecord, StageStatus } from '../store/results.js';

/*
 * The human view of `ksci run` on a terminal: what each stage of a run is
 * doing, redrawn in place, with warnings above it; the JSON log goes to a
 * file instead of scrolling past.
 */

// The worker stores what a stage reports (StageProgress) as the job's progress; BullMQ's own default is a number.
const ProgressSchema: z.ZodType<StageProgress> = z.object({
  message: z.string(),
  done: z.number().optional(),
  total: z.number().optional(),
});

// The coordinator stores the stage's StageOutcome as its result; only its one-liner is shown.
const OutcomeSummarySchema = StageOutcomeSchema.pick({ summary: true });

const MARKS: Record<StageStatus, string> = {
  pending: '·',
  active: '▸',
  passed: '✓',
  failed: '✗',
  skipped: '-',
  error: '!',
  cancelled: '×',
};

// SGR colours of the marks, so that a failure stands out in a column of ticks.
const MARK_COLOURS: Record<StageStatus, string> = {
  pending: '2',
  active: '36',
  passed: '32',
  failed: '31',
  skipped: '2',
  error: '1;31',
  cancelled: '33',
};

export interface RenderOptions {
  now: Date;
  /** Terminal columns: every line is cut to fit, since a wrapped line would break the redraw's line count. */
  width: number;
  colors?: boolean;
}

/** m:ss, minutes unbounded: a kernel build's 75 minutes reads better as 75:00 than as 1:15:00 beside 0:04. */
export function formatElapsed(ms: number): string {
  // Start times come from the worker's clock and "now" from ours: a small skew must not print "-0:01".
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * Text from build output and error messages, made safe for a terminal: a
 * patch controls what its Makefile prints, and escape sequences in it must
 * not move our cursor or retitle the user's window.
 */
export function printable(text: string): string {
  return text
    .replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, '')
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ')
    .trim();
}

function firstLine(text: string): string {
  return printable(text.split('\n').find((l) => l.trim() !== '') ?? '');
}

/** Cut to `width` columns (code points: good enough for kernel output, which is ASCII). */
export function fit(line: string, width: number): string {
  const chars = [...line];
  if (chars.length <= width) return line;
  return width < 1 ? '' : `${chars.slice(0, width - 1).join('')}…`;
}

/** Until now while running; a finished thing's clock stops, and one that has not started has none. */
function elapsed(from: Date | null, to: Date | null, running: boolean, now: Date): string {
  const end = running ? now : to;
  return from && end ? formatElapsed(end.getTime() - from.getTime()) : '';
}

function progressText(progress: unknown): string {
  const p = ProgressSchema.safeParse(progress);
  if (!p.success) return '';
  const message = firstLine(p.data.message);
  const { done, total } = p.data;
  // kbuild's and the selftests' messages already spell out their counts; repeating them would only push the file name off the line.
  if (done === undefined || message.includes(String(done))) return message;
  return `[${total === undefined ? done : `${done}/${total}`}] ${message}`;
}

function summaryText(result: unknown): string | null {
  const r = OutcomeSummarySchema.safeParse(result);
  return r.success ? firstLine(r.data.summary) : null;
}

function stageDetail(stage: RunRecord['stages'][number]): string {
  const retry = stage.attempt > 1 ? `attempt ${stage.attempt}: ` : '';
  switch (stage.status) {
    case 'active':
      return retry + progressText(stage.progress);
    case 'pending':
      // A pending stage with an error is waiting to retry after a failed attempt.
      return stage.error ? firstLine(stage.error) : '';
    case 'passed':
    case 'failed':
    case 'skipped':
      return summaryText(stage.result) ?? (stage.error ? firstLine(stage.error) : '');
    case 'error':
    case 'cancelled':
      return stage.error ? firstLine(stage.error) : (summaryText(stage.result) ?? '');
  }
}

/**
 * A run as lines for a terminal: a header naming the run, then one line
 * per stage with its state, how long it took (or has been running), and
 * what it is doing or how it ended.
 */
export function renderRun(run: RunRecord, { now, width, colors = false }: RenderOptions): string[] {
  const unfinished = run.status === 'queued' || run.status === 'running';
  const runElapsed = elapsed(run.startedAt ?? run.createdAt, run.finishedAt, unfinished, now);
  const header = fit(
    printable(
      `run ${run.id.slice(0, 8)}  ${run.status} ${runElapsed}  ${run.tree}  v${run.seriesVersion} ${run.seriesTitle}`,
    ),
    width,
  );
  const nameWidth = Math.max(0, ...run.stages.map((s) => s.name.length));
  const lines = run.stages.map((stage) => {
    const mark = MARKS[stage.status];
    // A pending stage's start time is that of an attempt that failed: no clock until it runs again.
    const time =
      stage.status === 'pending' ? '' : elapsed(stage.startedAt, stage.finishedAt, stage.status === 'active', now);
    const line = fit(
      `  ${mark} ${stage.name.padEnd(nameWidth)} ${time.padStart(5)}  ${stageDetail(stage)}`.trimEnd(),
      width,
    );
    const prefix = `  ${mark}`;
    if (!colors || !line.startsWith(prefix)) return line;
    return `  \x1b[${MARK_COLOURS[stage.status]}m${mark}\x1b[0m${line.slice(prefix.length)}`;
  });
  return [header, ...lines];
}

/** What the view needs of a stream; process.stderr is one. */
export interface TerminalStream {
  write(chunk: string): boolean;
  isTTY?: boolean;
  columns?: number;
  rows?: number;
  hasColors?(): boolean;
}

export interface RunViewOptions {
  /** The clock the elapsed times are read against. */
  now?: () => Date;
  /** Fewest milliseconds between two redraws: progress arrives in bursts, and a terminal redrawn 50 times a second flickers. */
  minIntervalMs?: number;
  /** How often the elapsed times are redrawn when nothing else changes (a VM booting reports nothing for a while). */
  tickMs?: number;
}

function terminalSize(stream: TerminalStream): { columns: number; rows: number } {
  return { columns: Math.max(20, stream.columns || 80), rows: stream.rows || 24 };
}

/**
 * Draws a run on a terminal and keeps it current. On a stream that is not
 * a terminal it never redraws (cursor movements would garble a file):
 * notes are written as plain lines and the final state once, at stop().
 */
export class RunView {
  private readonly tty: boolean;
  private readonly colors: boolean;
  private readonly now: () => Date;
  private readonly minIntervalMs: number;
  private readonly tickMs: number;
  private readonly draw: ReturnType<typeof createLogUpdate> | null;
  private run: RunRecord | null = null;
  private lastDrawAt = Number.NEGATIVE_INFINITY;
  private pending: NodeJS.Timeout | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly stream: TerminalStream,
    opts: RunViewOptions = {},
  ) {
    this.tty = stream.isTTY === true;
    this.colors = this.tty && (stream.hasColors?.() ?? false);
    this.now = opts.now ?? (() => new Date());
    this.minIntervalMs = opts.minIntervalMs ?? 200;
    this.tickMs = opts.tickMs ?? 1000;
    // log-update reads only write, isTTY, columns and rows, and draws nothing on a terminal of 0 rows:
    // a pseudo-terminal nobody sized (script(1), some containers) reports 0x0.
    const sized = {
      isTTY: true,
      get columns() {
        return terminalSize(stream).columns;
      },
      get rows() {
        return terminalSize(stream).rows;
      },
      write: (chunk: string) => stream.write(chunk),
    };
    // showCursor: hiding it would be done on process.stderr whatever the stream, and a crash would leave it hidden.
    this.draw = this.tty ? createLogUpdate(sized as unknown as NodeJS.WritableStream, { showCursor: true }) : null;
  }

  /** Whether the view redraws in place (the stream is a terminal). */
  get live(): boolean {
    return this.tty;
  }

  update(run: RunRecord): void {
    if (this.stopped) return;
    this.run = run;
    if (!this.draw) return;
    this.ticker ??= setInterval(() => this.redraw(), this.tickMs).unref();
    const wait = this.lastDrawAt + this.minIntervalMs - performance.now();
    if (wait <= 0) this.redraw();
    else
      this.pending ??= setTimeout(() => {
        this.pending = null;
        this.redraw();
      }, wait).unref();
  }

  /** A line printed above the block, where it stays. */
  note(line: string): void {
    const text = printable(line);
    if (!this.draw || this.stopped) {
      this.stream.write(`${text}\n`);
      return;
    }
    this.draw.persist(text);
    this.redraw();
  }

  /** Draws the latest state one last time and leaves it on the screen; later updates are ignored. */
  stop(): void {
    if (this.stopped) return;
    if (this.pending) clearTimeout(this.pending);
    if (this.ticker) clearInterval(this.ticker);
    this.pending = this.ticker = null;
    if (this.draw) {
      this.redraw();
      this.draw.done();
    } else if (this.run) {
      this.stream.write(`${this.frame(false).join('\n')}\n`);
    }
    this.stopped = true;
  }

  private frame(colors: boolean): string[] {
    if (!this.run) return [];
    // One column spare: a line filling the last column makes some terminals wrap early.
    const width = terminalSize(this.stream).columns - 1;
    return renderRun(this.run, { now: this.now(), width, colors });
  }

  private redraw(): void {
    if (!this.draw || !this.run) return;
    this.lastDrawAt = performance.now();
    this.draw(this.frame(this.colors).join('\n'));
  }
}

const LABELS: Record<number, string> = pino.levels.labels;

// Fields every record has; the human line shows only what the call site added.
const ENVELOPE = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg']);

function fieldValue(v: unknown): string {
  if (typeof v === 'string') return /\s/.test(v) || v === '' ? JSON.stringify(v) : v;
  if (v && typeof v === 'object' && 'message' in v && typeof v.message === 'string') return JSON.stringify(v.message);
  return JSON.stringify(v) ?? String(v);
}

/** A pino JSON line as one line for a human: "warn: <msg> (key=value ...)". */
export function humanLogLine(json: string): string {
  let record: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(json);
    if (!parsed || typeof parsed !== 'object') return printable(json);
    record = parsed as Record<string, unknown>;
  } catch {
    return printable(json);
  }
  const level = typeof record['level'] === 'number' ? (LABELS[record['level']] ?? `level ${record['level']}`) : 'log';
  const fields = Object.entries(record)
    .filter(([k]) => !ENVELOPE.has(k))
    .map(([k, v]) => `${k}=${fieldValue(v)}`);
  const msg = typeof record['msg'] === 'string' ? record['msg'] : '';
  return printable(`${level}: ${msg}${fields.length ? ` (${fields.join(' ')})` : ''}`);
}

export interface TtyLogOptions {
  /** Where every record goes, as JSON lines; its directory is created. */
  file: string;
  /** Called with each record of level warn and above, as one human line. */
  onWarn(line: string): void;
}

/**
 * The log destination when a human watches: the whole JSON log in a file,
 * so nothing is lost, and the warnings and errors also handed to the view.
 */
export function ttyLogDestination({ file, onWarn }: TtyLogOptions): DestinationStream {
  // Synchronous: `ksci run` exits with process.exit on ^C, and buffered lines would be lost.
  const fileStream = pino.destination({ dest: file, mkdir: true, sync: true });
  const warnings: DestinationStream = { write: (line) => onWarn(humanLogLine(line)) };
  return pino.multistream([
    { stream: fileStream, level: 'trace' },
    { stream: warnings, level: 'warn' },
  ]);
}
