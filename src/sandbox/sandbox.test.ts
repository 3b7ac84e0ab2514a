import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bwrapArgs, type SandboxSpec } from './bwrap.js';
import { runSandboxed, sandboxAvailable } from './run.js';

const available = await sandboxAvailable();
const required = process.env['KSCI_REQUIRE_E2E'] === '1';
const skip = !available.ok && !required ? `bubblewrap cannot run here: ${available.ok ? '' : available.why}` : false;

/** A tree with a Makefile, as a patch could write it; only `tree` and `out` are visible inside. */
function project(root: string, makefile: string): SandboxSpec {
  const tree = join(root, 'tree');
  const out = join(root, 'out');
  mkdirSync(tree, { recursive: true });
  mkdirSync(out, { recursive: true });
  writeFileSync(join(tree, 'Makefile'), makefile);
  return {
    binds: [
      { host: tree, inside: '/ksci/src', writable: false },
      { host: out, inside: '/ksci/obj', writable: true },
    ],
    cwd: '/ksci/obj',
    env: { PATH: '/usr/bin:/bin', HOME: '/tmp', LC_ALL: 'C' },
    argv: ['make', '-f', '/ksci/src/Makefile'],
    limits: { cpuSeconds: 60, fileBytes: 1024 * 1024 },
  };
}

