/**
 * The channel between ksci's guest init (selftests/guest/init) and the host:
 * ttyS1 carries marker lines prefixed `KSCI-<nonce>` and, between a test's
 * START and END markers, that test's own output. The nonce is new for every
 * boot, so neither a test's output nor a previous boot's can pass for a
 * marker. Pure: the runner feeds it what it read so far.
 */

export interface ChannelTest {
  name: string;
  /** Guest uptime (s) at start and end; end is null while (or if it died) running. */
  startedAt: number;
  endedAt: number | null;
  exitCode: number | null;
  /** The guest's own watchdog killed it. */
  timedOut: boolean;
  output: string[];
  /** Files the test left in $KSCI_RESULTS (test_progs -J output...), decoded. */
  files: Record<string, Buffer>;
}

export interface ChannelState {
  /** The init started: `BEGIN` seen. */
  begun: boolean;
  /** Guest uptime at BEGIN: how long the kernel took to reach userspace. */
  bootSeconds: number | null;
  kernelRelease: string | null;
  tests: ChannelTest[];
  /** The test running now (or when the guest died). */
  current: ChannelTest | null;
  /** All tests ran and the init said so. */
  ended: boolean;
  /** Lines the channel carried that fit nowhere (before BEGIN, between tests). */
  stray: string[];
  /** Lines that looked like markers of this boot but did not parse. */
  malformed: string[];
}

/** Output kept per test: test_progs can print megabytes; the JSON file carries the details. */
export const MAX_OUTPUT_LINES = 5000;

function emptyChannel(): ChannelState {
  return {
    begun: false,
    bootSeconds: null,
    kernelRelease: null,
    tests: [],
    current: null,
    ended: false,
    stray: [],
    malformed: [],
  };
}

/**
 * Reads channel lines into the state. Call it with every complete line in
 * order; it keeps the state of a file transfer in progress between calls.
 */
export class ChannelReader {
  readonly state: ChannelState = emptyChannel();
  private readonly prefix: string;
  private file: { test: ChannelTest; name: string; size: number; chunks: string[] } | null = null;

  constructor(nonce: string) {
    this.prefix = `KSCI-${nonce} `;
  }

  /** Feeds raw channel text; returns what is left of an unfinished last line. */
  feed(text: string): string {
    const lines = text.split('\n');
    const rest = lines.pop() ?? '';
    for (const l of lines) this.line(l.replace(/\r$/, ''));
    return rest;
  }

  line(line: string): void {
    const s = this.state;
    if (!line.startsWith(this.prefix)) {
      if (this.file) this.file.chunks.push(line.trim());
      else if (s.current) {
        if (s.current.output.length < MAX_OUTPUT_LINES) s.current.output.push(line);
      } else s.stray.push(line);
      return;
    }
    const [verb = '', ...args] = line.slice(this.prefix.length).trim().split(/\s+/);
    const kv = Object.fromEntries(
      args.filter((a) => a.includes('=')).map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]),
    );
    switch (verb) {
      case 'BEGIN':
        s.begun = true;
        s.bootSeconds = num(kv['uptime']);
        s.kernelRelease = kv['kernel'] ?? null;
        return;
      case 'TEST-START': {
        const name = args[0];
        if (!name) {
          this.bad(line);
          return;
        }
        const t: ChannelTest = {
          name,
          startedAt: num(kv['uptime']) ?? 0,
          endedAt: null,
          exitCode: null,
          timedOut: false,
          output: [],
          files: {},
        };
        s.tests.push(t);
        s.current = t;
        return;
      }
      case 'TEST-END': {
        const t = s.current;
        if (!t || t.name !== args[0]) {
          this.bad(line);
          return;
        }
        t.exitCode = num(kv['rc']);
        t.timedOut = kv['timeout'] === '1';
        t.endedAt = num(kv['uptime']);
        s.current = null;
        return;
      }
      case 'FILE': {
        const [test, name, size] = args;
        const t = s.current;
        if (!t || t.name !== test || !name || num(size) === null) {
          this.bad(line);
          return;
        }
        this.file = { test: t, name, size: num(size)!, chunks: [] };
        return;
      }
      case 'FILE-END': {
        const f = this.file;
        if (!f) {
          this.bad(line);
          return;
        }
        this.file = null;
        const data = Buffer.from(f.chunks.join(''), 'base64');
        // A guest that died mid-transfer leaves no FILE-END; one whose size disagrees lost bytes on the wire.
        if (data.length !== f.size)
          s.malformed.push(`${f.test.name}/${f.name}: ${data.length} bytes arrived, ${f.size} announced`);
        else f.test.files[f.name] = data;
        return;
      }
      case 'END':
        s.ended = true;
        return;
      default:
        this.bad(line);
    }
  }

  private bad(line: string): void {
    this.state.malformed.push(line);
  }
}

function num(v: string | undefined): number | null {
  if (v === undefined || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** Parses a whole channel capture. */
export function readChannel(text: string, nonce: string): ChannelState {
  const r = new ChannelReader(nonce);
  const rest = r.feed(text);
  if (rest) r.line(rest);
  return r.state;
}
