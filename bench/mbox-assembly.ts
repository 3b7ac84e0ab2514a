/**
 * Series assembly, `ksci series` against Debian's b4 (`b4 am`), process
 * against process, on the same inputs in the same run:
 *
 *   archive  a generated lore-like archive (bench/mbox-gen.ts: default
 *            20,000 messages) and the Message-ID of one series in it
 *            (v3, 5 patches, its v1 and v2 threads elsewhere in the file):
 *              ksci series -m <msgid> --json <mbox>
 *              b4 --offline-mode am -C -t -m <mbox> <msgid>
 *   thread   the 200-message thread of a much-discussed series (7 patches,
 *            replies to replies), saved as its own mbox:
 *              ksci series --json <thread.mbox>
 *              b4 --offline-mode am -C -t -m <thread.mbox> <msgid>
 *   inbox    the same thread served by a local public-inbox (only when
 *            public-inbox is installed), fetched by its Message-ID:
 *              ksci series --json <list URL>/<msgid>/
 *              b4 am -C -t <msgid>   (b4.midmask pointing at that list)
 *
 * Each wall time is a whole process, start-up included, as a user runs
 * it; peak RSS comes from GNU time (`apt-get install time`). Runs
 * interleave (ksci, b4, ksci, b4, ...) so drift hits both; medians of 3.
 * What b4 wrote is read back and compared with ksci's JSON: titles in
 * order and trailers per patch, and both with what the generator put in.
 * Any disagreement is printed and the benchmark exits 1.
 *   node dist/bench/mbox-assembly.js [messages=20000]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MboxScanner } from '../src/mail/mbox.js';
import { threadIds, threadMembers } from '../src/mail/thread.js';
import { parseMbox } from '../src/series/load.js';
import { publicInboxAvailable, startPublicInbox } from '../src/testing/public-inbox.js';
import { repoRoot } from '../src/testing/paths.js';
import { BUSY_THREAD, generateArchive, type TargetSeries } from './mbox-gen.js';

const N = Number(process.argv[2] ?? 20000);
const RUNS = 3;
const GNU_TIME = '/usr/bin/time';
const limits = { maxMboxBytes: 1 << 30, maxMessageBytes: 10 << 20, maxPatches: 500 };

interface Timed {
  ms: number;
  /** Peak resident set, KiB; null without GNU time. */
  rssKiB: number | null;
  stdout: string;
}

/** One process, timed as a whole; its peak RSS from GNU time when that is installed. */
function timed(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Timed {
  const withTime = existsSync(GNU_TIME);
  const rssFile = join(opts.cwd, 'rss');
  const [bin, argv] = withTime ? [GNU_TIME, ['-f', '%M', '-o', rssFile, cmd, ...args]] : [cmd, args];
  const t0 = performance.now();
  const res = spawnSync(bin, argv, { ...opts, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = performance.now() - t0;
  if (res.error || res.status !== 0) {
    console.error(
      `${cmd} ${args.join(' ')} failed (${res.error ? res.error.message : `exit ${res.status}`}):\n${res.stderr}${res.stdout}`,
    );
    process.exit(1);
  }
  const rssKiB = withTime ? Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1)) : null;
  return { ms, rssKiB, stdout: res.stdout };
}

/**
 * An environment where b4 and git see no user or system configuration and
 * b4 keeps no cache. b4 am needs an identity (user.name/user.email) even
 * when it adds no Signed-off-by; `git` settings (b4.midmask) come the same way.
 */
function isolatedEnv(home: string, git: Record<string, string> = {}): NodeJS.ProcessEnv {
  mkdirSync(home, { recursive: true });
  const config = { 'user.name': 'ksci bench', 'user.email': 'bench@ksci.invalid', ...git };
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_CACHE_HOME: join(home, '.cache'),
    XDG_DATA_HOME: join(home, '.local/share'),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_COUNT: String(Object.keys(config).length),
    ...Object.fromEntries(
      Object.entries(config).flatMap(([k, v], i) => [
        [`GIT_CONFIG_KEY_${i}`, k],
        [`GIT_CONFIG_VALUE_${i}`, v],
      ]),
    ),
    LANG: 'C.UTF-8',
  };
}

interface Assembled {
  titles: string[];
  trailers: string[][];
}

