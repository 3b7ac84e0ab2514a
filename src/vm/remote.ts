/**
 * Boots through the queue: the test stage's runKernel hands each boot to
 * whichever VM host takes it from `ksci-vm`, so one suite's shards run on
 * several hosts at once. One job is one boot (runGuest on the VM host).
 *
 * Deployment assumption: storage is shared. The kernel, the extra files and
 * the boot's output directory are paths under the coordinator's data
 * directory (artifacts/, runs/), and every VM host mounts that directory at
 * the same path (NFS or similar): nothing big travels through Redis, and
 * the test stage reads each boot's console where the VM host wrote it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, normalize, relative } from 'node:path';
import { type Job, Queue, QueueEvents, UnrecoverableError, type Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { errorMessage, InfraError, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { CANCEL_CHANNEL, CANCELLED_PREFIX, cancelReason, parseCancelMessage, requestCancel } from '../queue/cancel.js';
import type { RedisHandle } from '../queue/redis.js';
import { loadSuite, TEST_NAME, type Suite, type SuiteTest } from '../suite/suite.js';
import { runGuest, type GuestOptions, type GuestRun } from './guest.js';
import { readChannel, type ChannelState } from './protocol.js';
import { vmOutputFiles } from './qemu.js';
import { QUEUES } from '../queue/names.js';
import { startQueueWorker } from '../queue/worker.js';

/** Written by the coordinator into each boot's directory: a VM host that reads it back sees the same storage, not a look-alike path. */
const TOKEN_FILE = '.ksci-vm-token';
/** Files the guest handed back, by position: their names come from the guest and are never used as paths. */
const RETURNED_DIR = 'returned';

/** Where the boot ran: `hostname:pid`, as `ksci status` names workers. */
export type BootHost = string;
/** One boot of a guest, wherever it runs. */
export type BootExecutor = (o: GuestOptions) => Promise<GuestRun & { host?: BootHost }>;

export function thisHost(): BootHost {
  return `${hostname()}:${process.pid}`;
}

/** The boot on this host, as the test stage always did. */
export const localBoot: BootExecutor = async (o) => ({ ...(await runGuest(o)), host: thisHost() });

const Abs = z.string().startsWith('/', 'an absolute path');
const Name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/);

const VmTestSchema = z.object({
  name: z.string().regex(TEST_NAME),
  run: z.string().min(1),
  description: z.string().optional(),
  env: z.record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/), z.string()).optional(),
  timeoutSeconds: z.number().int().positive(),
  only: z.array(z.string().min(1)).optional(),
});

/** The JSON-safe part of GuestOptions: the suite goes by name (the VM host loads it) and hash (it must be the same suite). */
export const VmJobSchema = z.object({
  kernel: Abs,
  suite: z.object({ name: Name, suitesDir: Abs, hash: z.string().regex(/^[0-9a-f]{64}$/) }),
  tests: z.array(VmTestSchema).min(1),
  memoryMiB: z.number().int().min(128),
  cpus: z.number().int().min(1).max(64),
  accel: z.enum(['auto', 'kvm', 'tcg']),
  limits: z.object({
    bootTimeoutMs: z.number().int().positive(),
    runTimeoutMs: z.number().int().positive(),
    testGraceMs: z.number().int().min(0),
    maxOutputBytes: z.number().int().positive(),
  }),
  busybox: Abs,
  extraFiles: z.array(z.object({ host: Abs, guest: Abs })),
  modules: z.array(Abs),
  tree: z.string().optional(),
  bootIndex: z.number().int().min(1).optional(),
  // Emptied on a re-run: it must be a plain directory path, never "/" or one with "..".
  outDir: Abs.refine(
    (p) => p !== '/' && normalize(p) === p && !p.endsWith('/'),
    'a normalised directory path other than /',
  ),
  token: z.string().regex(/^[0-9a-f]{32}$/),
  /** The coordinator's data directory: what VM hosts must mount at the same path. */
  shared: Abs,
  keepInitramfs: z.boolean(),
});
export type VmJob = z.infer<typeof VmJobSchema>;

/**
 * What a VM host sends back: the GuestRun without the console (up to
 * test.maxOutputMiB; the caller reads consoleFile) and without the files
 * the guest handed back. Those are Buffers, and can be megabytes
 * (test_progs -J): they are written into the boot's directory on the shared
 * storage, which the caller already depends on for the console, rather
 * than base64'd into Redis, where BullMQ keeps return values in the job
 * and in the events stream.
 */
