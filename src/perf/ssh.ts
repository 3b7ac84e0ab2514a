/**
 * Running commands on a remote host with the system OpenSSH client. No
 * agent, no user config, no password prompts: BatchMode, one identity file,
 * and a dedicated known_hosts file checked strictly, so a host that changed
 * its key (reinstalled, or someone in the middle) is refused, never trusted.
 *
 * Remote commands are strings that the remote login shell parses: every
 * word that is not a literal of ours goes through shQuote (src/shell.ts).
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  identityFile: string;
  knownHostsFile: string;
  /** Seconds to wait for the TCP connection and the SSH handshake. */
  connectTimeoutSeconds?: number;
}

/** The ssh(1) arguments up to and including the destination. */
export function sshArgs(t: SshTarget, opts: { connectTimeoutSeconds?: number } = {}): string[] {
  // A host or user starting with '-' would be read as an option by ssh.
  if (t.host.startsWith('-') || t.user.startsWith('-') || /[\s@]/.test(t.host) || /[\s@:]/.test(t.user)) {
    throw new Error(`refusing ssh destination ${JSON.stringify(`${t.user}@${t.host}`)}`);
  }
  const connect = opts.connectTimeoutSeconds ?? t.connectTimeoutSeconds ?? 10;
  return [
    // Ignore ~/.ssh/config and /etc/ssh/ssh_config: what is run is what is written here.
    '-F',
    '/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${t.knownHostsFile}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'UpdateHostKeys=no',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'IdentityAgent=none',
    '-o',
    `IdentityFile=${t.identityFile}`,
    '-o',
    'PasswordAuthentication=no',
    '-o',
    'KbdInteractiveAuthentication=no',
    '-o',
    `ConnectTimeout=${connect}`,
    // A host that died (reboot, panic) is noticed within ~15 s instead of the TCP timeout.
    '-o',
    'ServerAliveInterval=5',
    '-o',
    'ServerAliveCountMax=3',
    '-o',
    'LogLevel=ERROR',
    '-p',
    String(t.port),
    '-l',
    t.user,
    '--',
    t.host,
  ];
}

export interface SshResult {
  /** The remote command's exit status; 255 is ssh's own failure (could not connect, connection lost). */
  code: number | null;
  /** Local signal that ended ssh (our timeout or cancellation). */
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  timedOut: boolean;
  aborted: boolean;
}

export interface SshRunOptions {
  /** Sent to the remote command's stdin (then closed); stdin is /dev/null otherwise. */
  stdin?: Buffer | Readable;
  /** Kill ssh after this long. */
  timeoutMs?: number;
  signal?: AbortSignal | undefined;
  connectTimeoutSeconds?: number;
  /** Keep at most this many bytes of stdout: the last ones (default 8 MiB). */
  maxStdout?: number;
  /** Called with each chunk of stdout, as it comes. */
  onStdout?: (chunk: Buffer) => void;
  /** Where to send stdout instead of buffering it (a local `tar -x`, say). */
  stdoutTo?: NodeJS.WritableStream;
}

/** ssh exits 255 when it, not the remote command, failed. */
export const SSH_FAILED = 255;

/** Run `command` (a remote shell command line) on the target. Never rejects for remote failures: read `code`. */
export function runSsh(t: SshTarget, command: string, opts: SshRunOptions = {}): Promise<SshResult> {
  const args = [
    ...sshArgs(
      t,
      opts.connectTimeoutSeconds !== undefined ? { connectTimeoutSeconds: opts.connectTimeoutSeconds } : {},
    ),
    command,
  ];
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      resolve({ code: null, signal: null, stdout: Buffer.alloc(0), stderr: '', timedOut: false, aborted: true });
      return;
    }
    const child = spawn('ssh', args, { stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const max = opts.maxStdout ?? 8 * 1024 * 1024;
    let out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let timedOut = false;
    let aborted = false;
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const timer =
      opts.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            kill();
          }, opts.timeoutMs)
        : null;
    const onAbort = () => {
      aborted = true;
      kill();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const stdoutStream = child.stdout!;
    const stderrStream = child.stderr!;
    if (opts.stdoutTo) stdoutStream.pipe(opts.stdoutTo);
    else
      stdoutStream.on('data', (c: Buffer) => {
        opts.onStdout?.(c);
        out.push(c);
        outBytes += c.length;
        if (outBytes > max * 2) {
          const all = Buffer.concat(out);
          out = [all.subarray(all.length - max)];
          outBytes = max;
        }
      });
    stderrStream.on('data', (c: Buffer) => {
      err += c.toString('utf8');
      if (err.length > 64 * 1024) err = err.slice(-32 * 1024);
    });
    if (opts.stdin && child.stdin) {
      child.stdin.on('error', () => undefined); // EPIPE when the remote side exits early
      if (Buffer.isBuffer(opts.stdin)) child.stdin.end(opts.stdin);
      else opts.stdin.pipe(child.stdin);
    }
    child.once('error', (e) => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      reject(new Error(`could not run ssh: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      let stdout = Buffer.concat(out);
      if (stdout.length > max) stdout = stdout.subarray(stdout.length - max);
      resolve({ code, signal, stdout, stderr: err, timedOut, aborted });
    });
  });
}

/** The last non-empty line of ssh's stderr, for error messages. */
export function sshError(r: SshResult): string {
  if (r.timedOut) return 'timed out';
  if (r.aborted) return 'cancelled';
  const line = r.stderr
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .pop();
  return line ? line.trim() : `exit status ${r.code ?? r.signal}`;
}
