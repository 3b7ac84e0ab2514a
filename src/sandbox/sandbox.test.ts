import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ArtifactStore } from '../artifacts/store.js';
import { bwrapArgs, parentDirs, type SandboxContext, type SandboxSpec } from './bwrap.js';
import { parseCgroupMounts, parseProcCgroup, planCgroups } from './cgroup.js';
import { decideIdentity, parsePasswd } from './identity.js';
import { outputPath, readOutput, RefusedOutputError } from './outputs.js';
import { runSandboxed, sandboxAvailable } from './run.js';
import { seccompFilter } from './seccomp.js';

const fixtures = fileURLToPath(new URL('../../../test/fixtures/sandbox/', import.meta.url));
const available = await sandboxAvailable();
const required = process.env['KSCI_REQUIRE_E2E'] === '1';
const skip = !available.ok && !required ? `the sandbox cannot run here: ${available.ok ? '' : available.why}` : false;

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
  const host = {
    exists: (p: string) => ['/bin', '/lib', '/lib64', '/sbin'].includes(p),
    symlinkTarget: (p: string) => (p === '/lib64' ? null : `usr${p}`),
  };
  const spec: SandboxSpec = {
    binds: [
      { host: '/h/src', inside: '/ksci/src', writable: false },
      { host: '/h/obj', inside: '/ksci/obj', writable: true },
    ],
    cwd: '/ksci/obj',
    env: { PATH: '/usr/bin' },
    argv: ['make'],
    limits: { cpuSeconds: 10, fileBytes: 100, tmpBytes: 1000, shmBytes: 10 },
  };
  const asRoot: SandboxContext = {
    identity: { mode: 'sandbox-user', user: 'ksci-sandbox', uid: 999, gid: 995 },
    seccompFd: 3,
    nprocLimit: false,
    groups: [],
  };

  it('as root: no user namespace (it would map to host root), setpriv drops to the sandbox user before the command', () => {
    const s = bwrapArgs(spec, asRoot, host).join(' ');
    assert.match(
      s,
      /^--unshare-ipc --unshare-pid --unshare-net --unshare-uts --unshare-cgroup-try --cap-drop ALL --cap-add CAP_SETUID --cap-add CAP_SETGID /,
    );
    assert.doesNotMatch(s, /--unshare-all|--unshare-user/);
    assert.match(s, /--seccomp 3/);
    assert.match(
      s,
      /-- \/usr\/bin\/setpriv --reuid=999 --regid=995 --clear-groups --inh-caps=-all --no-new-privs -- \/usr\/bin\/prlimit --cpu=10 --fsize=100 --core=0 -- make$/,
    );
  });

  it('unprivileged: bwrap runs the command in a user namespace of its own, no setpriv', () => {
    const s = bwrapArgs(spec, { ...asRoot, identity: { mode: 'invoking-user', uid: 1000, gid: 1000 } }, host).join(' ');
    assert.match(s, /^--unshare-all --unshare-user --cap-drop ALL /);
    assert.doesNotMatch(s, /setpriv|CAP_SETUID/);
  });

  it('mounts: system dirs read-only, a capped /tmp and /dev/shm, /proc/sys read-only, no /sys, only the binds given', () => {
    const s = bwrapArgs(spec, { ...asRoot, nprocLimit: true, groups: [994] }, host).join(' ');
    assert.match(s, /--symlink usr\/bin \/bin/);
    assert.match(s, /--ro-bind \/lib64 \/lib64 --perms 0755 --dir \/etc --ro-bind-try \/etc\/alternatives/);
    assert.match(s, /--dev \/dev --perms 1777 --size 10 --tmpfs \/dev\/shm/);
    assert.match(
      s,
      /--proc \/proc --ro-bind \/proc\/sys \/proc\/sys --ro-bind-try \/proc\/sysrq-trigger \/proc\/sysrq-trigger/,
    );
    assert.match(s, /--perms 1777 --size 1000 --tmpfs \/tmp/);
    assert.match(s, /--perms 0755 --dir \/ksci --ro-bind \/h\/src \/ksci\/src --bind \/h\/obj \/ksci\/obj/);
    assert.match(s, /--clearenv --setenv PATH \/usr\/bin --/);
    assert.match(s, /--groups=994 /);
    assert.match(s, /--nproc=4096 -- make$/);
    assert.doesNotMatch(s, /--share-net|--bind \/ |--ro-bind \/ \/|(?:bind|bind-try) \/sys /);
  });

  it('parentDirs: what no bind provides, outermost first', () => {
    assert.deepEqual(parentDirs(['/ksci/vm/kernel', '/ksci/vm/initramfs', '/ksci/out']), ['/ksci', '/ksci/vm']);
    assert.deepEqual(parentDirs(['/ksci/src', '/ksci/src/tools/testing/selftests/bpf']), ['/ksci']);
  });
});