interface Input {
  name: string;
  what: string;
  target: TargetSeries;
  ksci: string[];
  b4: string[];
  b4Git?: Record<string, string>;
}

interface KsciJson {
  patches: { title: string; trailers: { key: string; value: string }[] }[];
}

const ksciBin = join(repoRoot, 'bin/ksci');

function runKsci(input: Input, dir: string, r: number): Timed & { got: Assembled } {
  const home = join(dir, `ksci-${input.name}-${r}`);
  mkdirSync(home, { recursive: true });
  const config = join(home, 'ksci.yaml');
  writeFileSync(config, input.name === 'inbox' ? lorePlaceholder : '{}\n');
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', KSCI_LOG_LEVEL: 'warn' };
  const run = timed(process.execPath, [ksciBin, '--config', config, '--data-dir', home, 'series', ...input.ksci], {
    cwd: home,
    env,
  });
  const json = JSON.parse(run.stdout) as KsciJson;
  return {
    ...run,
    got: {
      titles: json.patches.map((p) => p.title),
      trailers: json.patches.map((p) => p.trailers.map((t) => `${t.key}: ${t.value}`).sort()),
    },
  };
}

async function runB4(input: Input, dir: string, r: number): Promise<Timed & { got: Assembled }> {
  const home = join(dir, `b4-${input.name}-${r}`);
  // b4 writes into the directory but does not create it.
  const out = join(home, 'out');
  mkdirSync(out, { recursive: true });
  const run = timed('b4', [...input.b4.slice(0, -1), '-o', out, '-n', 'series', input.b4.at(-1)!], {
    cwd: home,
    env: isolatedEnv(home, input.b4Git),
  });
  const mbx = readdirSync(out).filter((f) => f.endsWith('.mbx'));
  if (mbx.length !== 1) {
    console.error(`b4 am wrote ${mbx.length} .mbx files in ${out}, expected one`);
    process.exit(1);
  }
  const s = await parseMbox(readFileSync(join(out, mbx[0]!)), limits);
  return {
    ...run,
    got: {
      titles: s.patches.map((p) => p.subject.title),
      trailers: s.patches.map((p) => p.trailers.map((t) => `${t.key}: ${t.value}`).sort()),
    },
  };
}

/** The inbox input's lore config; the URL is filled in once public-inbox is up. */
let lorePlaceholder = '{}\n';

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The thread of a Message-ID, cut out of the archive as its own mboxrd (what `b4 mbox` would save). */
function cutThread(mbox: Buffer, messageId: string): Buffer {
  const scanner = new MboxScanner();
  const spans = [...scanner.push(mbox), ...scanner.end(mbox.length)];
  const members = threadMembers(
    spans.map((s) => threadIds(s.head)),
    messageId,
  )!;
  return Buffer.concat(
    members.map((i) =>
      Buffer.concat([
        Buffer.from('From mboxrd@z Thu Jan  1 00:00:00 1970\n'),
        mbox.subarray(spans[i]!.start, spans[i]!.end),
        Buffer.from('\n'),
      ]),
    ),
  );
}

