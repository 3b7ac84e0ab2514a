import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { BadInputError } from '../errors.js';
import { splitMbox } from '../mail/mbox.js';
import { fixturePath } from '../testing/paths.js';
import { IncompleteSeriesError } from './assemble.js';
import { checkPatchSafety, parseDiffFiles } from './diff.js';
import { parseMbox } from './load.js';
import { parseSubject } from './subject.js';
import { extractTrailers } from './trailers.js';

const limits = { maxMboxBytes: 64 << 20, maxMessageBytes: 10 << 20, maxPatches: 500 };
const thread = () => readFileSync(fixturePath('mail', 'thread-v1-v3.mbox'));

describe('parseSubject', () => {
  const cases: [string, Partial<ReturnType<typeof parseSubject>>][] = [
    [
      '[PATCH bpf-next v3 2/7] net: foo',
      { isPatch: true, version: 3, counter: 2, total: 7, treeTags: ['bpf-next'], title: 'net: foo' },
    ],
    [
      '[RFC PATCH net-next] net: skb metadata',
      { isRfc: true, isPatch: true, version: 1, counter: null, treeTags: ['net-next'], title: 'net: skb metadata' },
    ],
    ['[PATCH v2 00/17] mm: big series', { version: 2, counter: 0, total: 17, treeTags: [] }],
    ['[PATCH RESEND v2 3/4] x', { isResend: true, version: 2, counter: 3, total: 4 }],
    ['[RFC][PATCH 1/2] two groups', { isRfc: true, counter: 1, total: 2, title: 'two groups' }],
    ['Re: [PATCH 1/2] reply', { isReply: true, isPatch: true, counter: 1 }],
    ['RE: Fwd: [PATCH] nested', { isReply: true, title: 'nested' }],
    ['[PATCHv2] glued', { isPatch: true, version: 2 }],
    ['[PATCH V3] upper', { version: 3 }],
    ['[PATCH net,v2] comma', { version: 2, treeTags: ['net'] }],
    ['[PATCH 6.1 1/2] stable', { treeTags: ['6.1'], counter: 1 }],
    ['plain discussion', { isPatch: false, isReply: false, title: 'plain discussion' }],
  ];
  for (const [subject, want] of cases) {
    it(subject, () => {
      const got = parseSubject(subject);
      for (const [k, v] of Object.entries(want))
        assert.deepEqual(got[k as keyof typeof got], v, `${k} of "${subject}"`);
    });
  }
});

describe('splitMbox', () => {
  it('splits on From_ lines only and unescapes mboxrd >From', () => {
    const msgs = splitMbox(thread(), limits);
    assert.equal(msgs.length, 9);
    assert.match(msgs[0]!.toString(), /^From: Maya/);
    assert.match(msgs[0]!.toString(), /\nFrom the start the helper/);
  });

  it('treats a file without From_ line but with headers as one message', () => {
    assert.equal(splitMbox(Buffer.from('Subject: x\nMessage-Id: <a@b>\n\nbody\n'), limits).length, 1);
  });

  it('does not split on a "From " line that is not a From_ line', () => {
    const two = Buffer.from(
      'From a@b Thu Jan  1 00:00:00 1970\nSubject: one\n\nFrom here on it is body\n\nFrom me to you\n',
    );
    assert.equal(splitMbox(two, limits).length, 1);
  });

  it('refuses empty, binary, oversized and truncated input', () => {
    assert.throws(() => splitMbox(Buffer.from('  \n'), limits), /empty/);
    assert.throws(() => splitMbox(Buffer.from([0x46, 0x72, 0, 1, 2]), limits), /binary/);
    assert.throws(
      () => splitMbox(Buffer.from('Subject: x\n\n' + 'a'.repeat(2000)), { maxMessageBytes: 1000 }),
      /message 1 is \d+ bytes, larger than/,
    );
    assert.throws(
      () => splitMbox(Buffer.from('From a@b Thu Jan  1 00:00:00 1970\nSubject: cut off'), limits),
      /truncated/,
    );
    assert.throws(() => splitMbox(Buffer.from('hello world\n'), limits), /neither an mbox nor a mail/);
  });
});