describe('sandbox identity', () => {
  const passwd = parsePasswd(
    'root:x:0:0:root:/root:/bin/bash\nksci-sandbox:x:999:995::/nonexistent:/usr/sbin/nologin\nbroken line\n',
  );
  it('a root worker drops to the sandbox user', () => {
    assert.deepEqual(decideIdentity(0, 0, 'ksci-sandbox', passwd), {
      mode: 'sandbox-user',
      user: 'ksci-sandbox',
      uid: 999,
      gid: 995,
    });
  });
  it('a root worker without the sandbox user refuses, saying how to create it', () => {
    assert.throws(
      () => decideIdentity(0, 0, 'nobody-here', passwd),
      /never run as host root.*"nobody-here".*does not exist/,
    );
    assert.throws(() => decideIdentity(0, 0, 'root', passwd), /root is what the sandbox exists to avoid/);
  });
  it('an unprivileged worker runs untrusted code as itself', () => {
    assert.deepEqual(decideIdentity(1000, 1000, 'ksci-sandbox', []), { mode: 'invoking-user', uid: 1000, gid: 1000 });
  });
});

describe('cgroup plan (captured mountinfo)', () => {
  it('hybrid host: pids and memory from v1 (memory nested under the worker own group), cgroup.kill from the unified hierarchy', () => {
    const mounts = parseCgroupMounts(readFileSync(join(fixtures, 'hybrid.mountinfo'), 'utf8'));
    assert.equal(mounts.filter((m) => m.version === 1).length, 9);
    const v2 = mounts.find((m) => m.version === 2)!;
    v2.controllers = ['hugetlb'];
    const plan = planCgroups(mounts, parseProcCgroup(readFileSync(join(fixtures, 'hybrid.cgroup'), 'utf8')));
    assert.deepEqual(plan, {
      v2Parent: '/sys/fs/cgroup/unified/ksci.sandbox',
      v2Controllers: [],
      v1Parents: {
        pids: '/sys/fs/cgroup/pids/ksci.sandbox',
        memory: '/sys/fs/cgroup/memory/process_api/b97cedd9d76429c0959ae6b772a0b01c/ksci.sandbox',
      },
    });
  });
  it('pure v2 host: both controllers on the unified hierarchy', () => {
    const mounts = parseCgroupMounts(readFileSync(join(fixtures, 'v2.mountinfo'), 'utf8'));
    mounts[0]!.controllers = ['cpuset', 'cpu', 'io', 'memory', 'pids'];
    const plan = planCgroups(mounts, parseProcCgroup(readFileSync(join(fixtures, 'v2.cgroup'), 'utf8')));
    assert.deepEqual(plan, {
      v2Parent: '/sys/fs/cgroup/ksci.sandbox',
      v2Controllers: ['pids', 'memory'],
      v1Parents: {},
    });
  });
});

describe('seccomp filter', () => {
  it('is whole instructions, checks the arch first and ends allowing', () => {
    const f = seccompFilter();
    assert.equal(f.length % 8, 0);
    assert.equal(f.readUInt16LE(0), 0x20, 'load');
    assert.equal(f.readUInt32LE(4), 4, 'of seccomp_data.arch');
    assert.equal(f.readUInt32LE(12), 0xc000003e, 'compared with AUDIT_ARCH_X86_64');
  });
});