const VmResultSchema = z.object({
  host: z.string().min(1),
  consoleFile: Abs,
  channelFile: Abs,
  initramfs: Abs,
  channel: z.object({
    begun: z.boolean(),
    bootSeconds: z.number().nullable(),
    kernelRelease: z.string().nullable(),
    tests: z.array(
      z.object({
        name: z.string(),
        startedAt: z.number(),
        endedAt: z.number().nullable(),
        exitCode: z.number().nullable(),
        timedOut: z.boolean(),
        output: z.array(z.string()),
        /** Names of the returned files, in the order they are stored under returned/<test>-<file>. */
        files: z.array(z.string()),
      }),
    ),
    /** Index into tests of the test running when the guest stopped: the same object, not a copy. */
    current: z.number().int().min(0).nullable(),
    ended: z.boolean(),
    stray: z.array(z.string()),
    malformed: z.array(z.string()),
  }),
  stoppedBy: z
    .enum([
      'boot-timeout',
      'test-timeout',
      'run-timeout',
      'shutdown-timeout',
      'output-flood',
      'cancelled',
      'kvm-failed',
    ])
    .nullable(),
  stoppedDuring: z.string().nullable(),
  qemuExitCode: z.number().nullable(),
  durationMs: z.number(),
  bootMs: z.number().nullable(),
  accel: z.enum(['kvm', 'tcg']),
});
export type VmResult = z.infer<typeof VmResultSchema>;

export function toVmJob(o: GuestOptions, shared: string, token: string): VmJob {
  return {
    kernel: o.kernel,
    suite: { name: o.suite.name, suitesDir: dirname(o.suite.dir), hash: o.suite.hash },
    tests: o.tests.map((t) => ({ ...t })),
    memoryMiB: o.memoryMiB,
    cpus: o.cpus,
    accel: o.accel,
    limits: { ...o.limits },
    busybox: o.busybox,
    extraFiles: o.extraFiles ?? [],
    modules: o.modules ?? [],
    ...(o.tree !== undefined ? { tree: o.tree } : {}),
    ...(o.bootIndex !== undefined ? { bootIndex: o.bootIndex } : {}),
    outDir: o.outDir,
    token,
    shared,
    keepInitramfs: o.keepInitramfs ?? false,
  };
}

/**
 * The VM host's side: takes boots from ksci-vm, `slots` at a time, and
 * runs them with runGuest. A worker that dies mid-boot (its QEMU dies with
 * it: bubblewrap's --die-with-parent) leaves a stalled job, which BullMQ
 * gives to another worker.
 */
export class VmWorker {
  private worker: Worker | null = null;
  private subscriber: Redis | null = null;
  private readonly client: Redis;
  private readonly active = new Set<string>();

  constructor(private readonly deps: { redis: RedisHandle; config: Config; log: Logger; slots?: number }) {
    this.client = deps.redis.client();
  }

  get slots(): number {
    return this.deps.slots ?? this.deps.config.test.vmSlots;
  }

  async start(): Promise<void> {
    const { redis, config } = this.deps;
    const log = this.deps.log.child({ queue: QUEUES.vm });
    this.client.on('error', (err) => log.debug({ err: errorMessage(err) }, 'redis unavailable'));
    this.subscriber = redis.client();
    this.subscriber.on('error', (err) => log.debug({ err: errorMessage(err) }, 'redis unavailable (cancel channel)'));
    // Boots are cancelled by job id, on the channel every cancellation uses (queue/cancel.ts).
    await this.subscriber.subscribe(CANCEL_CHANNEL);
    this.subscriber.on('message', (_channel: string, message: string) => {
      const msg = parseCancelMessage(message);
      if (!msg || !('job' in msg.target)) return;
      const jobId = msg.target.job;
      if (this.active.has(jobId) && this.worker?.cancelJob(jobId, msg.reason))
        log.info({ jobId, reason: msg.reason }, 'cancelling boot');
    });
    this.worker = startQueueWorker({
      queue: QUEUES.vm,
      connection: redis.connection,
      what: 'boot',
      schema: VmJobSchema,
      log,
      handle: (data, job, signal) => this.process(data, job, signal, log),
      concurrency: this.slots,
      lockDurationMs: config.queue.lockDurationMs,
      stalledIntervalMs: config.queue.stalledIntervalMs,
      // A worker lost mid-boot: the boot is started again elsewhere, twice at most.
      maxStalledCount: 2,
      badInputIsFinal: false,
    });
    await this.worker.waitUntilReady();
    log.info({ slots: this.slots, host: thisHost() }, 'vm host ready');
  }

