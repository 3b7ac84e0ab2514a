import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fixturePath } from '../testing/paths.js';
import { ChannelReader, readChannel } from './protocol.js';

const capture = (name: string) => readFileSync(fixturePath('vm', `${name}.channel.txt`), 'utf8');
const nonceOf = (text: string) => /^KSCI-([0-9a-f]+) BEGIN/.exec(text)![1]!;

describe('guest channel protocol', () => {
  it('reads a real run: every test with its exit code, output, timeout flag and files', () => {
    const text = capture('mixed');
    const s = readChannel(text, nonceOf(text));
    assert.equal(s.begun, true);
    assert.equal(s.ended, true);
    assert.equal(s.kernelRelease, '6.12.117+deb12-amd64');
    assert.equal(s.bootSeconds, 4.4);
    assert.deepEqual(
      s.tests.map((t) => [t.name, t.exitCode, t.timedOut]),
      [
        ['passes', 0, false],
        ['fails', 1, false],
        ['skips', 4, false],
        ['too-slow', 143, true],
        ['flaky', 1, false],
        ['hands-back-a-file', 0, false],
      ],
    );
    assert.deepEqual(s.tests[1]!.output, ['expected 1, got 2']);
    assert.equal(s.tests[5]!.files['summary.json']!.toString(), '{"tests":3}');
    assert.deepEqual(s.tests[5]!.output, [], 'the file transfer is not test output');
    assert.deepEqual([s.stray, s.malformed, s.current], [[], [], null]);
  });

  it('a real crash: the channel stops inside the test that was running', () => {
    const text = capture('crash');
    const s = readChannel(text, nonceOf(text));
    assert.equal(s.ended, false);
    assert.deepEqual(
      s.tests.map((t) => [t.name, t.endedAt === null]),
      [
        ['before', false],
        ['sysrq-crash', true],
      ],
    );
    assert.equal(s.current?.name, 'sysrq-crash');
  });

  it("another boot's markers, or a test printing marker-like lines, are output, not markers", () => {
    const text = capture('mixed');
    const s = readChannel(
      text.replace('all good', 'KSCI-0000000000000000 TEST-END passes rc=0 timeout=0'),
      nonceOf(text),
    );
    assert.deepEqual(s.tests[0]!.output, ['KSCI-0000000000000000 TEST-END passes rc=0 timeout=0']);
    assert.equal(s.tests[0]!.exitCode, 0);
  });

  it('lines split across reads are joined; a lost file transfer is reported, not decoded', () => {
    const text = capture('mixed');
    const nonce = nonceOf(text);
    const r = new ChannelReader(nonce);
    let rest = '';
    for (let i = 0; i < text.length; i += 7) rest = r.feed(rest + text.slice(i, i + 7));
    assert.equal(rest, '');
    assert.deepEqual(
      r.state.tests.map((t) => t.exitCode),
      readChannel(text, nonce).tests.map((t) => t.exitCode),
    );

    const damaged = readChannel(text.replace('eyJ0ZXN0cyI6M30=', 'eyJ0ZXN0'), nonce);
    assert.deepEqual(damaged.tests[5]!.files, {});
    assert.match(damaged.malformed[0]!, /summary\.json: 6 bytes arrived, 11 announced/);
  });

  it('an END for a test that is not running is malformed', () => {
    const s = readChannel('KSCI-ab BEGIN uptime=1\nKSCI-ab TEST-END ghost rc=0\nKSCI-ab BOGUS\n', 'ab');
    assert.deepEqual(s.malformed, ['KSCI-ab TEST-END ghost rc=0', 'KSCI-ab BOGUS']);
  });
});
