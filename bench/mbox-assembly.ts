/**
 * Mbox parsing + series assembly throughput on a generated lore-like
 * archive (bench/mbox-gen.ts: default 20,000 messages of patch series
 * threads, several revisions each, review replies), against Debian's b4 on
 * the same file in the same run. One known series (5 patches, v3, one
 * Reviewed-by on patch 2 and one Acked-by on the cover letter) is picked
 * out by its cover letter's Message-ID.
 *
 * What is compared (same job, same input):
 *   ksci  parseMbox(<mbox>, {messageId}), what `ksci run` does with a Message-ID:
 *         read + split + read only the threading headers of every message
 *         (src/mail/thread.ts) + MIME-parse the thread of the Message-ID +
 *         assembleSeries of the series that Message-ID is in
 *   b4    `b4 --offline-mode am -C -t -m <mbox> -o <dir> <msgid>`, which reads
 *         and parses every message of the mbox, takes the strict thread of
 *         the msgid, assembles and writes an .mbx (-t: cover letter trailers
 *         go to every patch, as ksci does). Its wall time includes Python
 *         start-up, printed separately as `b4 --version`.
 * Also printed, not compared: parseMbox over the whole archive, which
 * parses every message and then refuses the archive, because it mixes
 * several series (what `ksci run` does when handed one): this prints the
 * cost of parsing the whole archive and the refusal.
 *
 * Runs interleave (ksci, b4, ksci, b4, ...) so drift hits both; medians of 3.
 * The series b4 wrote is read back with ksci's parseMbox and compared with
 * ksci's (titles in order, trailers per patch) and with what the generator
 * put in.
 *   node dist/bench/mbox-assembly.js [messages=20000]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { splitMbox } from '../src/mail/mbox.js';
import { selectThread } from '../src/mail/thread.js';
import { parseMbox } from '../src/series/load.js';
import type { Series } from '../src/series/types.js';
import { generateArchive } from './mbox-gen.js';

const N = Number(process.argv[2] ?? 20000);
const RUNS = 3;
const limits = { maxMboxBytes: 1 << 30, maxMessageBytes: 10 << 20, maxPatches: 500 };
async function ksciThread(path: string, msgid: string): Promise<Series> {
  return parseMbox(readFileSync(path), { ...limits, messageId: msgid });
}

async function ksciWhole(path: string): Promise<string> {
  try {
    const s = await parseMbox(readFileSync(path), limits);
    return `assembled v${s.version}, ${s.patches.length} patches`;
  } catch (err) {
    return `refused: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/**
 * An environment where b4 and git see no user or system configuration and
 * b4 keeps no cache. b4 am needs an identity (user.name/user.email) even
 * when it adds no Signed-off-by, so one is given through git's environment.
 */
function isolatedEnv(home: string): NodeJS.ProcessEnv {
  mkdirSync(home, { recursive: true });
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_CACHE_HOME: join(home, '.cache'),
    XDG_DATA_HOME: join(home, '.local/share'),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_COUNT: '2',
    GIT_CONFIG_KEY_0: 'user.name',
    GIT_CONFIG_VALUE_0: 'ksci bench',
    GIT_CONFIG_KEY_1: 'user.email',
    GIT_CONFIG_VALUE_1: 'bench@ksci.invalid',
    LANG: 'C.UTF-8',
  };
}

