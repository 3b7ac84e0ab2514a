/**
 * The "tricky lore threads" of issue 20, each as a small synthetic mbox,
 * with what `b4 am` does on it (b4 HEAD's rules; where Debian's b4 0.12
 * differs the test says so), and the cases where ksci is right and b4 0.12
 * is not, kept as they are. Next to each case's ksci test, a "b4 0.12" test
 * runs real b4 on the same mbox: the same patches and trailers where it
 * agrees, and b4's own output, exactly, where it does not.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BadInputError } from '../errors.js';
import { type B4AmResult, b4Am, b4Available } from '../testing/b4.js';
import { mboxrd } from '../testing/lore-fixtures.js';
import { parseMbox } from './load.js';
import type { Series } from './types.js';

const limits = { maxMboxBytes: 64 << 20, maxMessageBytes: 10 << 20, maxPatches: 500 };

const ANN = 'Ann Author <ann@example.org>';
const BOB = 'Bob Other <bob@example.net>';
const RAE = 'Rae Reviewer <rae@example.com>';
const QUINN = 'Quinn Reviewer <quinn@example.com>';

// ---------------------------------------------------------------- building mail

interface Mail {
  from: string;
  subject: string;
  id: string;
  /** Minutes after 11:00; later mail is newer. */
  minute: number;
  inReplyTo?: string;
  /** Oldest first; defaults to [inReplyTo]. */
  references?: string[];
  body: string;
}

function mail(m: Mail): string {
  const refs = m.references ?? (m.inReplyTo ? [m.inReplyTo] : []);
  return [
    `From: ${m.from}`,
    `Subject: ${m.subject}`,
    `Date: Tue, 30 Aug 2022 ${String(11 + Math.floor(m.minute / 60)).padStart(2, '0')}:${String(m.minute % 60).padStart(2, '0')}:00 -0400`,
    `Message-ID: <${m.id}>`,
    ...(m.inReplyTo ? [`In-Reply-To: <${m.inReplyTo}>`] : []),
    ...(refs.length > 0 ? [`References: ${refs.map((r) => `<${r}>`).join(' ')}`] : []),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=UTF-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    m.body,
  ].join('\n');
}

/** A git format-patch body changing one line of `file`. */
function patchBody(author: string, text: string, file: string, from: string, to: string): string {
  return [
    text,
    '',
    `Signed-off-by: ${author}`,
    '---',
    ` ${file} | 2 +-`,
    ' 1 file changed, 1 insertion(+), 1 deletion(-)',
    '',
    `diff --git a/${file} b/${file}`,
    'index 1234567..2345678 100644',
    `--- a/${file}`,
    `+++ b/${file}`,
    '@@ -1,3 +1,3 @@',
    ' context above',
    `-${from}`,
    `+${to}`,
    ' context below',
    '-- ',
    '2.40.0',
    '',
  ].join('\n');
}

function coverBody(text: string, n: number): string {
  return [text, '', '---', `${n} files changed, ${n} insertions(+), ${n} deletions(-)`, '', '-- ', '2.40.0', ''].join(
    '\n',
  );
}

function replyBody(quoted: string, ...lines: string[]): string {
  return [`> ${quoted}`, '', ...lines, '', '-- ', 'sig', ''].join('\n');
}

const mbox = (...mails: Mail[]): Buffer => mboxrd(mails.map(mail));

// ---------------------------------------------------------------- reading the result

/** Each patch as "k/n title <msgid>" with what it gained: "Key: value [via vN <from>]". */
function rows(s: Series): { patch: string; gains: string[] }[] {
  return s.patches.map((p) => ({
    patch: `${p.counter}/${s.total} ${p.subject.title} <${p.messageId}>`,
    gains: p.trailers
      .filter((t) => t.fromMessageId !== null)
      .map(
        (t) =>
          `${t.key}: ${t.value} [${t.via}${t.fromVersion !== undefined ? ` v${t.fromVersion}` : ''} <${t.fromMessageId}>]`,
      ),
  }));
}

