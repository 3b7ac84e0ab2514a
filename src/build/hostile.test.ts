import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { homedir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ArtifactStore } from '../artifacts/store.js';
import type { SandboxLimits } from '../sandbox/bwrap.js';
import { cgroupPlan } from '../sandbox/cgroup.js';
import { outputPath, readOutput, RefusedOutputError } from '../sandbox/outputs.js';
import { runSandboxed, sandboxAvailable, type SandboxRun } from '../sandbox/run.js';
import { kernelBuildSpec } from './kernel.js';

/**
 * Hostile build inputs, each run exactly as a kernel build runs: the spec
 * of kernelBuildSpec (the mounts, environment and ccache policy of
 * KernelBuilder) through runSandboxed, with make running the attacker's
 * Makefile. Each case fails naming what escaped.
 */

const available = await sandboxAvailable();
const required = process.env['KSCI_REQUIRE_E2E'] === '1';
const skip = !available.ok && !required ? `the sandbox cannot run here: ${available.ok ? '' : available.why}` : false;
const plan = cgroupPlan();

const LIMITS = { cpuSeconds: 120, fileBytes: 2 ** 30, memoryBytes: 2 * 2 ** 30, pids: 512, tmpBytes: 256 * 2 ** 20 };

describe('hostile builds (real bubblewrap, as kernel builds run)', { skip }, () => {
  let root: string;
  let ccacheDir: string;
  before(() => {
    // Not under /tmp: the sandbox has a /tmp of its own, so paths there would prove nothing.
    root = mkdtempSync(join(homedir(), '.ksci-hostile-'));
    ccacheDir = join(root, 'ccache');
    mkdirSync(ccacheDir);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  async function hostile(
    name: string,
    script: string,
    o: {
      trusted?: boolean;
      limits?: Partial<SandboxLimits>;
      files?: Record<string, string>;
      buildDirBytes?: number;
    } = {},
  ): Promise<{ run: SandboxRun; log: string; obj: string }> {
    const dir = join(root, name);
    const tree = join(dir, 'tree');
    const obj = join(dir, 'obj');
    const kconfigs = join(dir, 'kconfigs');
    for (const d of [tree, obj, kconfigs]) mkdirSync(d, { recursive: true });
    writeFileSync(join(tree, 'Makefile'), 'all:\n\tsh /ksci/src/hostile.sh\n');
    writeFileSync(join(tree, 'hostile.sh'), script);
    for (const [f, text] of Object.entries(o.files ?? {})) writeFileSync(join(tree, f), text);
    const spec = kernelBuildSpec({
      sourceDir: tree,
      objDir: obj,
      ccacheDir,
      ccacheMaxSize: '1G',
      kconfigDir: kconfigs,
      trusted: o.trusted ?? false,
      argv: ['make', '-s', '-f', '/ksci/src/Makefile'],
      limits: { ...LIMITS, ...o.limits },
    });
    const logFile = `${obj}.log`;
    const run = await runSandboxed(spec, {
      logFile,
      timeoutMs: 180_000,
      ...(o.buildDirBytes ? { diskWatch: { dir: obj, maxBytes: o.buildDirBytes, everyMs: 200 } } : {}),
    });
    return { run, log: readFileSync(logFile, 'utf8'), obj };
  }

  const escaped = (log: string) => log.split('\n').filter((l) => l.startsWith('ESCAPED'));

  it('writes no host sysctl, sysrq or /sys; /dev has the minimal nodes only', async () => {
    const watched = [
      'kernel/core_pattern',
      'kernel/panic_on_oops',
      'fs/suid_dumpable',
      'kernel/sysrq',
      'vm/overcommit_memory',
    ].filter((k) => existsSync(`/proc/sys/${k}`));
    const before = watched.map((k) => readFileSync(`/proc/sys/${k}`, 'utf8'));
    const { log } = await hostile(
      'sysctl',
      [
        'n=0',
        'for f in $(find /proc/sys -type f 2>/dev/null); do',
        '  v=$(cat "$f" 2>/dev/null) || continue',
        '  [ -n "$v" ] || continue',
        '  n=$((n+1))',
        // The same value back: harmless on the host if it ever lands, and it would say so.
        '  if (printf "%s\\n" "$v" > "$f") 2>/dev/null; then echo "ESCAPED: wrote $f"; fi',
        'done',
        'echo "tried $n sysctls"',
        'for f in /proc/sys/vm/drop_caches /proc/sys/vm/compact_memory; do (echo 1 > $f) 2>/dev/null && echo "ESCAPED: wrote $f"; done',
        // "h" only prints sysrq help to the kernel log.
        '(echo h > /proc/sysrq-trigger) 2>/dev/null && echo "ESCAPED: wrote /proc/sysrq-trigger"',
        '(echo "|/bin/sh -c id" > /proc/sys/kernel/core_pattern) 2>&1 | sed "s/^/core_pattern: /"',
        'test -e /sys/kernel && echo "ESCAPED: /sys is mounted"',
        'echo "dev: $(ls -A /dev | tr "\\n" " ")"',
        'id -u | sed "s/^/uid: /"',
        '',
      ].join('\n'),
    );
    assert.deepEqual(escaped(log), [], 'the build wrote host kernel knobs');
    const tried = Number(/tried (\d+) sysctls/.exec(log)?.[1] ?? 0);
    assert.ok(tried > 100, `only ${tried} sysctls were tried: the probe itself is broken\n${log}`);
    assert.match(log, /core_pattern: .*(Read-only file system|Permission denied)/);
    assert.deepEqual(
      watched.map((k) => readFileSync(`/proc/sys/${k}`, 'utf8')),
      before,
      'host sysctls changed',
    );
    assert.notEqual(/uid: (\d+)/.exec(log)?.[1], '0', 'the build ran as root');
    const dev = (/dev: (.*)/.exec(log)?.[1] ?? '').trim().split(/\s+/);
    const minimal = [
      'console',
      'core',
      'fd',
      'full',
      'null',
      'ptmx',
      'pts',
      'random',
      'shm',
      'stderr',
      'stdin',
      'stdout',
      'tty',
      'urandom',
      'zero',
    ];
    assert.deepEqual(
      dev.filter((d) => !minimal.includes(d)),
      [],
      `device nodes beyond the minimal set: ${dev.join(' ')}`,
    );
  });

  it('makes no user namespace of its own, and reaches no keyring, bpf(), perf_event_open or io_uring', async () => {
    const { log } = await hostile(
      'syscalls',
      [
        // Inside a new user namespace it would be root again: mounts of its own, outside every size cap.
        'unshare -Ur true 2>/dev/null && echo "ESCAPED: created a user namespace"',
        'unshare -Urm sh -c "mount -t tmpfs none /tmp" 2>/dev/null && echo "ESCAPED: mounted a tmpfs of its own"',
        // Raw syscalls, so no tool can fall back quietly: keyctl(250), bpf(321), perf_event_open(298), io_uring_setup(425).
        `perl -e 'for ([keyctl => 250, 0, 0], [bpf => 321, 0, 0, 0], [perf_event_open => 298, 0, 0, -1, -1, 0], [io_uring_setup => 425, 1, 0]) { my ($n, $nr, @a) = @$_; my $r = syscall($nr, @a); print "$n: $!\\n"; print "ESCAPED: $n returned $r\\n" if $r >= 0 }'`,
        '',
      ].join('\n'),
    );
    assert.deepEqual(escaped(log), [], 'the seccomp filter let a refused syscall through');
    assert.match(log, /keyctl: Operation not permitted/);
    assert.match(log, /io_uring_setup: Function not implemented/);
  });

  it('cannot signal or ptrace a host process', async () => {
    const victim = spawn('sleep', ['300'], { stdio: 'ignore' });
    const pid = victim.pid!;
    try {
      const { log } = await hostile(
        'ptrace',
        [
          `kill -TERM ${pid} 2>/dev/null && echo "ESCAPED: signalled host pid ${pid}"`,
          `kill -KILL ${pid} 2>/dev/null && echo "ESCAPED: killed host pid ${pid}"`,
          // PTRACE_ATTACH (16) through the raw syscall (101): no debugger needed.
          `perl -e 'syscall(101, 16, ${pid}, 0, 0) == 0 and print "ESCAPED: ptrace-attached host pid ${pid}\\n"'`,
          `grep -q "sleep" /proc/${pid}/cmdline 2>/dev/null && echo "ESCAPED: sees host pid ${pid}"`,
          'true',
          '',
        ].join('\n'),
      );
      assert.deepEqual(escaped(log), [], 'the build reached a host process');
      assert.equal(victim.exitCode, null, 'the host process was killed');
      assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /TracerPid:\s+0\n/, 'the host process is being traced');
    } finally {
      victim.kill();
    }
  });

  describe('sees no secret of the host', () => {
    let secrets: string;
    let sock: Server;
    let unixConnections = 0;
    before(async () => {
      // A data directory as the coordinator has it: a key file, a Redis socket, another run's build.
      secrets = join(root, 'data');
      mkdirSync(join(secrets, 'work', 'other-run-build'), { recursive: true });
      writeFileSync(join(secrets, 'github-app.pem'), 'SECRET-KEY-MATERIAL\n');
      writeFileSync(join(secrets, 'work', 'other-run-build', '.config'), 'SECRET-OTHER-RUN\n');
      sock = createServer((s) => {
        unixConnections++;
        s.end('SECRET-REDIS\n');
      });
      await new Promise<void>((r) => sock.listen(join(secrets, 'redis.sock'), r));
    });
    after(() => new Promise<void>((r) => sock.close(() => r())));

    it('reads nothing of /root, ~/.ssh, the key file, another run, the data dir or its Redis socket', async () => {
      const targets = [
        '/root',
        join(homedir(), '.ssh'),
        '/etc/shadow',
        join(secrets, 'github-app.pem'),
        join(secrets, 'work', 'other-run-build', '.config'),
        secrets,
        '/proc/1/root/root',
        `/proc/${process.pid}/environ`,
      ];
      const { log } = await hostile(
        'secrets',
        [
          ...targets.map((t) => `(cat "${t}" || ls -A "${t}") >/dev/null 2>&1 && echo "ESCAPED: read ${t}"`),
          `perl -MSocket -e 'socket(S, AF_UNIX, SOCK_STREAM, 0) or die; connect(S, pack_sockaddr_un("${join(secrets, 'redis.sock')}")) and print "ESCAPED: connected to the Redis socket\\n"'`,
          'true',
          '',
        ].join('\n'),
      );
      assert.deepEqual(escaped(log), [], 'the build read host secrets');
      assert.doesNotMatch(log, /SECRET-/, 'secret content in the build log');
      assert.equal(unixConnections, 0, 'the build connected to the Redis socket');
    });
  });

  it('reaches no socket: not a loopback TCP listener, not an abstract unix socket', async () => {
    let connections = 0;
    const onConn = (s: import('node:net').Socket) => {
      connections++;
      s.end('hello\n');
    };
    const tcp = createServer(onConn);
    const abstractName = `ksci-hostile-${randomBytes(4).toString('hex')}`;
    const abstract = createServer(onConn);
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => abstract.listen(`\0${abstractName}`, r));
    const port = (tcp.address() as { port: number }).port;
    try {
      const { log } = await hostile(
        'sockets',
        [
          `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}' 2>/dev/null && echo "ESCAPED: connected to 127.0.0.1:${port}"`,
          `perl -MSocket -e 'socket(S, AF_UNIX, SOCK_STREAM, 0) or die; connect(S, pack_sockaddr_un("\\0${abstractName}")) and print "ESCAPED: connected to the abstract socket\\n"'`,
          'true',
          '',
        ].join('\n'),
      );
      assert.deepEqual(escaped(log), [], 'the build reached a host socket');
      assert.equal(connections, 0, 'a host listener saw the build');
    } finally {
      await Promise.all([tcp, abstract].map((s) => new Promise((r) => s.close(r))));
    }
  });

  it('a fork bomb stops at the process cap', async () => {
    const { run, log } = await hostile(
      'forkbomb',
      `perl -e 'my $n = 0; for (1..1000) { my $p = fork(); last unless defined $p; if ($p == 0) { sleep 60; exit 0 } $n++ } print "forked $n\\n"'\n`,
      { limits: { pids: 64 } },
    );
    const forked = Number(/forked (\d+)/.exec(log)?.[1] ?? -1);
    assert.ok(forked >= 0, `the probe did not report\n${log}`);
    assert.ok(forked < 64, `${forked} processes forked past a cap of 64`);
    if (plan) assert.equal(run.processCapHit, true, 'the cgroup did not record the refused forks');
  });

  it('memory is capped: a 1 GiB allocation under a 256 MiB cap is killed', {
    skip:
      plan?.v2Controllers.includes('memory') || plan?.v1Parents.memory
        ? false
        : 'no memory cgroup here (not root, or none offered): memory is not capped, as `ksci config check` says',
  }, async () => {
    const { run, log } = await hostile(
      'memory',
      `perl -e '$x = "x" x (1024 * 1024 * 1024); print "ESCAPED: allocated 1 GiB\\n"'\n`,
      { limits: { memoryBytes: 256 * 2 ** 20 } },
    );
    assert.deepEqual(escaped(log), [], 'the build allocated past its memory cap');
    assert.notEqual(run.exitCode, 0);
    assert.equal(run.outOfMemory, true, 'the OOM kill was not recorded');
  });

  it('/tmp and /dev/shm are capped tmpfs, and a build dir past its cap is stopped', async () => {
    const { log } = await hostile(
      'fill',
      [
        'head -c 1073741824 /dev/zero > /tmp/fill 2>/dev/null',
        'head -c 1073741824 /dev/zero > /dev/shm/fill 2>/dev/null',
        'echo "tmp $(stat -c %s /tmp/fill) shm $(stat -c %s /dev/shm/fill)"',
        '',
      ].join('\n'),
      { limits: { tmpBytes: 32 * 2 ** 20, shmBytes: 16 * 2 ** 20 } },
    );
    const m = /tmp (\d+) shm (\d+)/.exec(log);
    assert.ok(m, log);
    assert.ok(Number(m[1]) <= 32 * 2 ** 20, `/tmp took ${m[1]} bytes past a 32 MiB cap`);
    assert.ok(Number(m[2]) <= 16 * 2 ** 20, `/dev/shm took ${m[2]} bytes past a 16 MiB cap`);
    const disk = await hostile(
      'fill-obj',
      'i=0; while :; do i=$((i+1)); head -c 1000000 /dev/zero > /ksci/obj/f$i; done\n',
      { buildDirBytes: 20_000_000 },
    );
    assert.equal(disk.run.killed, 'disk', 'filling the build directory was not stopped');
  });

  it('leaves no process behind: a setsid daemon and a double fork are gone when the build ends', async () => {
    const nonce = randomBytes(6).toString('hex');
    const { run } = await hostile(
      'daemon',
      [
        `setsid perl -e '$0 = "ksci-daemon-${nonce}"; $SIG{TERM} = $SIG{HUP} = "IGNORE"; sleep 600' </dev/null >/dev/null 2>&1 &`,
        `perl -e 'fork and exit; fork and exit; $0 = "ksci-daemon-${nonce}"; $SIG{TERM} = "IGNORE"; sleep 600' </dev/null >/dev/null 2>&1`,
        'sleep 0.5',
        '',
      ].join('\n'),
    );
    assert.equal(run.exitCode, 0);
    const left = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && readQuiet(`/proc/${p}/cmdline`).includes(nonce));
    assert.deepEqual(left, [], `processes the build left running: ${left.join(', ')}`);
  });

  it('cannot poison ccache: a fake gcc posing as the real one plants nothing a later build takes', async () => {
    const gcc = '/usr/bin/x86_64-linux-gnu-gcc-12';
    const real = existsSync(gcc) ? gcc : '/usr/bin/gcc';
    const files = {
      'a.c': 'int f(void) { return 42; }\n',
      'b.c': 'int g(void) { return 7; }\n',
      'main.c': 'int f(void);\nint main(void) { return f(); }\n',
      // The attack: a script with the real compiler's size and mtime (ccache's default compiler check) that compiles something else.
      'fake-gcc': `#!/bin/sh\nout=; while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done\nprintf 'int f(void) { return 66; }\\n' > /tmp/evil.c\nexec ${real} -c /tmp/evil.c -o "$out"\n`,
    };
    // A trusted build first, so the shared cache has entries to overwrite.
    const warm = await hostile('ccache-warm', 'ccache gcc -c /ksci/src/b.c -o b.o && echo warmed\n', {
      trusted: true,
      files,
    });
    assert.match(warm.log, /warmed/, warm.log);
    const snapshot = () => treeDigest(ccacheDir);
    const before = snapshot();
    const attack = await hostile(
      'ccache-attack',
      [
        'mkdir -p /tmp/bin && cp /ksci/src/fake-gcc /tmp/bin/gcc && chmod +x /tmp/bin/gcc',
        `truncate -s $(stat -c %s ${real}) /tmp/bin/gcc && touch -r ${real} /tmp/bin/gcc`,
        // Undo what ksci tells ccache, as any Makefile can.
        'env -u CCACHE_READONLY -u CCACHE_NOSTATS PATH=/tmp/bin:/usr/bin ccache gcc -c /ksci/src/a.c -o a.o',
        'touch /ksci/ccache/planted 2>/dev/null && echo "ESCAPED: wrote into the shared ccache"',
        'find /ksci/ccache -type f | head -50 | while read f; do (echo evil > "$f") 2>/dev/null && echo "ESCAPED: overwrote $f"; done',
        'true',
        '',
      ].join('\n'),
      { files },
    );
    assert.deepEqual(escaped(attack.log), [], 'the series build wrote the shared ccache');
    assert.equal(snapshot(), before, 'the shared ccache changed during a series build');
    const next = await hostile(
      'ccache-next',
      'ccache gcc -c /ksci/src/a.c -o a.o && gcc -o prog /ksci/src/main.c a.o && { ./prog; echo "f() = $?"; }\n',
      { trusted: true, files },
    );
    assert.match(next.log, /f\(\) = 42/, `a later build took the planted object:\n${next.log}`);
  });

  it('outputs replaced by links to host files are refused, not read or stored', async () => {
    const secret = join(root, 'data-secret.pem');
    writeFileSync(secret, 'SECRET-KEY-MATERIAL\n');
    const { obj } = await hostile(
      'links',
      [
        'mkdir -p /ksci/obj/arch/x86',
        `ln -s ${secret} /ksci/obj/.config`,
        `ln -s ${root} /ksci/obj/arch/x86/boot`,
        `ln -s ${secret} /ksci/obj/vmlinux`,
        `mkfifo /ksci/obj/System.map`,
        '',
      ].join('\n'),
    );
    assert.throws(() => readOutput(obj, '.config'), RefusedOutputError, '.config was read through a link');
    assert.throws(
      () => outputPath(obj, 'arch/x86/boot/data-secret.pem'),
      RefusedOutputError,
      'a path through a linked directory was accepted',
    );
    const store = new ArtifactStore(join(root, 'artifacts'));
    for (const f of ['vmlinux', 'System.map'])
      assert.throws(() => store.put('b'.repeat(64), [join(obj, f)], {}), RefusedOutputError, `${f} was stored`);
    assert.equal(
      existsSync(join(root, 'artifacts')) &&
        readdirSync(join(root, 'artifacts'), { recursive: true }).some((f) => String(f).endsWith('vmlinux')),
      false,
      'a linked file reached the artifact store',
    );
  });
});

/** A digest of every file's path, size and content under dir. */
function treeDigest(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else h.update(`${relative(dir, p)}\0${statSync(p).size}\0`).update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

function readQuiet(f: string): string {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return '';
  }
}