function b4(args: string[], cwd: string, home: string): { ms: number; stdout: string; stderr: string } {
  const t0 = performance.now();
  const res = spawnSync('b4', args, { cwd, env: isolatedEnv(home), encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = performance.now() - t0;
  if (res.error || res.status !== 0) {
    console.error(
      `b4 ${args.join(' ')} failed (${res.error ? res.error.message : `exit ${res.status}`}):\n${res.stderr}${res.stdout}`,
    );
    process.exit(1);
  }
  return { ms, stdout: res.stdout, stderr: res.stderr };
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

const titles = (s: Series) => s.patches.map((p) => p.subject.title);
const trailers = (s: Series) => s.patches.map((p) => p.trailers.map((t) => `${t.key}: ${t.value}`).sort());
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

const dir = mkdtempSync(join(tmpdir(), 'mbox-assembly-bench-'));
try {
  const archive = generateArchive(N);
  const { target } = archive;
  const mboxPath = join(dir, 'archive.mbox');
  writeFileSync(mboxPath, archive.mbox);
  const b4Version = b4(['--version'], dir, join(dir, 'home-version')).stdout.trim();

  const loadBefore = loadavg()[0]!;
  const times = { thread: [] as number[], whole: [] as number[], b4: [] as number[], b4Start: [] as number[] };
  let ours: Series | null = null;
  let threadSize = 0;
  let wholeResult = '';
  let theirs: Series | null = null;
  for (let r = 0; r < RUNS; r++) {
    let t0 = performance.now();
    ours = await ksciThread(mboxPath, target.coverMessageId);
    times.thread.push(performance.now() - t0);

    // b4 writes into the directory but does not create it.
    const out = join(dir, `b4-out-${r}`);
    mkdirSync(out);
    times.b4.push(
      b4(
        ['--offline-mode', 'am', '-C', '-t', '-m', mboxPath, '-o', out, '-n', 'target', target.coverMessageId],
        dir,
        join(dir, `home-${r}`),
      ).ms,
    );
    const mbx = readdirSync(out).filter((f) => f.endsWith('.mbx'));
    if (mbx.length !== 1) {
      console.error(
        `b4 am wrote ${mbx.length} .mbx files in ${out} (${readdirSync(out).join(', ') || 'nothing'}), expected one`,
      );
      process.exit(1);
    }
    theirs = await parseMbox(readFileSync(join(out, mbx[0]!)), limits);
    if (theirs.patches.length !== target.titles.length) {
      console.error(`b4 am wrote ${theirs.patches.length} patches, the series has ${target.titles.length}`);
      process.exit(1);
    }

    t0 = performance.now();
    wholeResult = await ksciWhole(mboxPath);
    times.whole.push(performance.now() - t0);

    times.b4Start.push(b4(['--version'], dir, join(dir, `home-v${r}`)).ms);
  }
  if (!ours || !theirs) throw new Error('no runs');
  threadSize = selectThread(splitMbox(readFileSync(mboxPath), limits), target.coverMessageId)?.length ?? 0;

  const n = archive.messages;
  const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const rate = (ms: number) => `${Math.round(n / (ms / 1000)).toLocaleString('en')} msgs/s`;
  const kT = median(times.thread);
  const kW = median(times.whole);
  const bT = median(times.b4);
  const bS = median(times.b4Start);
  const sameTitles = same(titles(ours), titles(theirs));
  const sameTrailers = same(trailers(ours), trailers(theirs));
  const asGenerated = same(titles(ours), target.titles) && same(trailers(ours), target.trailers);

  console.log(
    `series assembly from a generated ${n.toLocaleString('en')}-message mboxrd (${(archive.mbox.length / 2 ** 20).toFixed(1)} MiB, ${archive.mbox.length.toLocaleString('en')} bytes), median of ${RUNS}, interleaved`,
  );
  console.log(
    `target: <${target.coverMessageId}> v${target.version}, ${target.titles.length} patches, thread of ${threadSize} messages; b4 ${b4Version}, ${process.version}`,
  );
  console.log(`  compared:`);
  console.log(`  ksci  parseMbox with the Message-ID           ${sec(kT).padStart(8)}  ${rate(kT).padStart(16)}`);
  console.log(
    `  b4    am -m <mbox> <msgid> (wall, spawned)     ${sec(bT).padStart(8)}  ${rate(bT).padStart(16)}   (of which start-up, b4 --version: ${sec(bS)})`,
  );
  console.log(`  ratio ksci/b4 speed (b4 time / ksci time)      ${(bT / kT).toFixed(2)}x`);
  console.log(`  not compared:`);
  console.log(
    `  ksci  parseMbox over the whole archive         ${sec(kW).padStart(8)}  ${rate(kW).padStart(16)}   (${wholeResult})`,
  );
  console.log(
    `  fastest run: ksci ${sec(Math.min(...times.thread))}, b4 ${sec(Math.min(...times.b4))}; load average ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after, ${availableParallelism()} CPUs`,
  );
  console.log(
    `  runs (ms)  ksci ${times.thread.map((t) => t.toFixed(0)).join(' ')} | b4 ${times.b4.map((t) => t.toFixed(0)).join(' ')} | whole ${times.whole.map((t) => t.toFixed(0)).join(' ')}`,
  );
  console.log(
    `  same patches: ${sameTitles && sameTrailers ? 'yes' : 'no'} (titles in order: ${sameTitles ? 'same' : 'differ'}, trailers per patch: ${sameTrailers ? 'same' : 'differ'}; ksci as generated: ${asGenerated ? 'yes' : 'no'})`,
  );
  if (!sameTitles || !sameTrailers || !asGenerated) {
    console.log(`    ksci:      ${JSON.stringify(titles(ours))}\n               ${JSON.stringify(trailers(ours))}`);
    console.log(`    b4:        ${JSON.stringify(titles(theirs))}\n               ${JSON.stringify(trailers(theirs))}`);
    console.log(`    generated: ${JSON.stringify(target.titles)}\n               ${JSON.stringify(target.trailers)}`);
    process.exitCode = 1;
  }
} finally {
  if (process.env['KSCI_BENCH_KEEP']) console.error(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