describe('outputs a sandboxed run left', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'ksci-outputs-'));
    writeFileSync(join(root, 'secret'), 'host secret\n');
    mkdirSync(join(root, 'obj', 'arch', 'x86'), { recursive: true });
    writeFileSync(join(root, 'obj', '.config'), 'CONFIG_X=y\n');
    symlinkSync(join(root, 'secret'), join(root, 'obj', 'bzImage'));
    symlinkSync(root, join(root, 'obj', 'arch', 'x86', 'boot'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('reads regular files, refuses a link as the file or anywhere in its path', () => {
    assert.equal(readOutput(join(root, 'obj'), '.config'), 'CONFIG_X=y\n');
    assert.throws(() => readOutput(join(root, 'obj'), 'bzImage'), RefusedOutputError);
    assert.throws(() => outputPath(join(root, 'obj'), 'arch/x86/boot/secret'), /arch\/x86\/boot is a symbolic link/);
    assert.throws(() => outputPath(join(root, 'obj'), '../secret'), /leaves the output directory/);
  });

  it('the artifact store never copies through a link', () => {
    const store = new ArtifactStore(join(root, 'artifacts'));
    assert.throws(() => store.put('a'.repeat(64), [join(root, 'obj', 'bzImage')], {}), RefusedOutputError);
    assert.equal(store.get('a'.repeat(64)), null);
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
    const spec = project(
      dir,
      `all:\n\tbash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}; cat <&3'\n\tbash -c 'exec 3<>/dev/tcp/192.0.2.1/80' || echo OUTSIDE-UNREACHABLE\n`,
    );
    const log = join(dir, 'log');
    const res = await runSandboxed(spec, { logFile: log, timeoutMs: 30_000 });
    assert.notEqual(res.exitCode, 0);
    assert.equal(connections, 0, 'the host listener must never see the build');
    assert.match(readFileSync(log, 'utf8'), /Connection refused/);
    const res2 = await runSandboxed(project(join(root, 'net2'), `all:\n\tbash -c 'exec 3<>/dev/tcp/192.0.2.1/80'\n`), {
      logFile: join(root, 'net2', 'log'),
      timeoutMs: 30_000,
    });
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
    assert.match(text, /Read-only file system|Permission denied/);
    assert.equal(
      existsSync('/tmp/scratch') && readFileSync('/tmp/scratch', 'utf8') === 'pwned\n',
      false,
      "the sandbox's /tmp is its own",
    );
    const env = readFileSync(join(dir, 'out', 'env.txt'), 'utf8');
    assert.doesNotMatch(env, /hunter2|KSCI_TEST_SECRET|REDIS|DATABASE/);
    assert.equal(readFileSync(join(dir, 'out', 'result'), 'utf8'), 'built\n');
  });

  it('stops a build that runs past its time, with everything it started', async () => {
    const dir = join(root, 'slow');
    const res = await runSandboxed(project(dir, 'all:\n\tsleep 300 & sleep 300\n'), {
      logFile: join(dir, 'log'),
      timeoutMs: 1500,
    });
    assert.equal(res.killed, 'timeout');
  });

  it('stops promptly when cancelled', async () => {
    const dir = join(root, 'cancel');
    const ac = new AbortController();
    setTimeout(() => ac.abort('superseded'), 500);
    const res = await runSandboxed(project(dir, 'all:\n\tsleep 300\n'), {
      logFile: join(dir, 'log'),
      timeoutMs: 60_000,
      signal: ac.signal,
    });
    assert.equal(res.killed, 'cancelled');
  });

  it('caps file size per process and the build directory as a whole', async () => {
    const dir = join(root, 'big');
    const res = await runSandboxed(project(dir, 'all:\n\thead -c 2000000 /dev/zero > /ksci/obj/big\n'), {
      logFile: join(dir, 'log'),
      timeoutMs: 30_000,
    });
    assert.notEqual(res.exitCode, 0, 'a 2 MB file under a 1 MB RLIMIT_FSIZE must fail');
    const dir2 = join(root, 'fill');
    const fill = 'all:\n\tfor i in $$(seq 1 400); do head -c 500000 /dev/zero > /ksci/obj/f$$i; sleep 0.05; done\n';
    const res2 = await runSandboxed(project(dir2, fill), {
      logFile: join(dir2, 'log'),
      timeoutMs: 60_000,
      diskWatch: { dir: join(dir2, 'out'), maxBytes: 5_000_000, everyMs: 200 },
    });
    assert.equal(res2.killed, 'disk');
  });
});