describe('bwrapArgs', () => {
  it('unshares everything, binds only what it is given, and clears the environment', () => {
    const host = { exists: (p: string) => ['/bin', '/lib', '/lib64', '/sbin'].includes(p), symlinkTarget: (p: string) => (p === '/lib64' ? null : `usr${p}`) };
    const args = bwrapArgs(
      { binds: [{ host: '/h/src', inside: '/ksci/src', writable: false }, { host: '/h/obj', inside: '/ksci/obj', writable: true }], cwd: '/ksci/obj', env: { PATH: '/usr/bin' }, argv: ['make'], limits: { cpuSeconds: 10, fileBytes: 100 } },
      host,
    );
    const s = args.join(' ');
    assert.match(s, /^--unshare-all --die-with-parent --new-session --cap-drop ALL/);
    assert.match(s, /--symlink usr\/bin \/bin/);
    assert.match(s, /--ro-bind \/lib64 \/lib64/);
    assert.match(s, /--ro-bind \/h\/src \/ksci\/src --bind \/h\/obj \/ksci\/obj/);
    assert.match(s, /--clearenv --setenv PATH \/usr\/bin -- \/usr\/bin\/prlimit --cpu=10 --fsize=100 --core=0 -- make$/);
    assert.doesNotMatch(s, /--share-net|--bind \/ |--ro-bind \/ \//);
  });
});

describe('runSandboxed (real bubblewrap)', { skip }, () => {
  let root: string;
  let server: Server;
  let port = 0;
  let connections = 0;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'ksci-sandbox-'));
    server = createServer((s) => {
      connections++;
      s.end('hello\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    rmSync(root, { recursive: true, force: true });
  });

  it('has no network: a listener on the host loopback and the outside are unreachable', async () => {
    const dir = join(root, 'net');
    const spec = project(dir, `all:\n\tbash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}; cat <&3'\n\tbash -c 'exec 3<>/dev/tcp/192.0.2.1/80' || echo OUTSIDE-UNREACHABLE\n`);
    const log = join(dir, 'log');
    const res = await runSandboxed(spec, { logFile: log, timeoutMs: 30_000 });
    assert.notEqual(res.exitCode, 0);
    assert.equal(connections, 0, 'the host listener must never see the build');
    assert.match(readFileSync(log, 'utf8'), /Connection refused/);
    const res2 = await runSandboxed(project(join(root, 'net2'), `all:\n\tbash -c 'exec 3<>/dev/tcp/192.0.2.1/80'\n`), { logFile: join(root, 'net2', 'log'), timeoutMs: 30_000 });
    assert.notEqual(res2.exitCode, 0);
    assert.match(readFileSync(join(root, 'net2', 'log'), 'utf8'), /Network is unreachable/);
  });

  it('cannot write outside its build directory, and sees none of the host', async () => {
    const dir = join(root, 'fs');
    const outside = join(root, 'outside-target');
    process.env['KSCI_TEST_SECRET'] = 'hunter2';
    const spec = project(
      dir,
      [
        'all:',
        `\t-echo pwned > ${outside}`,
        '\t-echo pwned > /ksci/src/planted',
        '\t-echo pwned > /tmp/scratch && cat /tmp/scratch',
        '\tenv | sort > /ksci/obj/env.txt',
        `\ttest ! -e ${root}`,
        '\ttest ! -e /var/lib && test ! -e /run/redis && test ! -e /root && test ! -e /home',
        '\techo built > /ksci/obj/result',
        '',
      ].join('\n'),
    );
    const log = join(dir, 'log');
    try {
      const res = await runSandboxed(spec, { logFile: log, timeoutMs: 30_000 });
      assert.equal(res.exitCode, 0, readFileSync(log, 'utf8'));
    } finally {
      delete process.env['KSCI_TEST_SECRET'];
    }
    const text = readFileSync(log, 'utf8');
    assert.equal(existsSync(outside), false, 'nothing written outside');
    assert.equal(existsSync(join(dir, 'tree', 'planted')), false, 'the source is read-only');
    assert.match(text, /Read-only file system/);
    assert.equal(existsSync('/tmp/scratch') && readFileSync('/tmp/scratch', 'utf8') === 'pwned\n', false, "the sandbox's /tmp is its own");
    const env = readFileSync(join(dir, 'out', 'env.txt'), 'utf8');
    assert.doesNotMatch(env, /hunter2|KSCI_TEST_SECRET|REDIS|DATABASE/);
    assert.equal(readFileSync(join(dir, 'out', 'result'), 'utf8'), 'built\n');
  });

  it('stops a build that runs past its time, with everything it started', async () => {
    const dir = join(root, 'slow');
    const started = Date.now();
    const res = await runSandboxed(project(dir, 'all:\n\tsleep 300 & sleep 300\n'), { logFile: join(dir, 'log'), timeoutMs: 1500 });
    assert.equal(res.killed, 'timeout');
    assert.ok(Date.now() - started < 10_000, `stopped in ${Date.now() - started} ms`);
  });

  it('stops promptly when cancelled', async () => {
    const dir = join(root, 'cancel');
    const ac = new AbortController();
    setTimeout(() => ac.abort('superseded'), 500);
    const started = Date.now();
    const res = await runSandboxed(project(dir, 'all:\n\tsleep 300\n'), { logFile: join(dir, 'log'), timeoutMs: 60_000, signal: ac.signal });
    assert.equal(res.killed, 'cancelled');
    assert.ok(Date.now() - started < 8000);
  });

  it('caps file size per process and the build directory as a whole', async () => {
    const dir = join(root, 'big');
    const res = await runSandboxed(project(dir, 'all:\n\thead -c 2000000 /dev/zero > /ksci/obj/big\n'), { logFile: join(dir, 'log'), timeoutMs: 30_000 });
    assert.notEqual(res.exitCode, 0, 'a 2 MB file under a 1 MB RLIMIT_FSIZE must fail');
    const dir2 = join(root, 'fill');
    const fill = 'all:\n\tfor i in $$(seq 1 400); do head -c 500000 /dev/zero > /ksci/obj/f$$i; sleep 0.05; done\n';
    const res2 = await runSandboxed(project(dir2, fill), { logFile: join(dir2, 'log'), timeoutMs: 60_000, diskWatch: { dir: join(dir2, 'out'), maxBytes: 5_000_000, everyMs: 200 } });
    assert.equal(res2.killed, 'disk');
  });
});