  /** Graceful by default: boots running now finish first. `force` leaves them stalled, for another host. */
  async close(force = false): Promise<void> {
    await this.worker?.close(force);
    this.subscriber?.disconnect();
    this.client.disconnect();
  }

  private async process(d: VmJob, job: Job, signal: AbortSignal | undefined, log: Logger): Promise<VmResult> {
    const id = job.id ?? '';
    const jlog = log.child({ jobId: id, suite: d.suite.name, boot: d.bootIndex, attempt: job.attemptsStarted });
    // Registered before the key is read: a cancel published after that read finds the job here.
    this.active.add(id);
    try {
      const cancelled = await cancelReason(this.client, { job: id });
      if (cancelled !== null) throw new UnrecoverableError(CANCELLED_PREFIX + cancelled);
      checkVisible(d);
      let suite: Suite;
      try {
        suite = loadSuite(d.suite.suitesDir, d.suite.name);
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        throw new UnrecoverableError(
          `suite ${d.suite.name} cannot be loaded on host ${hostname()}: ${err.message}; VM hosts need the same suites at ${d.suite.suitesDir}`,
        );
      }
      if (suite.hash !== d.suite.hash) {
        throw new UnrecoverableError(
          `suite ${d.suite.name} at ${suite.dir} on host ${hostname()} differs from the one the test stage runs: install the same ksci version (and test.suitesDir content) on every VM host`,
        );
      }
      if (job.attemptsStarted > 1) {
        // What an earlier attempt (a host that died, an error) left must not pass for this boot's output.
        emptyDir(d.outDir, new Set([TOKEN_FILE]));
        rmSync(`${d.outDir}.initramfs.cpio.gz`, { force: true });
        jlog.info({ outDir: d.outDir }, 'boot started again; its directory was emptied');
      }
      jlog.info({ kernel: d.kernel, tests: d.tests.length }, 'boot started');
      const tests: SuiteTest[] = d.tests.map((t) => ({
        name: t.name,
        run: t.run,
        timeoutSeconds: t.timeoutSeconds,
        ...(t.description !== undefined ? { description: t.description } : {}),
        ...(t.env !== undefined ? { env: t.env } : {}),
        ...(t.only !== undefined ? { only: t.only } : {}),
      }));
      const run = await runGuest({
        kernel: d.kernel,
        suite,
        tests,
        memoryMiB: d.memoryMiB,
        cpus: d.cpus,
        accel: d.accel,
        limits: d.limits,
        outDir: d.outDir,
        busybox: d.busybox,
        extraFiles: d.extraFiles,
        modules: d.modules,
        ...(d.tree !== undefined ? { tree: d.tree } : {}),
        ...(d.bootIndex !== undefined ? { bootIndex: d.bootIndex } : {}),
        keepInitramfs: d.keepInitramfs,
        log: jlog,
        signal,
        // Progress is a convenience: a lost update must not fail the boot.
        onProgress: (message) => void job.updateProgress({ message }).catch(() => undefined),
      });
      jlog.info({ stoppedBy: run.stoppedBy, durationMs: run.durationMs, accel: run.accel }, 'boot finished');
      return toResult(run, d.outDir);
    } finally {
      this.active.delete(id);
    }
  }
}

/**
 * A VM host that does not see the coordinator's paths would boot nothing
 * useful, and retrying it would not help: the job fails for good, saying
 * what to mount.
 */
export function checkVisible(d: VmJob, host = hostname()): void {
  const mount = (p: string) => (relative(d.shared, p).startsWith('..') ? dirname(p) : d.shared);
  const refuse = (p: string) =>
    new UnrecoverableError(
      `${p} is not visible on host ${host}: hosts that take ${QUEUES.vm} jobs must mount ${mount(p)} at the same path`,
    );
  for (const p of [d.kernel, ...d.extraFiles.map((f) => f.host), ...d.modules]) {
    if (!existsSync(p)) throw refuse(p);
  }
  let token: string | null = null;
  try {
    token = readFileSync(join(d.outDir, TOKEN_FILE), 'utf8').trim();
  } catch {
    throw refuse(d.outDir);
  }
  if (token !== d.token) {
    throw new UnrecoverableError(
      `${d.outDir} on host ${host} is not the test stage's directory (it holds another boot's token): hosts that take ${QUEUES.vm} jobs must mount ${mount(d.outDir)} itself at the same path, not a copy`,
    );
  }
  // The guest's userspace is the VM host's own, like QEMU.
  if (!existsSync(d.busybox))
    throw new UnrecoverableError(
      `${d.busybox} is missing on host ${host}: apt-get install busybox-static there (or set test.busybox)`,
    );
}