function row(k: number, n: number, title: string, id: string, ...gains: string[]) {
  return { patch: `${k}/${n} ${title} <${id}>`, gains };
}

/** One line saying what was assembled, for a failure message. */
function summary(s: Series): string {
  return `v${s.version} "${s.title}" (cover ${s.cover ? `<${s.cover.messageId}>` : 'none'}; patches ${s.patches
    .map((p) => `<${p.messageId}>`)
    .join(' ')})`;
}

/** "several series, pass a Message-ID": the refusal the contract asks for when no Message-ID picks one. */
function isRefusalListing(e: unknown, ...series: [leadId: string, title: string][]): boolean {
  assert.ok(e instanceof BadInputError, `want a BadInputError, got ${String(e)}`);
  const text = `${e.message}\n${e.hint ?? ''}`;
  for (const [id, title] of series)
    assert.ok(e.message.includes(id) || e.message.includes(title), `the refusal lists <${id}> "${title}": ${text}`);
  // What to do may be in the hint, which ksci prints after the message.
  assert.match(text, /message-id/i, `the refusal says to pass a Message-ID: ${text}`);
  assert.match(text, /ksci run/, `the refusal shows \`ksci run <message-id>\`: ${text}`);
  return true;
}

// ---------------------------------------------------------------- b4 0.12 on the same mbox

// CI installs Debian's b4 and must run these, as it runs the lore tests (src/testing/public-inbox.test.ts).
const required = process.env['KSCI_REQUIRE_E2E'] === '1' || Boolean(process.env['CI']);
const withB4 = { skip: required || b4Available() ? false : 'b4 is not installed (apt-get install b4)' };

/**
 * `b4 --offline-mode am -t -m <file> [messageId]` on `thread`, written to a temp dir (src/testing/b4.ts). No -l,
 * no -s: b4 adds no Link: or Signed-off-by of its own, so its trailer blocks hold only what was sent.
 */
