/**
 * A worker that is not root: bwrap runs unprivileged, the command in a user
 * namespace of its own as that same user. Tested for real by running the
 * sandbox modules in a child process as the sandbox user (any unprivileged
 * uid would do), from a copy it can read.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SANDBOX_USER, parsePasswd } from './identity.js';

const user = parsePasswd(readFileSync('/etc/passwd', 'utf8')).find((p) => p.name === DEFAULT_SANDBOX_USER);
const isRoot = process.getuid?.() === 0;
const required = process.env['KSCI_REQUIRE_E2E'] === '1';
const skip = required
  ? false
  : !isRoot
    ? 'needs root to start a worker as another user'
    : !user
      ? `needs the user ${DEFAULT_SANDBOX_USER} to run as (scripts/debian-deps.sh ensure_sandbox_user)`
      : false;

const CHILD = `
import { mkdirSync, readFileSync } from 'node:fs';
import { runSandboxed, sandboxAvailable } from './src/sandbox/run.js';
const out = process.argv[2];
const probe = await sandboxAvailable();
const script = [
  'echo "uid $(id -u)"',
  '(echo x > /proc/sys/kernel/core_pattern) 2>/dev/null && echo ESCAPED-sysctl',
  'unshare -Ur true 2>/dev/null && echo ESCAPED-userns',
  'echo written > /ksci/out/file',
].join('; ');
const run = await runSandboxed(
  { binds: [{ host: out, inside: '/ksci/out', writable: true }], cwd: '/ksci/out', env: { PATH: '/usr/bin:/bin' }, argv: ['sh', '-c', script], limits: { cpuSeconds: 30, fileBytes: 1 << 20 } },
  { logFile: out + '.log', timeoutMs: 60000 },
);
console.log(JSON.stringify({ probe, exitCode: run.exitCode, log: readFileSync(out + '.log', 'utf8'), file: readFileSync(out + '/file', 'utf8') }));
`;

describe('the sandbox under an unprivileged worker (real bubblewrap)', { skip }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ksci-unpriv-'));
    const dist = dirname(dirname(fileURLToPath(import.meta.url)));
    mkdirSync(join(dir, 'src'));
    cpSync(join(dist, 'sandbox'), join(dir, 'src', 'sandbox'), { recursive: true });
    cpSync(join(dist, 'errors.js'), join(dir, 'src', 'errors.js'));
    writeFileSync(join(dir, 'child.mjs'), CHILD);
    mkdirSync(join(dir, 'out'));
    execFileSync('chown', ['-R', `${user!.uid}:${user!.gid}`, dir]);
    chmodSync(dir, 0o755);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs untrusted code as that user in a user namespace, with the same seccomp filter and read-only /proc/sys', () => {
    assert.ok(isRoot && user, String(skip));
    const stdout = execFileSync(process.execPath, [join(dir, 'child.mjs'), join(dir, 'out')], {
      uid: user!.uid,
      gid: user!.gid,
      cwd: dir,
      env: { PATH: '/usr/bin:/bin' },
      encoding: 'utf8',
    });
    const r = JSON.parse(stdout) as {
      probe: { ok: boolean; identity?: string; why?: string };
      exitCode: number;
      log: string;
      file: string;
    };
    assert.equal(r.probe.ok, true, r.probe.why);
    assert.match(r.probe.identity ?? '', new RegExp(`runs as this user \\(uid ${user!.uid}\\) in a user namespace`));
    assert.equal(r.exitCode, 0, r.log);
    assert.match(r.log, new RegExp(`uid ${user!.uid}`));
    assert.doesNotMatch(r.log, /ESCAPED/, `escaped: ${r.log}`);
    assert.equal(r.file, 'written\n');
  });
});
