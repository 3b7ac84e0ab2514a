/**
 * A PerfRunner for a bare-metal host reached over SSH: copy the kernel,
 * kexec (or a configured command) into it, check that the host came back
 * with a new boot and the expected kernel, copy the scenario directory, run
 * the scenarios, bring back their result files and dmesg, then put the host
 * back on its default kernel, always (also after a failure or cancellation).
 *
 * The host must not run two jobs at once: the perf stage holds
 * withHostLock (src/perf/hostlock.ts) around a job's sessions.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  createReadStream,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { open } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BareMetalHost } from '../config/integrations.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { PerfClock } from './clock.js';
import { classifySplats, findSplats, type KnownSplat, type Splat } from '../splat/splat.js';
import type { SplatSummary } from '../vm/outcome.js';
import type {
  PerfRunOutput,
  PerfRunSpec,
  PerfRunner,
  PerfSessionFailure,
  PerfSessionRequest,
  PerfSessionResult,
} from './runner.js';
import { shJoin, shQuote } from '../shell.js';
import { runSsh, sshError, SSH_FAILED, type SshResult, type SshRunOptions, type SshTarget } from './ssh.js';

// ---------------------------------------------------------------------------
// Configuration

export interface BareMetalRunnerOptions {
  /** Copied to <workDir>/run-<id>/ on the host; the scenarios run in it. */
  scenarioDir?: string;
  /** Files on this machine put in <workDir>/run-<id>/bin/<name> (on the scenarios' PATH). */
  tools?: { host: string; name: string }[];
  known?: KnownSplat[];
  /** The tree, for known splats restricted to some trees. */
  tree?: string;
  /** Between ssh attempts while waiting for a boot (default 5 s). */
  pollIntervalMs?: number;
  log?: Logger;
}

const OUTPUT_TAIL = 40;
/** Short commands (mkdir, cat, rm): no host takes longer unless something is wrong. */
const QUICK_MS = 60_000;
/** `timeout -k`: after TERM, this long before KILL. */
const KILL_AFTER_SECONDS = 10;

class SessionFailure extends Error {
  constructor(
    readonly kind: PerfSessionFailure,
    reason: string,
    readonly excerpt: string[] = [],
  ) {
    super(reason);
  }
}

// ---------------------------------------------------------------------------
// The kernel's version string (x86 boot protocol)

/**
 * The kernel_version string of an x86 bzImage: the setup header starts at
 * 0x1f1, "HdrS" at 0x202 marks it, the protocol version is at 0x206, and
 * (protocol >= 2.00) the 16-bit kernel_version at 0x20e, if non-zero, points
 * at a NUL-terminated string at that offset + 0x200
 * (Documentation/arch/x86/boot.rst). It is
 * `UTS_RELEASE " (" LINUX_COMPILE_BY "@" LINUX_COMPILE_HOST ") " UTS_VERSION`.
 * Null when the file is not a bzImage or has no version.
 */
export function bzImageVersion(image: Buffer): string | null {
  if (image.length < 0x210) return null;
  if (image.readUInt16LE(0x1fe) !== 0xaa55) return null;
  if (image.toString('latin1', 0x202, 0x206) !== 'HdrS') return null;
  if (image.readUInt16LE(0x206) < 0x200) return null;
  const ptr = image.readUInt16LE(0x20e);
  if (ptr === 0) return null;
  const start = ptr + 0x200;
  if (start >= image.length) return null;
  const end = image.indexOf(0, start);
  if (end < 0 || end - start > 512) return null;
  const s = image.toString('latin1', start, end);
  return s.trim() === '' || !/^[\x20-\x7e]+$/.test(s) ? null : s;
}