async function b4(thread: Buffer, messageId?: string, opts: { coverTrailers?: boolean } = {}): Promise<B4AmResult> {
  const dir = mkdtempSync(join(tmpdir(), 'ksci-tricky-b4-'));
  try {
    const file = join(dir, 'thread.mbox');
    writeFileSync(file, thread);
    return await b4Am({ mbox: file, messageId, workDir: join(dir, 'b4'), ...opts });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Assembled {
  cover: string | null;
  patches: { subject: string; messageId: string; trailers: string[] }[];
}

/** What b4 wrote: the .cover's subject, and per patch of the .mbx its subject and commit-message trailer block. */
function ofB4(am: B4AmResult): Assembled {
  return {
    cover: am.coverSubject,
    patches: am.patches.map((p) => ({ subject: p.subject, messageId: p.messageId, trailers: p.trailers })),
  };
}

/**
 * The same of ksci's series. Subjects as sent: b4 rewrites them to "[PATCH vN k/n] title", dropping tree tags,
 * and these have none, so they are in that form already. Trailers as "Key: value", the patch's own first, as b4
 * orders them.
 */
function ofKsci(s: Series): Assembled {
  return {
    cover: s.cover ? s.cover.subject.raw : null,
    patches: s.patches.map((p) => ({
      subject: p.subject.raw,
      messageId: p.messageId,
      trailers: p.trailers.map((t) => `${t.key}: ${t.value}`),
    })),
  };
}

// ---------------------------------------------------------------- the threads

describe('tricky lore threads', () => {
  describe('T1: a v2 Reviewed-by is carried to the byte-identical v3 patch (patch-id), not to a changed one', () => {
    const one = patchBody(ANN, 'Make foo one.', 'foo/one.c', 'old one', 'new one');
    const threads = mbox(
      { from: ANN, subject: '[PATCH v2 1/2] foo: one', id: 'foo-v2-1@example.org', minute: 1, body: one },
      {
        from: ANN,
        subject: '[PATCH v2 2/2] foo: two',
        id: 'foo-v2-2@example.org',
        minute: 2,
        inReplyTo: 'foo-v2-1@example.org',
        body: patchBody(ANN, 'Make foo two.', 'foo/two.c', 'old two', 'new two'),
      },
      {
        from: RAE,
        subject: 'Re: [PATCH v2 1/2] foo: one',
        id: 'foo-v2-1-review@example.com',
        minute: 3,
        inReplyTo: 'foo-v2-1@example.org',
        body: replyBody('Make foo one.', `Reviewed-by: ${RAE}`),
      },
      {
        from: QUINN,
        subject: 'Re: [PATCH v2 2/2] foo: two',
        id: 'foo-v2-2-review@example.com',
        minute: 4,
        inReplyTo: 'foo-v2-2@example.org',
        references: ['foo-v2-1@example.org', 'foo-v2-2@example.org'],
        body: replyBody('Make foo two.', `Reviewed-by: ${QUINN}`),
      },
      // v3, a thread of its own: 1/2 resent unchanged, 2/2 changed.
      { from: ANN, subject: '[PATCH v3 1/2] foo: one', id: 'foo-v3-1@example.org', minute: 10, body: one },
      {
        from: ANN,
        subject: '[PATCH v3 2/2] foo: two',
        id: 'foo-v3-2@example.org',
        minute: 11,
        inReplyTo: 'foo-v3-1@example.org',
        body: patchBody(ANN, 'Make foo two.', 'foo/two.c', 'old two', 'new two, better'),
      },
    );

    it('ksci', async () => {
      const s = await parseMbox(threads, limits);
      assert.equal(s.version, 3);
      assert.deepEqual(rows(s), [
        row(
          1,
          2,
          'foo: one',
          'foo-v3-1@example.org',
          `Reviewed-by: ${RAE} [earlier-version v2 <foo-v2-1-review@example.com>]`,
        ),
        row(2, 2, 'foo: two', 'foo-v3-2@example.org'),
      ]);
    });

    it('b4 0.12 agrees', withB4, async () => {
      // On the whole mbox, as ksci here. (Given v3's Message-ID, b4 0.12 reads only v3's thread and carries nothing.)
      assert.deepEqual(ofB4(await b4(threads)), ofKsci(await parseMbox(threads, limits)));
    });
  });

  describe('T2: two series interleaved in one thread', () => {
    // Ann's 0/2..2/2, and Bob's alternative 0/2..2/2 sent in reply to Ann's cover; Rae reviews Ann's 2/2.
    const thread = mbox(
      {
        from: ANN,
        subject: '[PATCH 0/2] ann: the A series',
        id: 'a0@example.org',
        minute: 1,
        body: coverBody('A.', 2),
      },
      {
        from: ANN,
        subject: '[PATCH 1/2] ann: one',
        id: 'a1@example.org',
        minute: 2,
        inReplyTo: 'a0@example.org',
        body: patchBody(ANN, 'A one.', 'a/one.c', 'old', 'new'),
      },
      {
        from: ANN,
        subject: '[PATCH 2/2] ann: two',
        id: 'a2@example.org',
        minute: 3,
        inReplyTo: 'a0@example.org',
        body: patchBody(ANN, 'A two.', 'a/two.c', 'old', 'new'),
      },
      {
        from: BOB,
        subject: '[PATCH 0/2] bob: the B alternative',
        id: 'b0@example.net',
        minute: 4,
        inReplyTo: 'a0@example.org',
        body: coverBody('B.', 2),
      },
      {
        from: BOB,
        subject: '[PATCH 1/2] bob: one',
        id: 'b1@example.net',
        minute: 5,
        inReplyTo: 'b0@example.net',
        references: ['a0@example.org', 'b0@example.net'],
        body: patchBody(BOB, 'B one.', 'b/one.c', 'old', 'new'),
      },
      {
        from: BOB,
        subject: '[PATCH 2/2] bob: two',
        id: 'b2@example.net',
        minute: 6,
        inReplyTo: 'b0@example.net',
        references: ['a0@example.org', 'b0@example.net'],
        body: patchBody(BOB, 'B two.', 'b/two.c', 'old', 'new'),
      },
      {
        from: RAE,
        subject: 'Re: [PATCH 2/2] ann: two',
        id: 'a2-review@example.com',
        minute: 7,
        inReplyTo: 'a2@example.org',
        references: ['a0@example.org', 'a2@example.org'],
        body: replyBody('A two.', `Reviewed-by: ${RAE}`),
      },
    );

    it("asked for Ann's 1/2 by Message-ID: Ann's series", async () => {
      const s = await parseMbox(thread, { ...limits, messageId: 'a1@example.org' });
      assert.equal(s.cover?.messageId, 'a0@example.org');
      assert.deepEqual(rows(s), [
        row(1, 2, 'ann: one', 'a1@example.org'),
        row(2, 2, 'ann: two', 'a2@example.org', `Reviewed-by: ${RAE} [reply <a2-review@example.com>]`),
      ]);
    });

    it("b4 0.12 agrees, asked for Ann's 1/2", withB4, async () => {
      assert.deepEqual(
        ofB4(await b4(thread, 'a1@example.org')),
        ofKsci(await parseMbox(thread, { ...limits, messageId: 'a1@example.org' })),
      );
    });

    it("asked for Bob's 1/2 by Message-ID: Bob's series, without Rae's review of Ann's 2/2", async () => {
      const s = await parseMbox(thread, { ...limits, messageId: 'b1@example.net' });
      assert.equal(s.cover?.messageId, 'b0@example.net');
      assert.deepEqual(rows(s), [row(1, 2, 'bob: one', 'b1@example.net'), row(2, 2, 'bob: two', 'b2@example.net')]);
    });

    it("b4 0.12, asked for Bob's 1/2: Bob's patches, but under Ann's cover", withB4, async () => {
      // b4 walks the thread from b1 (b1, b2, b0, the review, a0, a1, a2): the first 1/2 and 2/2 it meets are
      // Bob's, the last 0/2 is Ann's.
      const s = await parseMbox(thread, { ...limits, messageId: 'b1@example.net' });
      assert.deepEqual(ofB4(await b4(thread, 'b1@example.net')), {
        ...ofKsci(s),
        cover: '[PATCH 0/2] ann: the A series',
      });
      assert.equal(s.cover?.subject.raw, '[PATCH 0/2] bob: the B alternative');
    });

    it("asked for neither: the thread's own series (its cover starts the thread), not Bob's sent in reply", async () => {
      // (b4 0.12 mixes the two here: Ann's patches under Bob's cover.) Two series that each start a thread of
      // their own are refused instead (src/series/series.test.ts).
      const s = await parseMbox(thread, limits);
      assert.equal(s.cover?.messageId, 'a0@example.org');
      assert.deepEqual(
        s.patches.map((p) => p.messageId),
        ['a1@example.org', 'a2@example.org'],
      );
    });

    it("b4 0.12, asked for neither: Ann's patches under Bob's cover", withB4, async () => {
      // In mbox order the first 1/2 and 2/2 are Ann's, the last 0/2 is Bob's.
      assert.deepEqual(ofB4(await b4(thread)), {
        ...ofKsci(await parseMbox(thread, limits)),
        cover: '[PATCH 0/2] bob: the B alternative',
      });
    });
  });

  describe("T3: a reviewer's [PATCH 1/2],[PATCH 2/2] counter-proposal in reply to 2/3 is not part of the author's series", () => {
    const thread = mbox(
      { from: ANN, subject: '[PATCH 0/3] ann: series', id: 'c0@example.org', minute: 1, body: coverBody('C.', 3) },
      ...[1, 2, 3].map((k) => ({
        from: ANN,
        subject: `[PATCH ${k}/3] ann: part ${k}`,
        id: `c${k}@example.org`,
        minute: 1 + k,
        inReplyTo: 'c0@example.org',
        body: patchBody(ANN, `Part ${k}.`, `c/part${k}.c`, 'old', 'new'),
      })),
      {
        from: RAE,
        subject: 'Re: [PATCH 2/3] ann: part 2',
        id: 'c2-review@example.com',
        minute: 5,
        inReplyTo: 'c2@example.org',
        references: ['c0@example.org', 'c2@example.org'],
        body: replyBody('Part 2.', `Reviewed-by: ${RAE}`),
      },
      // Rae's own take, posted in reply to 2/3, newer than Ann's patches.
      {
        from: RAE,
        subject: '[PATCH 1/2] rae: alternative one',
        id: 'r1@example.com',
        minute: 6,
        inReplyTo: 'c2@example.org',
        references: ['c0@example.org', 'c2@example.org'],
        body: patchBody(RAE, 'Alt one.', 'c/alt1.c', 'old', 'new'),
      },
      {
        from: RAE,
        subject: '[PATCH 2/2] rae: alternative two',
        id: 'r2@example.com',
        minute: 7,
        inReplyTo: 'r1@example.com',
        references: ['c0@example.org', 'c2@example.org', 'r1@example.com'],
        body: patchBody(RAE, 'Alt two.', 'c/alt2.c', 'old', 'new'),
      },
    );
    const byCover = { ...limits, messageId: 'c0@example.org' };

    it('ksci', async () => {
      const s = await parseMbox(thread, byCover);
      assert.deepEqual(rows(s), [
        row(1, 3, 'ann: part 1', 'c1@example.org'),
        row(2, 3, 'ann: part 2', 'c2@example.org', `Reviewed-by: ${RAE} [reply <c2-review@example.com>]`),
        row(3, 3, 'ann: part 3', 'c3@example.org'),
      ]);
      // The review of 2/3 is not a cover trailer.
      assert.deepEqual(s.cover?.trailers, []);
    });

    it('b4 0.12 agrees', withB4, async () => {
      // Rae's 1/2 and 2/2 come after Ann's 1/3 and 2/3, so b4 keeps Ann's; with -t, no trailer reached the cover.
      assert.deepEqual(ofB4(await b4(thread, 'c0@example.org')), ofKsci(await parseMbox(thread, byCover)));
    });
  });

  describe("T4: another author's unthreaded 1/2, 2/2 next to a threaded 1/3..3/3", () => {
    const archive = mbox(
      { from: ANN, subject: '[PATCH 0/3] ann: series', id: 'd0@example.org', minute: 1, body: coverBody('D.', 3) },
      ...[1, 2, 3].map((k) => ({
        from: ANN,
        subject: `[PATCH ${k}/3] ann: part ${k}`,
        id: `d${k}@example.org`,
        minute: 1 + k,
        inReplyTo: 'd0@example.org',
        body: patchBody(ANN, `Part ${k}.`, `d/part${k}.c`, 'old', 'new'),
      })),
      // No In-Reply-To, no References (git send-email --no-thread), and newer.
      ...[1, 2].map((k) => ({
        from: BOB,
        subject: `[PATCH ${k}/2] bob: other ${k}`,
        id: `e${k}@example.net`,
        minute: 10 + k,
        body: patchBody(BOB, `Other ${k}.`, `e/other${k}.c`, 'old', 'new'),
      })),
    );
    const threaded = [
      row(1, 3, 'ann: part 1', 'd1@example.org'),
      row(2, 3, 'ann: part 2', 'd2@example.org'),
      row(3, 3, 'ann: part 3', 'd3@example.org'),
    ];

    const byCover = { ...limits, messageId: 'd0@example.org' };

    it("asked for the threaded series' cover: that series", async () => {
      const s = await parseMbox(archive, byCover);
      assert.deepEqual(rows(s), threaded);
    });

    it('b4 0.12 agrees, asked for the cover (it reads only that thread)', withB4, async () => {
      assert.deepEqual(ofB4(await b4(archive, 'd0@example.org')), ofKsci(await parseMbox(archive, byCover)));
    });

    it('asked for neither: the threaded series (as b4 0.12 gives) or a refusal, never a mix', async () => {
      // b4 0.12 keeps the first k/n of each counter it meets and drops Bob's later 1/2, 2/2 without a word;
      // grouping the patches into candidate series and refusing (the contract's "several series remain") is as
      // good.
      let s: Series;
      try {
        s = await parseMbox(archive, limits);
      } catch (e) {
        isRefusalListing(e, ['d0@example.org', 'ann: series'], ['e1@example.net', 'bob: other 1']);
        return;
      }
      assert.deepEqual(rows(s), threaded, `assembled ${summary(s)}`);
    });

    it('b4 0.12, asked for neither: the threaded series', withB4, async () => {
      const am = await b4(archive);
      assert.deepEqual(ofB4(am), ofKsci(await parseMbox(archive, byCover)));
      assert.doesNotMatch(am.log, /bob: other|e[12]@example\.net/, "b4 says nothing of Bob's patches");
    });
  });

  describe('T5: an Acked-by given to a bare [PATCH] fixup in reply to 2/2 is not credited to 2/2', () => {
    const thread = mbox(
      {
        from: ANN,
        subject: '[PATCH 1/2] ann: one',
        id: 'f1@example.org',
        minute: 1,
        body: patchBody(ANN, 'One.', 'f/one.c', 'old', 'new'),
      },
      {
        from: ANN,
        subject: '[PATCH 2/2] ann: two',
        id: 'f2@example.org',
        minute: 2,
        inReplyTo: 'f1@example.org',
        body: patchBody(ANN, 'Two.', 'f/two.c', 'old', 'new'),
      },
      {
        from: BOB,
        subject: '[PATCH] fixup',
        id: 'fixup@example.net',
        minute: 3,
        inReplyTo: 'f2@example.org',
        references: ['f1@example.org', 'f2@example.org'],
        body: patchBody(BOB, 'Fix the build on top of 2/2.', 'f/fixup.c', 'old', 'new'),
      },
      {
        from: RAE,
        subject: 'Re: [PATCH] fixup',
        id: 'fixup-ack@example.com',
        minute: 4,
        inReplyTo: 'fixup@example.net',
        references: ['f1@example.org', 'f2@example.org', 'fixup@example.net'],
        body: replyBody('Fix the build on top of 2/2.', `Acked-by: ${RAE}`),
      },
    );
    const byFirst = { ...limits, messageId: 'f1@example.org' };

    it('ksci', async () => {
      const s = await parseMbox(thread, byFirst);
      assert.deepEqual(rows(s), [row(1, 2, 'ann: one', 'f1@example.org'), row(2, 2, 'ann: two', 'f2@example.org')]);
      // Rae acked the fixup as Rae: not a forgery either.
      assert.deepEqual(s.mismatchedTrailers ?? [], []);
    });

    it('b4 0.12 agrees', withB4, async () => {
      const am = await b4(thread, 'f1@example.org');
      assert.deepEqual(ofB4(am), ofKsci(await parseMbox(thread, byFirst)));
      assert.doesNotMatch(am.log, /mismatch/, 'b4 reports no from/email mismatch either');
    });
  });

  describe('T6: >From lines', () => {
    const body = [
      'Quote a mail header in the log.',
      '',
      '>From the report: it breaks.',
      '>>From deeper.',
      '',
      `Signed-off-by: ${ANN}`,
      '---',
      'diff --git a/g/one.c b/g/one.c',
      'index 1234567..2345678 100644',
      '--- a/g/one.c',
      '+++ b/g/one.c',
      '@@ -1 +1 @@',
      '-old',
      '+new',
      '-- ',
      '2.40.0',
      '',
    ].join('\n');
    const headers = [
      `From: ${ANN}`,
      'Date: Tue, 30 Aug 2022 11:19:07 -0400',
      'Subject: [PATCH] g: quote a From line',
      '',
    ].join('\n');
    const raw = (s: Series) => Buffer.from(s.patches[0]!.rawBase64, 'base64').toString('latin1');

    it('git format-patch output is not mboxrd: the message is kept byte for byte, as plain git am reads it', async () => {
      const message = `${headers}\n${body}`;
      const input = `From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\n${message}`;
      const s = await parseMbox(Buffer.from(input, 'latin1'), limits);
      assert.equal(raw(s).replace(/\n+$/, '\n'), message.replace(/\n+$/, '\n'));
    });

    it('b4 0.12 refuses it: without a Message-ID the patch is no patch', withB4, async () => {
      const input = `From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\n${headers}\n${body}`;
      await assert.rejects(
        b4(Buffer.from(input, 'latin1')),
        /wrote no \.mbx[\s\S]*Could not find any patches in the series/,
      );
    });

    it('a public-inbox mboxrd is un-escaped one level', async () => {
      const input = `From mboxrd@z Thu Jan  1 00:00:00 1970\nMessage-ID: <quote-from@example.org>\n${headers}\n${body}`;
      const s = await parseMbox(Buffer.from(input, 'latin1'), limits);
      assert.ok(
        raw(s).includes('\n\nFrom the report: it breaks.\n>From deeper.\n\n'),
        `">From " and ">>From " each lose one ">":\n${raw(s)}`,
      );
    });

    it(
      'b4 0.12 -m keeps the escapes: its .mbx, for git am, has ">From " and ">>From " as they were',
      withB4,
      async () => {
        // b4 reads a local mbox with Python's mailbox.mbox, which does not un-escape; b4 writes the .mbx unescaped
        // ("From git@z" lines, as git am reads them), so the commit message keeps the ">" ksci takes off.
        const input = `From mboxrd@z Thu Jan  1 00:00:00 1970\nMessage-ID: <quote-from@example.org>\n${headers}\n${body}`;
        const am = await b4(Buffer.from(input, 'latin1'), 'quote-from@example.org');
        const mbx = am.raw.toString('latin1');
        assert.match(mbx, /^From git@z /);
        assert.ok(mbx.includes('\n\n>From the report: it breaks.\n>>From deeper.\n\n'), mbx);
        assert.deepEqual(
          am.patches.map((p) => [p.subject, p.messageId, p.trailers]),
          [['[PATCH] g: quote a From line', 'quote-from@example.org', [`Signed-off-by: ${ANN}`]]],
        );
      },
    );
  });
});

describe('where ksci is right and b4 0.12 is not (issue 20, report section 6)', () => {
  describe("a cover letter reply's trailer applies to every patch (b4 0.12 only with -t; b4 HEAD always)", () => {
    const thread = mbox(
      { from: ANN, subject: '[PATCH 0/3] ann: series', id: 'h0@example.org', minute: 1, body: coverBody('H.', 3) },
      ...[1, 2, 3].map((k) => ({
        from: ANN,
        subject: `[PATCH ${k}/3] ann: part ${k}`,
        id: `h${k}@example.org`,
        minute: 1 + k,
        inReplyTo: 'h0@example.org',
        body: patchBody(ANN, `Part ${k}.`, `h/part${k}.c`, 'old', 'new'),
      })),
      {
        from: QUINN,
        subject: 'Re: [PATCH 0/3] ann: series',
        id: 'h0-ack@example.com',
        minute: 6,
        inReplyTo: 'h0@example.org',
        body: replyBody('H.', 'For the series:', '', `Acked-by: ${QUINN}`),
      },
    );

    it('ksci', async () => {
      const s = await parseMbox(thread, limits);
      const ack = `Acked-by: ${QUINN} [cover <h0-ack@example.com>]`;
      assert.deepEqual(rows(s), [
        row(1, 3, 'ann: part 1', 'h1@example.org', ack),
        row(2, 3, 'ann: part 2', 'h2@example.org', ack),
        row(3, 3, 'ann: part 3', 'h3@example.org', ack),
      ]);
      assert.deepEqual(
        s.cover?.trailers.map((t) => `${t.key}: ${t.value} <${t.fromMessageId}>`),
        [`Acked-by: ${QUINN} <h0-ack@example.com>`],
      );
    });

    it('b4 0.12 agrees with -t; without it the patches keep their own trailers only', withB4, async () => {
      const ksci = ofKsci(await parseMbox(thread, limits));
      assert.deepEqual(ofB4(await b4(thread)), ksci);
      const plain = await b4(thread, undefined, { coverTrailers: false });
      assert.deepEqual(ofB4(plain), {
        ...ksci,
        patches: ksci.patches.map((p) => ({ ...p, trailers: [`Signed-off-by: ${ANN}`] })),
      });
      assert.match(plain.log, /Some trailers were sent to the cover letter:\s+Acked-by: Quinn Reviewer/);
      assert.match(plain.log, /Rerun with -t/);
    });
  });

  describe('Link: and Closes: in a reply to 4/4 go on 4/4 only (b4 0.12 drops them)', () => {
    const thread = mbox(
      { from: ANN, subject: '[PATCH 0/4] ann: series', id: 'k0@example.org', minute: 1, body: coverBody('K.', 4) },
      ...[1, 2, 3, 4].map((k) => ({
        from: ANN,
        subject: `[PATCH ${k}/4] ann: part ${k}`,
        id: `k${k}@example.org`,
        minute: 1 + k,
        inReplyTo: 'k0@example.org',
        body: patchBody(ANN, `Part ${k}.`, `k/part${k}.c`, 'old', 'new'),
      })),
      {
        from: QUINN,
        subject: 'Re: [PATCH 4/4] ann: part 4',
        id: 'k4-test@example.com',
        minute: 7,
        inReplyTo: 'k4@example.org',
        references: ['k0@example.org', 'k4@example.org'],
        body: replyBody(
          'Part 4.',
          `Tested-by: ${QUINN}`,
          'Link: https://example.org/report',
          'Closes: https://example.org/bug/1234',
        ),
      },
    );

    it('ksci', async () => {
      const s = await parseMbox(thread, limits);
      const from = '[reply <k4-test@example.com>]';
      assert.deepEqual(rows(s), [
        row(1, 4, 'ann: part 1', 'k1@example.org'),
        row(2, 4, 'ann: part 2', 'k2@example.org'),
        row(3, 4, 'ann: part 3', 'k3@example.org'),
        row(
          4,
          4,
          'ann: part 4',
          'k4@example.org',
          `Tested-by: ${QUINN} ${from}`,
          `Link: https://example.org/report ${from}`,
          `Closes: https://example.org/bug/1234 ${from}`,
        ),
      ]);
    });

    it('b4 0.12: the Tested-by on 4/4, the Link: and Closes: dropped', withB4, async () => {
      const ksci = ofKsci(await parseMbox(thread, limits));
      const sob = `Signed-off-by: ${ANN}`;
      assert.deepEqual(ofB4(await b4(thread)), {
        ...ksci,
        patches: ksci.patches.map((p, i) => ({ ...p, trailers: i < 3 ? [sob] : [sob, `Tested-by: ${QUINN}`] })),
      });
    });
  });
});