function emptyDir(dir: string, keep: Set<string>): void {
  for (const e of readdirSync(dir)) {
    if (!keep.has(e)) rmSync(join(dir, e), { recursive: true, force: true });
  }
}

function toResult(run: GuestRun, outDir: string): VmResult {
  const ch = run.channel;
  const stored = join(outDir, RETURNED_DIR);
  const tests = ch.tests.map((t, ti) => {
    const names = Object.keys(t.files);
    names.forEach((name, fi) => {
      mkdirSync(stored, { recursive: true });
      writeFileSync(join(stored, `${ti}-${fi}`), t.files[name]!);
    });
    return {
      name: t.name,
      startedAt: t.startedAt,
      endedAt: t.endedAt,
      exitCode: t.exitCode,
      timedOut: t.timedOut,
      output: t.output,
      files: names,
    };
  });
  const current = ch.current ? ch.tests.indexOf(ch.current) : -1;
  return {
    host: thisHost(),
    consoleFile: run.consoleFile,
    channelFile: run.channelFile,
    initramfs: run.initramfs,
    channel: {
      begun: ch.begun,
      bootSeconds: ch.bootSeconds,
      kernelRelease: ch.kernelRelease,
      tests,
      current: current >= 0 ? current : null,
      ended: ch.ended,
      stray: ch.stray,
      malformed: ch.malformed,
    },
    stoppedBy: run.stoppedBy,
    stoppedDuring: run.stoppedDuring,
    qemuExitCode: run.qemuExitCode,
    durationMs: run.durationMs,
    bootMs: run.bootMs,
    accel: run.accel,
  };
}

/** The VM host's result as runGuest would have returned it here: the console and the returned files read from the shared directory. */
function fromResult(r: VmResult, o: GuestOptions): GuestRun & { host: BootHost } {
  const stored = join(o.outDir, RETURNED_DIR);
  const tests = r.channel.tests.map((t, ti) => ({
    ...t,
    files: Object.fromEntries(t.files.map((name, fi) => [name, readFileSync(join(stored, `${ti}-${fi}`))])),
  }));
  const channel: ChannelState = {
    ...r.channel,
    tests,
    current: r.channel.current === null ? null : (tests[r.channel.current] ?? null),
  };
  return {
    consoleFile: r.consoleFile,
    channelFile: r.channelFile,
    channel,
    stoppedBy: r.stoppedBy,
    stoppedDuring: r.stoppedDuring,
    qemuExitCode: r.qemuExitCode,
    durationMs: r.durationMs,
    bootMs: r.bootMs,
    accel: r.accel,
    console: readQuiet(r.consoleFile),
    tests: o.tests,
    initramfs: r.initramfs,
    host: r.host,
  };
}

export interface RemoteExecutor {
  boot: BootExecutor;
  close(): Promise<void>;
}

/**
 * The test stage's side: each boot becomes a ksci-vm job, and the call
 * returns when a VM host has run it. On abort a waiting job is removed, a
 * running one is cancelled on its host (runGuest stops QEMU), and the
 * host's answer is awaited for `cancelWaitMs` at most.
 */
