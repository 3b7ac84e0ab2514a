import { execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { promisify } from 'node:util';
import { InfraError } from '../errors.js';
import { bwrapArgs, type SandboxSpec } from './bwrap.js';

const execFileP = promisify(execFile);

export interface SandboxRun {
  exitCode: number | null;
  /** Why ksci stopped it, if it did. */
  killed: 'timeout' | 'disk' | 'cancelled' | null;
  durationMs: number;
}

export interface RunOptions {
  /** Combined stdout and stderr go here. */
  logFile: string;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Called for every complete output line (progress). */
  onLine?: (line: string) => void;
  /** A writable directory whose size is capped: checked every `everyMs`. */
  diskWatch?: { dir: string; maxBytes: number; everyMs?: number };
}

/**
 * Runs a command in the sandbox and waits for it. The sandbox is its own
 * process group and pid namespace: stopping it (timeout, disk cap,
 * cancellation) kills everything make started, and bwrap dies with the
 * worker if the worker dies.
 */
export async function runSandboxed(spec: SandboxSpec, opts: RunOptions): Promise<SandboxRun> {
  if (opts.signal?.aborted) return { exitCode: null, killed: 'cancelled', durationMs: 0 };
  const started = Date.now();
  const log = createWriteStream(opts.logFile, { flags: 'a' });
  const child = spawn('bwrap', bwrapArgs(spec), { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: {} });
  let killed: SandboxRun['killed'] = null;
  const stop = (why: NonNullable<SandboxRun['killed']>) => {
    if (killed !== null || child.exitCode !== null) return;
    killed = why;
    kill(child.pid, 'SIGTERM');
    // make and gcc exit at once on SIGTERM; a patch's own tool might not.
    setTimeout(() => kill(child.pid, 'SIGKILL'), 5000).unref();
  };

  let pending = '';
  const onData = (chunk: Buffer) => {
    log.write(chunk);
    if (!opts.onLine) return;
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const l of lines) opts.onLine(l);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);

  const onAbort = () => stop('cancelled');
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => stop('timeout'), opts.timeoutMs);
  timer.unref();
  let watching = true;
  const watch = opts.diskWatch;
  if (watch) {
    // Runs beside the build and ends at its next tick after the build does.
    void (async () => {
      while (watching) {
        await new Promise((r) => setTimeout(r, watch.everyMs ?? 15_000).unref());
        if (!watching) break;
        const bytes = await dirBytes(watch.dir).catch(() => 0);
        if (bytes > watch.maxBytes) stop('disk');
      }
    })();
  }

  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.on('error', (err) => {
      const e = err as NodeJS.ErrnoException;
      reject(
        e.code === 'ENOENT'
          ? new InfraError('bubblewrap (bwrap) is not installed; builds run only inside its sandbox', 'apt-get install bubblewrap')
          : new InfraError(`cannot start the build sandbox: ${e.message}`),
      );
    });
    child.on('close', (code) => resolve(code));
  });
  watching = false;
  clearTimeout(timer);
  opts.signal?.removeEventListener('abort', onAbort);
  if (pending && opts.onLine) opts.onLine(pending);
  await new Promise<void>((r) => log.end(() => r()));
  return { exitCode, killed, durationMs: Date.now() - started };
}

function kill(pid: number | undefined, sig: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, sig);
  } catch {
    // Already gone.
  }
}

async function dirBytes(dir: string): Promise<number> {
  const { stdout } = await execFileP('du', ['-sb', dir]);
  return Number(stdout.split('\t')[0]);
}

/** Whether bwrap can create its namespaces here (containers may forbid it). */
export async function sandboxAvailable(): Promise<{ ok: true } | { ok: false; why: string }> {
  try {
    await execFileP('bwrap', ['--unshare-all', '--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--', '/usr/bin/true']);
    return { ok: true };
  } catch (err) {
    return { ok: false, why: (err as Error).message.split('\n').slice(0, 3).join(' ') };
  }
}