describe('assembleSeries on a lore thread', () => {
  it('picks the newest version, orders patches, decodes subjects and bodies, collects trailers from replies', async () => {
    const s = await parseMbox(thread(), limits);
    assert.equal(s.version, 3);
    assert.equal(s.total, 2);
    assert.equal(s.title, 'bpf: xdp: metadata alignment');
    assert.deepEqual(s.treeTags, ['bpf-next']);
    assert.equal(s.messageId, '20250310-xdp-meta-v3-0-aa11bb22cc33@example.org');
    assert.equal(s.baseCommit, '9d97d74b8b7b7641c389402f9b210421ce4390f0');
    assert.equal(s.changeId, '20250303-xdp-meta-4f1d2c');
    assert.deepEqual(
      s.patches.map((p) => p.subject.title),
      ['bpf: xdp: note metadata alignment', 'selftests/bpf: test unaligned metadata – xdp'],
    );
    // The base64 reply to the cover acks every patch; the reply to patch 2 reviews only it; quoted trailers do not count.
    const t = (i: number) => s.patches[i]!.trailers.map((x) => `${x.key}: ${x.value} [${x.fromMessageId ?? 'patch'}]`);
    assert.deepEqual(t(0), [
      'Signed-off-by: Maya Lindqvist <maya.lindqvist@example.org> [patch]',
      'Acked-by: Lena Okafor <lena.okafor@example.com> [Z8yAbCdE@example.com]',
    ]);
    assert.deepEqual(t(1), [
      'Signed-off-by: Maya Lindqvist <maya.lindqvist@example.org> [patch]',
      'Reviewed-by: Tomas Ferreira <tomas.ferreira@example.net> [Z8xk1abc@example.net]',
      'Acked-by: Lena Okafor <lena.okafor@example.com> [Z8yAbCdE@example.com]',
    ]);
    assert.deepEqual(s.patches[1]!.files, [
      {
        oldPath: 'tools/testing/selftests/bpf/prog_tests/xdp_context_test_run.c',
        newPath: 'tools/testing/selftests/bpf/prog_tests/xdp_context_test_run.c',
        binary: false,
        newMode: null,
      },
    ]);
  });

  it('gives the same series with CRLF line endings', async () => {
    const crlf = Buffer.from(thread().toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
    const a = await parseMbox(thread(), limits);
    const b = await parseMbox(crlf, limits);
    assert.deepEqual(
      b.patches.map((p) => p.subject.title),
      a.patches.map((p) => p.subject.title),
    );
    assert.equal(b.fingerprint, a.fingerprint);
  });

  it('picks an older version when asked', async () => {
    const s = await parseMbox(thread(), { ...limits, version: 1 });
    assert.equal(s.version, 1);
    assert.equal(s.cover, null);
    assert.equal(s.patches.length, 1);
  });

  it('fingerprints content: shifted hunks and a resend match, a changed line does not', async () => {
    const base = await parseMbox(thread(), limits);
    const shifted = await parseMbox(
      Buffer.from(thread().toString('latin1').replace('@@ -420,6 +420,7 @@', '@@ -431,6 +431,7 @@'), 'latin1'),
      limits,
    );
    assert.equal(shifted.fingerprint, base.fingerprint);
    const resend = await parseMbox(
      Buffer.from(
        thread()
          .toString('latin1')
          .replaceAll('[PATCH bpf-next v3', '[PATCH RESEND bpf-next v3')
          .replaceAll('-v3-', '-v3r-'),
        'latin1',
      ),
      limits,
    );
    assert.equal(resend.isResend, true);
    assert.equal(resend.fingerprint, base.fingerprint);
    const changed = await parseMbox(
      Buffer.from(
        thread()
          .toString('latin1')
          .replace(
            '+\t/* metadata length must be a multiple of 4 */\n \tmeta_max = type_max(typeof_member(struct skb_shared_info, meta_len));\n \tBUILD_BUG_ON(!__builtin_constant_p(meta_max));\n \n-- \n2.39.5\n\nFrom mboxrd@z Thu Jan  1 00:00:00 1970\nFrom: Maya Lindqvist <maya.lindqvist@example.org>\nDate: Mon, 10 Mar 2025 09:00:02',
            '+\t/* metadata length must be a multiple of 8 */\n \tmeta_max = type_max(typeof_member(struct skb_shared_info, meta_len));\n \tBUILD_BUG_ON(!__builtin_constant_p(meta_max));\n \n-- \n2.39.5\n\nFrom mboxrd@z Thu Jan  1 00:00:00 1970\nFrom: Maya Lindqvist <maya.lindqvist@example.org>\nDate: Mon, 10 Mar 2025 09:00:02',
          ),
        'latin1',
      ),
      limits,
    );
    assert.notEqual(changed.fingerprint, base.fingerprint);
  });

  it('says which parts of an incomplete series are missing', async () => {
    const text = thread().toString('latin1');
    const cut = text.slice(
      0,
      text.indexOf(
        'From mboxrd@z Thu Jan  1 00:00:00 1970\nFrom: Maya Lindqvist <maya.lindqvist@example.org>\nDate: Mon, 10 Mar 2025 09:00:02',
      ),
    );
    await assert.rejects(parseMbox(Buffer.from(cut, 'latin1'), limits), (e: unknown) => {
      assert.ok(e instanceof IncompleteSeriesError);
      assert.deepEqual(e.detail, { version: 3, total: 2, present: [1], missing: [2] });
      assert.match(e.message, /series v3 is incomplete: have 1 of 2, missing 2/);
      return true;
    });
  });

  it('reads a multipart mail with the patch as a text/x-patch part', async () => {
    const mail = [
      'From: Ravi Menon <ravi.menon@example.com>',
      'Subject: [PATCH net] net: dummy: count drops',
      'Message-Id: <multi-1@example.com>',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain; charset=us-ascii',
      '',
      'Count drops.',
      '',
      'Signed-off-by: Ravi Menon <ravi.menon@example.com>',
      '--b1',
      'Content-Type: text/x-patch; name="0001.patch"',
      'Content-Disposition: inline; filename="0001.patch"',
      '',
      'diff --git a/drivers/net/dummy.c b/drivers/net/dummy.c',
      '--- a/drivers/net/dummy.c',
      '+++ b/drivers/net/dummy.c',
      '@@ -1 +1,2 @@',
      ' x',
      '+y',
      '--b1--',
      '',
    ].join('\n');
    const s = await parseMbox(Buffer.from(mail), limits);
    assert.deepEqual(
      s.patches[0]!.files.map((f) => f.newPath),
      ['drivers/net/dummy.c'],
    );
    assert.deepEqual(s.treeTags, ['net']);
  });

  it('refuses mail with no patch in it', async () => {
    await assert.rejects(
      parseMbox(Buffer.from('Subject: hi\nMessage-Id: <x@y>\n\nno diff here\n'), limits),
      /no patches in the input/,
    );
  });
});

describe('patch safety', () => {
  const diff = (header: string) => `diff --git a/x b/x\n${header}`;
  it('parses renames, new files, deletions and modes', () => {
    const files = parseDiffFiles(
      'diff --git a/net/old.c b/net/new.c\nsimilarity index 90%\nrename from net/old.c\nrename to net/new.c\n' +
        'diff --git a/net/added.c b/net/added.c\nnew file mode 100644\n--- /dev/null\n+++ b/net/added.c\n' +
        'diff --git a/net/gone.c b/net/gone.c\ndeleted file mode 100644\n--- a/net/gone.c\n+++ /dev/null\n',
    );
    assert.deepEqual(files, [
      { oldPath: 'net/old.c', newPath: 'net/new.c', binary: false, newMode: null },
      { oldPath: null, newPath: 'net/added.c', binary: false, newMode: '100644' },
      { oldPath: 'net/gone.c', newPath: null, binary: false, newMode: null },
    ]);
  });

  const hostile: [string, string, RegExp][] = [
    ['a ../ path', 'diff --git a/../../etc/passwd b/../../etc/passwd\n', /climbs out of the tree/],
    ['an absolute path', '--- /etc/passwd\n+++ /etc/passwd\n', /is absolute/],
    ['a .git path', 'diff --git a/.git/hooks/pre-commit b/.git/hooks/pre-commit\n', /touches \.git/],
    ['a nested .git path', 'diff --git a/tools/.git/config b/tools/.git/config\n', /touches \.git/],
    ['a symlink', diff('new file mode 120000\n'), /symlink/],
    ['a binary patch', diff('GIT binary patch\nliteral 4\n'), /binary patch/],
  ];
  for (const [what, body, why] of hostile) {
    it(`refuses ${what}`, () => {
      assert.throws(
        () => checkPatchSafety(parseDiffFiles(body), 'patch 1/1 "x"'),
        (e: unknown) => e instanceof BadInputError && why.test(e.message) && /patch 1\/1 "x"/.test(e.message),
      );
    });
  }
});

describe('extractTrailers', () => {
  it('stops at the --- separator and ignores quoted lines and unknown keys', () => {
    const t = extractTrailers(
      'Fix it.\n\nFixes: 0123456789ab ("net: foo")\nlink: https://lore.kernel.org/x\n> Acked-by: Quoted <q@x>\nNote: not a trailer\nSigned-off-by: A <a@x>\n---\nTested-by: After <t@x>\n',
      null,
    );
    assert.deepEqual(
      t.map((x) => x.key),
      ['Fixes', 'Link', 'Signed-off-by'],
    );
  });
});

describe('assembleSeries on an archive of several series', () => {
  const otherThread = () =>
    thread()
      .toString('latin1')
      .replaceAll('aa11bb22cc33', 'ffeeddccbbaa')
      .replaceAll('Z8xk1abc', 'Z8xk1zzz')
      .replaceAll('Z8yAbCdE', 'Z8yAbZzZ')
      .replaceAll('unrelated-1', 'unrelated-2')
      .replaceAll('Mon, 10 Mar 2025', 'Tue, 11 Mar 2025');

  it('never mixes patches of different threads that share a version and size', async () => {
    const other = otherThread();
    // Drop the other thread's v3 patch 2, so a naive pick would take patch 1 from one thread and 2 from the other.
    const start = other.indexOf(
      'From mboxrd@z Thu Jan  1 00:00:00 1970\nFrom: Maya Lindqvist <maya.lindqvist@example.org>\nDate: Tue, 11 Mar 2025 09:00:02',
    );
    const end = other.indexOf('From mboxrd@z', start + 10);
    const mixed = thread().toString('latin1') + '\n' + other.slice(0, start) + other.slice(end);
    const series = await parseMbox(Buffer.from(mixed, 'latin1'), limits);
    const own = await parseMbox(thread(), limits);
    assert.deepEqual(
      series.patches.map((p) => p.messageId),
      own.patches.map((p) => p.messageId),
      'the one complete v3, all of it from one thread',
    );
  });

  it('refuses to guess between two complete series of the same version, listing them', async () => {
    const both = Buffer.from(`${thread().toString('latin1')}\n${otherThread()}`, 'latin1');
    await assert.rejects(parseMbox(both, limits), (e: unknown) => {
      assert.ok(e instanceof BadInputError);
      assert.match(e.message, /holds 2 different v3 series:\n {2}v3 .*\n {2}v3 /);
      assert.match(e.hint ?? '', /ksci run <message-id>/);
      return true;
    });
    const own = await parseMbox(thread(), limits);
    const picked = await parseMbox(both, { ...limits, messageId: own.patches[1]!.messageId });
    assert.equal(picked.messageId, own.messageId, 'a Message-ID picks its own series');
  });
});