/** The first 64 KiB of a kernel file: the setup code and its header are in the first sectors. */
export async function readKernelVersion(path: string): Promise<string | null> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return bzImageVersion(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

export interface KernelVersion {
  release: string;
  /** "user@host" that built it. */
  builder: string;
  /** UTS_VERSION: "#1 SMP PREEMPT_DYNAMIC Tue Mar  4 12:00:00 UTC 2025"; tells two builds of one release apart. */
  build: string;
}

/** Split a bzImage's kernel_version: "6.12.1 (me@box) #3 SMP ...". */
export function parseHeaderVersion(s: string): KernelVersion | null {
  const m = /^(\S+) \(([^()]*)\) (.+)$/.exec(s.trim());
  return m ? { release: m[1]!, builder: m[2]!, build: m[3]! } : null;
}

/**
 * Split /proc/version: "Linux version R (user@host) (compiler (with) parens) UTS_VERSION".
 * Old kernels have no compiler group or print it without parentheses; then build is what follows the builder.
 */
export function parseProcVersion(s: string): (KernelVersion & { rest: string }) | null {
  const m = /^Linux version (\S+) \(([^()]*)\) (.*)$/s.exec(s.trim());
  if (!m) return null;
  const rest = m[3]!;
  let build = rest;
  if (rest.startsWith('(')) {
    // Skip the balanced compiler group.
    let depth = 0;
    for (let i = 0; i < rest.length; i++) {
      if (rest[i] === '(') depth++;
      else if (rest[i] === ')' && --depth === 0) {
        build = rest.slice(i + 1).trim();
        break;
      }
    }
  }
  return { release: m[1]!, builder: m[2]!, build, rest };
}

/** Does the host's /proc/version say it runs the kernel whose header says `expected`? */
export function versionMatches(expected: string, procVersion: string): boolean {
  const want = parseHeaderVersion(expected);
  const got = parseProcVersion(procVersion);
  // A format neither parser knows: the plain prefix match.
  if (!want || !got) return procVersion.trim().startsWith(`Linux version ${expected}`);
  return (
    want.release === got.release &&
    want.builder === got.builder &&
    (got.build === want.build || got.rest.trimEnd().endsWith(` ${want.build}`))
  );
}

// ---------------------------------------------------------------------------
// Remote command lines

/** Scenario names become file names: nothing but [A-Za-z0-9._-]. */
export function safeName(s: string): string {
  const n = s.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return n === '' ? '_' : n;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The remote command line of one run (see the module comment of PerfRunner for the contract). */
export function runCommand(opts: {
  runDir: string;
  resultsDir: string;
  env: Record<string, string>;
  run: string;
  timeoutSeconds: number;
  pidFile: string;
}): string {
  const env = Object.entries(opts.env).map(([k, v]) => {
    if (!ENV_NAME.test(k))
      throw new SessionFailure('infra-error', `scenario environment variable ${JSON.stringify(k)} is not a valid name`);
    return shQuote(`${k}=${v}`);
  });
  const t = Math.max(1, Math.ceil(opts.timeoutSeconds));
  return [
    `cd ${shQuote(opts.runDir)}`,
    `&& mkdir -p ${shQuote(opts.resultsDir)}`,
    // $$ is this shell; exec keeps the pid through env and timeout, so the file names the process to signal on cancellation.
    `&& echo $$ > ${shQuote(opts.pidFile)}`,
    `&& exec env ${[...env, shQuote(`KSCI_RESULTS=${opts.resultsDir}`), `${shQuote(`PATH=${opts.runDir}/bin:`)}"$PATH"`].join(' ')}`,
    `timeout -k ${KILL_AFTER_SECONDS} ${t} sh -c ${shQuote(opts.run)} 2>&1 </dev/null`,
  ].join(' ');
}

// ---------------------------------------------------------------------------
// The runner

export class BareMetalRunner implements PerfRunner {
  readonly name: string;
  readonly clock: PerfClock = { name: 'wall' };
  private readonly target: SshTarget;
  private readonly pollMs: number;

  constructor(
    readonly host: BareMetalHost,
    private readonly opts: BareMetalRunnerOptions = {},
  ) {
    this.name = `host ${host.name}`;
    this.target = { ...host.ssh };
    this.pollMs = opts.pollIntervalMs ?? 5000;
  }

  async session(req: PerfSessionRequest): Promise<PerfSessionResult> {
    const log = req.log.child({ host: this.host.name, label: req.label, round: req.round });
    mkdirSync(req.outDir, { recursive: true });
    const logFile = join(req.outDir, 'dmesg.txt');
    writeFileSync(logFile, '');
    const result: PerfSessionResult = {
      failure: null,
      runs: [],
      kernelRelease: null,
      splats: [],
      logFile,
      where: `host ${this.host.name}`,
    };
    const runId = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    const runDir = `${this.host.workDir}/run-${runId}`;
    const signal = req.signal;
    const state = { bootChanged: false, onTestKernel: false, runDirMade: false };

    try {
      this.checkAbort(signal);
      const expected = await readKernelVersion(req.kernel).catch((e: unknown) => {
        throw new SessionFailure('infra-error', `cannot read the kernel ${req.kernel}: ${errorMessage(e)}`);
      });
      if (!expected)
        throw new SessionFailure(
          'infra-error',
          `${req.kernel} is not an x86 bzImage with a version string: cannot check what host ${this.host.name} boots`,
        );

      const remoteKernel = await this.uploadKernel(req.kernel, signal, log);
      this.checkAbort(signal);
      const before = await this.bootId(signal);
      if (before === null) throw new SessionFailure('infra-error', `cannot read the boot id of host ${this.host.name}`);

      log.info({ kernel: remoteKernel, expected }, 'booting the kernel on the host');
      state.bootChanged = true;
      await this.boot(remoteKernel, req.append, signal);
      await this.waitForNewBoot(before, signal, 'boot', log);
      state.onTestKernel = true;

      const ver = await this.ssh('cat /proc/version && uname -r', { signal, timeoutMs: QUICK_MS });
      if (ver.code !== 0)
        throw new SessionFailure(
          'infra-error',
          `cannot read /proc/version on host ${this.host.name}: ${sshError(ver)}`,
        );
      const [procVersion = '', release = ''] = ver.stdout.toString('utf8').split('\n');
      result.kernelRelease = release.trim() || null;
      if (!versionMatches(expected, procVersion)) {
        state.onTestKernel = false;
        throw new SessionFailure(
          'wrong-kernel',
          `host ${this.host.name} came back running ${JSON.stringify(procVersion.trim())}, expected ${JSON.stringify(expected)}`,
        );
      }

      await this.uploadRunDir(runDir, signal, state);
      for (const spec of req.runs) {
        this.checkAbort(signal);
        result.runs.push(await this.runOne(spec, runDir, req.outDir, signal, log));
      }
    } catch (err) {
      const f = this.asFailure(err, signal);
      result.failure = { kind: f.kind, reason: f.message, excerpt: f.excerpt };
      log.warn({ kind: f.kind, reason: f.message }, 'perf session failed');
    } finally {
      if (state.onTestKernel) {
        try {
          const dm = await this.collectDmesg(logFile, log);
          this.judgeDmesg(dm, result);
        } catch (err) {
          log.warn({ err: errorMessage(err) }, 'could not collect dmesg');
        }
      }
      await this.cleanUp(runDir, state, result, log);
    }
    return result;
  }

  // -- steps ---------------------------------------------------------------

  private async uploadKernel(kernel: string, signal: AbortSignal | undefined, log: Logger): Promise<string> {
    const sha = await sha256File(kernel);
    const dir = `${this.host.workDir}/kernels/${sha.slice(0, 16)}`;
    const path = `${dir}/bzImage`;
    // A/B rounds boot the same kernels again: skip the copy when the host has it.
    const have = await this.ssh(`sha256sum ${shQuote(path)} 2>/dev/null`, { signal, timeoutMs: QUICK_MS });
    if (have.code === SSH_FAILED)
      throw new SessionFailure('infra-error', `cannot reach host ${this.host.name} over ssh: ${sshError(have)}`);
    if (have.code === 0 && have.stdout.toString('utf8').split(/\s/)[0] === sha) return path;
    log.info({ kernel, path }, 'copying the kernel to the host');
    const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
    const r = await this.ssh(
      `mkdir -p ${shQuote(dir)} && cat > ${shQuote(tmp)} && mv -f ${shQuote(tmp)} ${shQuote(path)}`,
      {
        signal,
        timeoutMs: 10 * 60_000,
        stdin: createReadStream(kernel),
      },
    );
    this.checkAbort(signal);
    if (r.code !== 0)
      throw new SessionFailure('infra-error', `copying the kernel to host ${this.host.name} failed: ${sshError(r)}`);
    return path;
  }

  private async boot(kernel: string, append: string[], signal: AbortSignal | undefined): Promise<void> {
    const b = this.host.boot;
    if (b.method === 'kexec') {
      const cmdline = b.cmdline !== undefined ? `--command-line=${b.cmdline}` : '--reuse-cmdline';
      // kexec-tools puts --append after the command line it was given or reused.
      const extra = append.length ? [`--append=${append.join(' ')}`] : [];
      const load = await this.ssh(shJoin(['kexec', '-l', kernel, cmdline, ...extra]), {
        signal,
        timeoutMs: QUICK_MS,
      });
      this.checkAbort(signal);
      if (load.code !== 0)
        throw new SessionFailure(
          'boot-failure',
          `kexec -l on host ${this.host.name} failed: ${sshError(load)}`,
          tail(load.stderr),
        );
      // systemctl kexec shuts down cleanly; kexec -e when there is no systemd. The connection dropping is the expected outcome.
      await this.ssh('systemctl kexec || kexec -e', { signal, timeoutMs: 30_000 });
    } else {
      if (append.length)
        throw new SessionFailure(
          'infra-error',
          `host ${this.host.name} boots with a command, which takes no kernel arguments from ksci (${append.join(' ')}); extra arguments per side need boot.method kexec`,
        );
      const argv = b.command.map((w) => w.split('{kernel}').join(kernel));
      const r = await this.ssh(shJoin(argv), {
        signal,
        timeoutMs: Math.min(this.host.bootTimeoutSeconds * 1000, 120_000),
      });
      // 255 / killed: the connection went down with the host, as a reboot does.
      if (r.code !== 0 && r.code !== SSH_FAILED && !r.timedOut && !r.aborted) {
        throw new SessionFailure(
          'boot-failure',
          `the boot command on host ${this.host.name} exited with status ${r.code}: ${sshError(r)}`,
          tail(r.stdout.toString('utf8') + r.stderr),
        );
      }
    }
    this.checkAbort(signal);
  }

  /** The current boot id, or null if the host does not answer. */
  private async bootId(signal: AbortSignal | undefined, connectTimeoutSeconds?: number): Promise<string | null> {
    const opts: SshRunOptions = { signal, timeoutMs: 30_000 };
    if (connectTimeoutSeconds !== undefined) opts.connectTimeoutSeconds = connectTimeoutSeconds;
    const r = await this.ssh(this.host.bootIdCommand, opts);
    const id = r.stdout.toString('utf8').trim();
    return r.code === 0 && id !== '' ? id : null;
  }

  /** Poll until the host answers with a boot id other than `before`. */
  private async waitForNewBoot(
    before: string,
    signal: AbortSignal | undefined,
    what: 'boot' | 'restore',
    log: Logger,
  ): Promise<string> {
    const limit = this.host.bootTimeoutSeconds;
    const started = Date.now();
    const deadline = started + limit * 1000;
    let answered = false;
    for (;;) {
      this.checkAbort(signal);
      const left = Math.ceil((deadline - Date.now()) / 1000);
      const id = await this.bootId(signal, Math.max(1, Math.min(left, this.host.ssh.connectTimeoutSeconds)));
      this.checkAbort(signal);
      if (id !== null && id !== before) {
        log.info({ seconds: (Date.now() - started) / 1000, what }, 'host is back with a new boot');
        return id;
      }
      if (id !== null) answered = true;
      if (Date.now() + this.pollMs > deadline) break;
      await sleep(this.pollMs, undefined, signal ? { signal } : {}).catch(() => undefined);
    }
    const waited = Math.round((Date.now() - started) / 1000);
    const reason = answered
      ? `host ${this.host.name} still answers with its previous boot id after ${waited} s (timeout ${limit} s): the ${what} did not reboot it`
      : `host ${this.host.name} did not answer over ssh within ${waited} s (timeout ${limit} s) after the ${what}`;
    throw new SessionFailure(answered ? 'boot-failure' : what === 'boot' ? 'boot-failure' : 'infra-error', reason);
  }

  /** The scenario directory and the tools (in bin/), staged here and sent as one tar stream. */
  private async uploadRunDir(
    runDir: string,
    signal: AbortSignal | undefined,
    state: { runDirMade: boolean },
  ): Promise<void> {
    const stage = mkdtempSync(join(tmpdir(), 'ksci-run-'));
    try {
      if (this.opts.scenarioDir) cpSync(this.opts.scenarioDir, stage, { recursive: true, dereference: false });
      mkdirSync(join(stage, 'bin'), { recursive: true });
      mkdirSync(join(stage, 'results'), { recursive: true });
      for (const tool of this.opts.tools ?? []) {
        if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(tool.name))
          throw new SessionFailure('infra-error', `bad tool name ${JSON.stringify(tool.name)}`);
        const dest = join(stage, 'bin', tool.name);
        copyFileSync(tool.host, dest);
        chmodSync(dest, 0o755);
      }
      const tar = spawn('tar', ['-C', stage, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let tarErr = '';
      tar.stderr.on('data', (c: Buffer) => (tarErr += c.toString()));
      tar.once('error', (e) => (tarErr += e.message));
      const tarDone = new Promise<number | null>((resolve) => tar.once('close', resolve));
      state.runDirMade = true;
      const r = await this.ssh(`mkdir -p ${shQuote(runDir)} && tar -C ${shQuote(runDir)} --no-same-owner -xf -`, {
        signal,
        timeoutMs: 10 * 60_000,
        stdin: tar.stdout,
      });
      const code = await tarDone;
      this.checkAbort(signal);
      if (code !== 0) throw new SessionFailure('infra-error', `tar of the scenarios failed: ${tarErr.trim()}`);
      if (r.code !== 0)
        throw new SessionFailure(
          'infra-error',
          `copying the scenarios to ${runDir} on host ${this.host.name} failed: ${sshError(r)}`,
        );
    } finally {
      rmSync(stage, { recursive: true, force: true });
    }
  }

  private async runOne(
    spec: PerfRunSpec,
    runDir: string,
    outDir: string,
    signal: AbortSignal | undefined,
    log: Logger,
  ): Promise<PerfRunOutput> {
    const s = spec.scenario;
    const id = `${safeName(s.name)}.${spec.warmup ? 'warmup' : ''}${spec.rep}`;
    const resultsDir = `${runDir}/results/${id}`;
    const pidFile = `${runDir}/results/${id}.pid`;
    const cmd = runCommand({ runDir, resultsDir, env: s.env, run: s.run, timeoutSeconds: s.timeoutSeconds, pidFile });
    log.info({ run: id }, 'running scenario');
    const started = Date.now();
    const r = await this.ssh(cmd, {
      signal,
      timeoutMs: (s.timeoutSeconds + KILL_AFTER_SECONDS + 60) * 1000,
      maxStdout: 1024 * 1024,
    });
    const elapsed = Date.now() - started;
    const text = r.stdout.toString('utf8');
    const localDir = join(outDir, 'runs', id);
    mkdirSync(localDir, { recursive: true });
    writeFileSync(join(localDir, 'output.txt'), text);
    if (r.aborted) {
      // Stop what runs there; the restore (a reboot) ends anything left.
      await this.ssh(`kill -TERM "$(cat ${shQuote(pidFile)})" 2>/dev/null`, { timeoutMs: 15_000 });
      this.checkAbort(signal);
    }
    if (r.code === SSH_FAILED || r.timedOut || r.code === null) {
      throw await this.lostDuring(id, r, text);
    }
    const timedOut = (r.code === 124 || r.code === 128 + 9) && elapsed >= s.timeoutSeconds * 1000 - 500;
    const files = await this.fetchResults(resultsDir, localDir, signal);
    return {
      scenario: s.name,
      rep: spec.rep,
      warmup: spec.warmup,
      exitCode: r.code,
      timedOut,
      output: lastLines(text, OUTPUT_TAIL),
      files,
    };
  }

  /** The connection went away during a run: did the kernel reboot (crash), or is it gone (hang)? */
  private async lostDuring(id: string, r: SshResult, text: string): Promise<SessionFailure> {
    const excerpt = lastLines(text, 20);
    const why = sshError(r);
    const id0 = await this.bootId(undefined);
    if (id0 !== null) {
      // It answers: the same boot if only ssh broke, which bootId cannot tell apart cheaply; say what happened.
      return new SessionFailure(
        'infra-error',
        `the ssh connection to host ${this.host.name} broke during ${id} (${why}), but the host answers`,
        excerpt,
      );
    }
    return new SessionFailure('hang', `host ${this.host.name} stopped answering during ${id} (${why})`, excerpt);
  }

  private async fetchResults(
    resultsDir: string,
    localDir: string,
    signal: AbortSignal | undefined,
  ): Promise<Record<string, Buffer>> {
    const filesDir = join(localDir, 'results');
    rmSync(filesDir, { recursive: true, force: true });
    mkdirSync(filesDir, { recursive: true });
    const untar = spawn(
      'tar',
      ['-C', filesDir, '-xf', '-', '--no-same-owner', '--no-same-permissions', '--no-overwrite-dir'],
      { stdio: ['pipe', 'ignore', 'pipe'] },
    );
    let untarErr = '';
    untar.stderr.on('data', (c: Buffer) => (untarErr += c.toString()));
    const untarDone = new Promise<number | null>((resolve) => untar.once('close', resolve));
    const r = await this.ssh(`cd ${shQuote(resultsDir)} && tar -cf - .`, {
      signal,
      timeoutMs: 5 * 60_000,
      stdoutTo: untar.stdin,
    });
    const code = await untarDone;
    if (r.code !== 0)
      throw new SessionFailure(
        'infra-error',
        `fetching ${resultsDir} from host ${this.host.name} failed: ${sshError(r)}`,
      );
    if (code !== 0)
      throw new SessionFailure('infra-error', `unpacking the results of ${resultsDir} failed: ${untarErr.trim()}`);
    const files: Record<string, Buffer> = {};
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        const st = lstatSync(p);
        if (st.isDirectory()) walk(p);
        else if (st.isFile()) files[relative(filesDir, p)] = readFileSync(p);
      }
    };
    walk(filesDir);
    return files;
  }

  private async collectDmesg(logFile: string, log: Logger): Promise<string> {
    const r = await this.ssh(`${this.host.dmesgCommand}`, { timeoutMs: QUICK_MS, maxStdout: 64 * 1024 * 1024 });
    if (r.code === 0) {
      const text = r.stdout.toString('utf8');
      writeFileSync(logFile, text);
      return text;
    }
    // Containers and kernel.dmesg_restrict=1 without root: no kernel log, which is no splat to report, not a crash.
    const note = `ksci: could not read the kernel log on host ${this.host.name} (${this.host.dmesgCommand}): ${sshError(r)}`;
    log.warn(note);
    writeFileSync(logFile, `${note}\n`);
    return '';
  }

  private judgeDmesg(dmesg: string, result: PerfSessionResult): void {
    const { fatal } = classifySplats(findSplats(dmesg), this.opts.known ?? [], this.opts.tree ?? '');
    // Reported, not a failure: the kernel ran every run; the stage above decides what a splat means for the numbers.
    result.splats = fatal.map(summarise);
  }

  private async cleanUp(
    runDir: string,
    state: { bootChanged: boolean; runDirMade: boolean },
    result: PerfSessionResult,
    log: Logger,
  ): Promise<void> {
    const restoreFailed = (reason: string) => {
      log.error({ reason }, 'restoring the host failed');
      if (result.failure === null) result.failure = { kind: 'infra-error', reason, excerpt: [] };
      else result.failure.reason += `; and then: ${reason}`;
    };
    // Never cancelled: a host left on a test kernel would serve the next job.
    if (state.bootChanged && this.host.restore.method !== 'none') {
      try {
        const before = await this.bootId(undefined);
        if (this.host.restore.method === 'reboot') {
          await this.ssh('systemctl reboot || reboot', { timeoutMs: 30_000 });
        } else {
          const r = await this.ssh(shJoin(this.host.restore.command), {
            timeoutMs: Math.min(this.host.bootTimeoutSeconds * 1000, 120_000),
          });
          if (r.code !== 0 && r.code !== SSH_FAILED && !r.timedOut)
            throw new SessionFailure(
              'infra-error',
              `the restore command on host ${this.host.name} exited with status ${r.code}: ${sshError(r)}`,
            );
        }
        // A host that did not answer before the restore (hung test kernel) needs a power cycle we cannot do: the wait reports it.
        await this.waitForNewBoot(before ?? '', undefined, 'restore', log);
      } catch (err) {
        restoreFailed(`restoring host ${this.host.name}: ${errorMessage(err)}`);
        return;
      }
    }
    if (state.runDirMade) {
      const r = await this.ssh(`rm -rf -- ${shQuote(runDir)}`, { timeoutMs: QUICK_MS }).catch((e: unknown) => ({
        code: -1,
        err: errorMessage(e),
      }));
      if (r.code !== 0) log.warn({ runDir }, 'could not delete the run directory on the host');
    }
  }

  // -- helpers -------------------------------------------------------------

  private ssh(command: string, opts: SshRunOptions): Promise<SshResult> {
    return runSsh(this.target, command, opts);
  }

  private checkAbort(signal: AbortSignal | undefined): void {
    if (signal?.aborted) throw new SessionFailure('cancelled', `cancelled (host ${this.host.name})`);
  }

  private asFailure(err: unknown, signal: AbortSignal | undefined): SessionFailure {
    if (signal?.aborted) return new SessionFailure('cancelled', `cancelled (host ${this.host.name})`);
    if (err instanceof SessionFailure) return err;
    return new SessionFailure('infra-error', `host ${this.host.name}: ${errorMessage(err)}`);
  }
}

function summarise(s: Splat): SplatSummary {
  // Runs are not marked in the host's kernel log, so a splat is not tied to one.
  return { kind: s.kind, title: s.title, fingerprint: s.fingerprint, test: null, excerpt: s.excerpt };
}

function lastLines(text: string, n: number): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(-n);
}

function tail(text: string): string[] {
  return lastLines(text, 20);
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}