export async function remoteExecutor(deps: {
  /** New Redis clients of the queue's server; closed by close(). */
  redis: () => Redis;
  /** The coordinator's data directory, named in the error when a VM host does not mount it. */
  shared: string;
  log: Logger;
  cancelWaitMs?: number;
  /** A job no host has taken after this long is logged: there may be no VM host at all. */
  unclaimedWarnMs?: number;
}): Promise<RemoteExecutor> {
  const cancelWaitMs = deps.cancelWaitMs ?? 20_000;
  const unclaimedWarnMs = deps.unclaimedWarnMs ?? 120_000;
  const clients = [deps.redis(), deps.redis(), deps.redis()] as const;
  const [queueConn, eventsConn, control] = clients;
  for (const c of clients)
    c.on('error', (err) => deps.log.debug({ err: errorMessage(err) }, 'redis unavailable (vm queue)'));
  const queue = new Queue(QUEUES.vm, { connection: queueConn });
  const events = new QueueEvents(QUEUES.vm, { connection: eventsConn });
  const progress = new Map<string, (m: string) => void>();
  events.on('progress', ({ jobId, data }) => {
    const message = typeof data === 'object' && data !== null ? (data as { message?: unknown }).message : undefined;
    if (typeof message === 'string') progress.get(jobId)?.(message);
  });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);

  const boot: BootExecutor = async (o) => {
    const started = Date.now();
    // Created here, on the coordinator's storage; the VM host reads the token back to prove it sees this very directory.
    mkdirSync(o.outDir, { recursive: true });
    const token = randomBytes(16).toString('hex');
    writeFileSync(join(o.outDir, TOKEN_FILE), `${token}\n`);
    if (o.signal?.aborted) return notRun(o, started);
    const job = await queue.add('boot', toVmJob(o, deps.shared, token), {
      // A boot that threw on one host (a sandbox hiccup) gets one more, likely elsewhere; stalls are counted apart (maxStalledCount).
      attempts: 2,
      backoff: { type: 'fixed', delay: 1000 },
      removeOnComplete: { age: 3600 },
      removeOnFail: { age: 7 * 24 * 3600 },
    });
    const id = job.id!;
    const log = deps.log.child({ jobId: id, suite: o.suite.name, boot: o.bootIndex });
    log.debug({ kernel: o.kernel, tests: o.tests.length }, 'boot queued');
    if (o.onProgress) progress.set(id, o.onProgress);
    const unclaimed = setTimeout(() => {
      void job.getState().then(
        (state) => {
          if (state === 'waiting' || state === 'prioritized')
            log.warn(
              { waitedMs: Date.now() - started },
              `no VM host has taken the boot yet: is a "ksci worker --role test" (or --role vm) with test.vmHosts: queue running?`,
            );
        },
        () => undefined,
      );
    }, unclaimedWarnMs);
    unclaimed.unref();

    let onAbort: (() => void) | null = null;
    const aborted = new Promise<'cancelled'>((resolve) => {
      onAbort = () => resolve('cancelled');
      if (o.signal?.aborted) onAbort();
      else o.signal?.addEventListener('abort', onAbort, { once: true });
    });
    const finished = job.waitUntilFinished(events).then(
      (value: unknown) => ({ value }),
      (err: unknown) => ({ err }),
    );
    try {
      let end = await Promise.race([finished, aborted]);
      if (end === 'cancelled') {
        const reason = typeof o.signal?.reason === 'string' ? o.signal.reason : 'cancelled';
        await requestCancel(control, { job: id }, reason);
        try {
          await job.remove();
          log.info('boot cancelled before a VM host took it');
          return notRun(o, started);
        } catch {
          // Locked: a host runs it and has been told to stop.
        }
        const late = await Promise.race([finished, sleep(cancelWaitMs)]);
        if (late === null) {
          log.warn({ waitMs: cancelWaitMs }, 'the VM host did not confirm the cancelled boot; not waiting for it');
          return notRun(o, started);
        }
        end = late;
      }
      if ('err' in end) {
        throw new InfraError(
          `boot ${o.bootIndex ?? 1} of suite ${o.suite.name} failed on the VM hosts: ${errorMessage(end.err)}`,
          `see the ${QUEUES.vm} job ${id} (ksci status) and the VM host's log`,
        );
      }
      const result = VmResultSchema.safeParse(end.value);
      if (!result.success)
        throw new InfraError(
          `the VM host's answer to ${QUEUES.vm} job ${id} is malformed: ${z.prettifyError(result.error)}`,
          'run the same ksci version on every host',
        );
      return fromResult(result.data, o);
    } finally {
      clearTimeout(unclaimed);
      progress.delete(id);
      if (onAbort) o.signal?.removeEventListener('abort', onAbort);
    }
  };

  return {
    boot,
    async close() {
      await Promise.allSettled([queue.close(), events.close()]);
      for (const c of clients) c.disconnect();
    },
  };
}

/** A boot that never ran (cancelled before a host took it, or its host never answered): what runGuest returns when cancelled at once. */
function notRun(o: GuestOptions, started: number): GuestRun {
  const { consoleFile, channelFile } = vmOutputFiles(o.outDir);
  return {
    consoleFile,
    channelFile,
    channel: readChannel('', 'none'),
    stoppedBy: 'cancelled',
    stoppedDuring: null,
    qemuExitCode: null,
    durationMs: Date.now() - started,
    bootMs: null,
    accel: o.accel === 'kvm' ? 'kvm' : 'tcg',
    console: readQuiet(consoleFile),
    tests: o.tests,
    initramfs: `${o.outDir}.initramfs.cpio.gz`,
  };
}

function sleep(ms: number): Promise<null> {
  return new Promise((resolve) => setTimeout(() => resolve(null), ms).unref());
}

function readQuiet(f: string): string {
  try {
    return statSync(f).isFile() ? readFileSync(f, 'utf8') : '';
  } catch {
    return '';
  }
}