const dir = mkdtempSync(join(tmpdir(), 'mbox-assembly-bench-'));
let inbox: Awaited<ReturnType<typeof startPublicInbox>> | null = null;
try {
  const archive = generateArchive(N);
  const archivePath = join(dir, 'archive.mbox');
  writeFileSync(archivePath, archive.mbox);
  const thread = cutThread(archive.mbox, archive.busy.coverMessageId);
  const threadPath = join(dir, 'thread.mbox');
  writeFileSync(threadPath, thread);
  const threadCount = (thread.toString('latin1').match(/^From mboxrd@z /gm) ?? []).length;
  if (threadCount !== BUSY_THREAD) throw new Error(`the busy thread has ${threadCount} messages, not ${BUSY_THREAD}`);

  const inputs: Input[] = [
    {
      name: 'archive',
      what: `${archive.messages.toLocaleString('en')}-message archive (${(archive.mbox.length / 2 ** 20).toFixed(1)} MiB), one series by Message-ID`,
      target: archive.target,
      ksci: ['--json', '-m', archive.target.coverMessageId, archivePath],
      b4: ['--offline-mode', 'am', '-C', '-t', '-m', archivePath, archive.target.coverMessageId],
    },
    {
      name: 'thread',
      what: `${BUSY_THREAD}-message thread as an mbox (${(thread.length / 2 ** 20).toFixed(1)} MiB)`,
      target: archive.busy,
      ksci: ['--json', threadPath],
      b4: ['--offline-mode', 'am', '-C', '-t', '-m', threadPath, archive.busy.coverMessageId],
    },
  ];
  if (publicInboxAvailable()) {
    inbox = await startPublicInbox({
      dir: join(dir, 'pi'),
      lists: [{ name: 'netdev', address: 'netdev@vger.kernel.org' }],
    });
    await inbox.deliverMbox('netdev', thread);
    const listUrl = inbox.listUrl('netdev');
    lorePlaceholder = `lore:\n  lookupUrl: null\n  lists:\n    - { name: netdev, url: "${listUrl}", address: netdev@vger.kernel.org, poll: false }\n`;
    inputs.push({
      name: 'inbox',
      what: `the same thread from a local public-inbox, by Message-ID`,
      target: archive.busy,
      ksci: ['--json', `${listUrl}${archive.busy.coverMessageId}/`],
      b4: ['am', '--no-cache', '-C', '-t', archive.busy.coverMessageId],
      b4Git: { 'b4.midmask': `${listUrl}%s`, 'b4.attestation-policy': 'off' },
    });
  } else console.log('(public-inbox is not installed: the inbox input is left out; apt-get install public-inbox)');

  const b4Version = timed('b4', ['--version'], { cwd: dir, env: isolatedEnv(join(dir, 'home-version')) }).stdout.trim();
  console.log(
    `series assembly, ksci series vs b4 ${b4Version} (${process.version}), whole processes, median of ${RUNS}, interleaved`,
  );
  console.log(
    `  ${'input'.padEnd(64)} ${'ksci'.padStart(8)} ${'b4'.padStart(8)} ${'b4/ksci'.padStart(8)}   peak RSS ksci / b4`,
  );
  let disagreements = 0;
  const loadBefore = loadavg()[0]!;
  for (const input of inputs) {
    const k: Timed[] = [];
    const b: Timed[] = [];
    let ours: Assembled | null = null;
    let theirs: Assembled | null = null;
    for (let r = 0; r < RUNS; r++) {
      const kr = runKsci(input, dir, r);
      const br = await runB4(input, dir, r);
      k.push(kr);
      b.push(br);
      ours = kr.got;
      theirs = br.got;
    }
    const kT = median(k.map((x) => x.ms));
    const bT = median(b.map((x) => x.ms));
    const rss = (xs: Timed[]) =>
      xs[0]!.rssKiB === null ? 'n/a' : `${(Math.max(...xs.map((x) => x.rssKiB!)) / 1024).toFixed(0)} MiB`;
    console.log(
      `  ${input.what.padEnd(64)} ${`${(kT / 1000).toFixed(2)} s`.padStart(8)} ${`${(bT / 1000).toFixed(2)} s`.padStart(8)} ${`${(bT / kT).toFixed(2)}x`.padStart(8)}   ${rss(k)} / ${rss(b)}`,
    );
    console.log(
      `    runs (ms) ksci ${k.map((x) => x.ms.toFixed(0)).join(' ')} | b4 ${b.map((x) => x.ms.toFixed(0)).join(' ')}`,
    );
    const expected = { titles: input.target.titles, trailers: input.target.trailers };
    const agree = same(ours, theirs) && same(ours, expected);
    const trailerCount = (a: Assembled) => a.trailers.flat().length;
    console.log(
      `    ${input.target.titles.length} patches, ${trailerCount(expected)} trailers expected; ksci ${trailerCount(ours!)}, b4 ${trailerCount(theirs!)}: ${agree ? 'same patches and trailers' : 'DISAGREE'}`,
    );
    if (!agree) {
      disagreements++;
      console.log(`      ksci:      ${JSON.stringify(ours)}`);
      console.log(`      b4:        ${JSON.stringify(theirs)}`);
      console.log(`      generated: ${JSON.stringify(expected)}`);
    }
  }
  console.log(
    `  load average ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after, ${availableParallelism()} CPUs`,
  );
  if (disagreements > 0) {
    console.log(`${disagreements} input(s) where ksci, b4 and the generator disagree`);
    process.exitCode = 1;
  }
} finally {
  await inbox?.stop();
  if (process.env['KSCI_BENCH_KEEP']) console.error(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
