import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fixturePath } from '../testing/paths.js';
import { parseEnvFile, parsePktgenDevice, parseRunFiles } from './parse.js';

const capture = (name: string) => readFileSync(fixturePath('pktgen', name), 'utf8');

describe('parsePktgenDevice on real /proc/net/pktgen files (Debian 6.12.117, QEMU)', () => {
  it('a finished run: every figure of the Result and pps lines, and the run-shaping params', () => {
    const r = parsePktgenDevice(capture('shared-dummy0.txt'), 'dummy0', { count: 1_000_000 });
    assert.ok(r.ok);
    const { params, ...figures } = r.result;
    assert.deepEqual(figures, {
      device: 'dummy0',
      packets: 1_000_000,
      usec: 2_686_059,
      idleUsec: 2119,
      pktSize: 64,
      frags: 0,
      pps: 372_292,
      mbps: 190,
      bps: 190_613_504,
      errors: 0,
    });
    assert.equal(params['count'], '1000000');
    assert.equal(params['clone_skb'], '0');
    assert.equal(params['dst_min'], '10.0.0.1');
    assert.equal(params['src_min'], undefined, 'an empty value does not swallow the next key');
  });

  it('a device that never ran, or only took parameters, is not a result', () => {
    const idle = parsePktgenDevice(capture('idle.txt'), 'dummy0@0');
    assert.deepEqual(idle, { ok: false, device: 'dummy0@0', reason: 'pktgen never ran on dummy0@0 (Result: Idle)' });
    const param = parsePktgenDevice(capture('param-ok.txt'), 'dummy0@0');
    assert.ok(!param.ok);
    assert.match(param.reason, /did not finish a run on dummy0@0: "Result: OK: count=100000"/);
    const refused = parsePktgenDevice(capture('refused.txt'), 'dummy0@0');
    assert.ok(!refused.ok);
    assert.match(refused.reason, /No such parameter "bogus_param"/);
  });

  it('a run that sent nothing (veth with its peer down) says so', () => {
    const r = parsePktgenDevice(capture('errors.txt'), 'cap0@0');
    assert.ok(!r.ok);
    assert.match(r.reason, /sent nothing on cap0@0 \(0 packets/);
  });

  it('a run stopped before its count is refused; the same file counts as a duration run', () => {
    const early = parsePktgenDevice(capture('stopped.txt'), 'dummy0@0', { count: 1_000_000 });
    assert.ok(!early.ok);
    assert.match(early.reason, /stopped early: 537965 of 1000000 packets sent/);
    const duration = parsePktgenDevice(capture('stopped.txt'), 'dummy0@0');
    assert.ok(duration.ok);
    assert.equal(duration.result.pps, 569_186);
  });

  it('transmit errors invalidate a run; in netif_receive mode they are drops and do not', () => {
    const rx = capture('rx-meta-netif-receive.txt');
    const r = parsePktgenDevice(rx, 'ksci-rx0@0', { count: 50_000 });
    assert.ok(r.ok);
    assert.equal(r.result.params['xmit_mode'], 'netif_receive');
    assert.equal(r.result.errors, 50_000);
    const asXmit = parsePktgenDevice(rx.replace(/^\s*xmit_mode: netif_receive\n/m, ''), 'ksci-rx0@0');
    assert.ok(!asXmit.ok);
    assert.match(asXmit.reason, /counted 50000 transmit errors on ksci-rx0@0/);
  });

  it('a file that is not a pktgen device file', () => {
    const r = parsePktgenDevice('Running: dummy0@0\nStopped:\n', 'kpktgend_0');
    assert.ok(!r.ok);
    assert.match(r.reason, /no "Result:" line/);
  });
});

describe('parseRunFiles', () => {
  const threads = {
    'pktgen.dummy0@0': capture('threads-dummy0@0.txt'),
    'pktgen.dummy0@1': capture('threads-dummy0@1.txt'),
    env: capture('env.txt'),
  };

  it('sums the threads of one run and ignores files that are not device files', () => {
    const r = parseRunFiles(threads, { count: 50_000 });
    assert.ok(r.ok);
    assert.deepEqual(
      r.results.map((x) => x.device),
      ['dummy0@0', 'dummy0@1'],
    );
    assert.equal(r.pps, r.results[0]!.pps + r.results[1]!.pps);
    assert.ok(r.results.every((x) => x.packets === 50_000));
  });

  it('one bad thread spoils the run: it would otherwise read as lower throughput', () => {
    const r = parseRunFiles({ ...threads, 'pktgen.dummy0@1': capture('idle.txt') }, { count: 50_000 });
    assert.deepEqual(r, { ok: false, reason: 'pktgen never ran on dummy0@1 (Result: Idle)' });
  });

  it('no device file at all', () => {
    assert.deepEqual(parseRunFiles({ env: 'x=1' }), {
      ok: false,
      reason: 'the scenario left no pktgen.<device> file: pktgen did not run',
    });
  });

  it('the environment file', () => {
    const env = parseEnvFile(capture('env.txt'));
    assert.equal(env['kernel_release'], '6.12.117+deb12-amd64');
    assert.equal(env['cpu_model'], 'QEMU TCG CPU version 2.5+');
    assert.equal(env['governor'], 'none');
    assert.match(env['kernel_version']!, /^Linux version 6\.12\.117\+deb12-amd64 \(debian-kernel@lists\.debian\.org\)/);
  });
});
