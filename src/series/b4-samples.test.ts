/**
 * b4's own test samples (src/series/fixtures/b4-samples, see its README):
 * ksci must assemble what `b4 am` assembles, with the same trailers.
 *
 * The expected files are parsed here, at test time, with a small reader of
 * their own (not ksci's mail code, which is what is under test). ksci has
 * no `b4 am` options and does not rewrite commit messages, so it is
 * compared on what each patch GAINS beyond its own trailer block, after
 * removing what b4's test options add: the tester's own Signed-off-by
 * ("Test Override <test-override@example.com>", from `-s`/addmysob or `git
 * am --signoff`), and a Link:/Message-ID: naming the patch's own Message-ID
 * (from `-l`/addlink).
 *
 * The expected files are b4 HEAD's (github:mricon/b4 1f2f768c). Where the
 * b4 0.12 packaged in Debian gives something else, ksci follows HEAD; each
 * such case says so below. No -ref-defaults case has ksci deliberately
 * differ from b4 HEAD.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { mboxrd } from '../testing/lore-fixtures.js';
import { repoRoot } from '../testing/paths.js';
import { parseMbox } from './load.js';
import type { Series } from './types.js';

const SAMPLES = join(repoRoot, 'src', 'series', 'fixtures', 'b4-samples');
const limits = { maxMboxBytes: 64 << 20, maxMessageBytes: 10 << 20, maxPatches: 500 };
const TESTER_SOB = 'Signed-off-by: Test Override <test-override@example.com>';
/** A line of a trailer block, as compare.mjs reads one. */
const TRAILER_LINE = /^[A-Za-z0-9][A-Za-z0-9-]*: \S/;

// ---------------------------------------------------------------- reading the samples

interface SampleMail {
  messageId: string | null;
  subject: string;
  body: string;
}

/** The samples are plain 7/8-bit text mboxes; the From_ lines are b4's and git's. */
function readSampleMbox(text: string): SampleMail[] {
  return text
    .split(/^From \S+ +\S{3} \S{3} +\d+ \d\d:\d\d:\d\d \d{4}\n/m)
    .slice(1)
    .map((m) => {
      const cut = m.indexOf('\n\n');
      const head = m.slice(0, cut).replace(/\n[ \t]+/g, ' ');
      const header = (name: string) => new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(head)?.[1]?.trim() ?? null;
      return {
        messageId: header('Message-Id')?.replace(/^<|>$/g, '') ?? null,
        subject: header('Subject') ?? '',
        body: m.slice(cut + 2),
      };
    });
}

/** The subject without its bracket prefixes, what ksci calls the title (and git am the subject). */
function titleOf(subject: string): string {
  return subject.replace(/^(\[[^\]]*\]\s*)+/, '').trim();
}

/** The commit message: the body above the diffstat or diff. */
function commitMessage(body: string): string {
  const out: string[] = [];
  for (const l of body.replace(/\r/g, '').split('\n')) {
    if (l === '---' || l.startsWith('diff --git ') || /^--- \S/.test(l)) break;
    out.push(l);
  }
  return out.join('\n').trimEnd();
}

/** The commit message's last paragraph, when every line of it is a trailer. */
function trailerBlock(body: string): string[] {
  const m = commitMessage(body);
  const cut = m.lastIndexOf('\n\n');
  const para = (cut < 0 ? m : m.slice(cut + 2)).split('\n');
  return para.every((l) => TRAILER_LINE.test(l)) ? para : [];
}

/** a minus b, as multisets, keeping a's order. */
function minus(a: string[], b: string[]): string[] {
  const rest = [...b];
  return a.filter((x) => {
    const i = rest.indexOf(x);
    if (i < 0) return true;
    rest.splice(i, 1);
    return false;
  });
}

/** What a `b4 am` option adds rather than what b4 assembled (see the top of this file). */
function isOptionArtefact(line: string, ownMessageId: string): boolean {
  if (line === TESTER_SOB) return true;
  const id = ownMessageId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  if (new RegExp(`^Link: https://(patch\\.msgid\\.link|lore\\.kernel\\.org/r)/${id}$`).test(line)) return true;
  return line === `Message-ID: <${ownMessageId}>`;
}

/** One patch as a row to compare: which patch, and the trailers it gains. */
interface Row {
  patch: string;
  gains: string[];
}

interface Expected {
  rows: Row[];
  /** The own trailer block of each expected patch, from the input mbox. */
  own: string[][];
  /** Whether the expected file names each patch's Message-ID (.verify files do not). */
  withMessageIds: boolean;
}

function expectedRow(title: string, messageId: string | null, block: string[], orig: SampleMail): Row {
  const own = trailerBlock(orig.body);
  const gains = minus(block, own).filter((l) => !isOptionArtefact(l, orig.messageId ?? ''));
  return { patch: messageId ? `${title} <${messageId}>` : title, gains };
}

/** The input's patches (not replies, with a diff), by title. */
function inputPatches(input: SampleMail[]): SampleMail[] {
  return input.filter((m) => !/^(re|aw|fwd?):/i.test(m.subject) && /^(diff --git |--- \S.*\n\+\+\+ \S)/m.test(m.body));
}

/** A -ref-*.txt: the git-am-ready mbox `b4 am` writes. Its messages keep the patches' Message-IDs. */
function expectedFromRef(refFile: string, input: SampleMail[]): Expected {
  const rows: Row[] = [];
  const own: string[][] = [];
  for (const m of readSampleMbox(readFileSync(join(SAMPLES, refFile), 'latin1'))) {
    const orig = input.find((x) => x.messageId === m.messageId);
    assert.ok(orig, `${refFile}: <${m.messageId}> is not in the input mbox`);
    rows.push(expectedRow(titleOf(m.subject), m.messageId, trailerBlock(m.body), orig));
    own.push(trailerBlock(orig.body));
  }
  return { rows, own, withMessageIds: true };
}

/**
 * A .verify: `git log --format=%ae[%n%ce]%n%s%n%b---` of the commits b4
 * made, newest first. The leading lines that are bare addresses are %ae/%ce.
 */
function expectedFromVerify(verifyFile: string, input: SampleMail[]): Expected {
  const lines = readFileSync(join(SAMPLES, verifyFile), 'utf8').split('\n');
  const records: string[][] = [];
  let cur: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const next = lines[i + 1];
    if (lines[i] === '---' && (next === undefined || next === '' || /^\S+@\S+$/.test(next))) {
      records.push(cur);
      cur = [];
    } else cur.push(lines[i]!);
  }
  const patches = inputPatches(input);
  const rows: Row[] = [];
  const own: string[][] = [];
  for (const r of records.reverse()) {
    let k = 0;
    while (k < r.length && /^\S+@\S+$/.test(r[k]!)) k++;
    const title = r[k]!;
    const orig = patches.find((p) => titleOf(p.subject) === title);
    assert.ok(orig, `${verifyFile}: no patch titled "${title}" in the input mbox`);
    rows.push(expectedRow(title, null, trailerBlock(r.slice(k + 1).join('\n')), orig));
    own.push(trailerBlock(orig.body));
  }
  return { rows, own, withMessageIds: false };
}

// ---------------------------------------------------------------- what ksci gives

const show = (t: { key: string; value: string }) => `${t.key}: ${t.value}`;

function gotRows(s: Series, withMessageIds: boolean): Row[] {
  return s.patches.map((p) => ({
    patch: withMessageIds ? `${p.subject.title} <${p.messageId}>` : p.subject.title,
    // Everything not in the patch itself: from replies, from the cover's replies, from an earlier version.
    gains: p.trailers.filter((t) => t.fromMessageId !== null).map(show),
  }));
}

function load(mbox: string): Promise<Series> {
  return parseMbox(readFileSync(join(SAMPLES, mbox)), limits);
}

/** Checks every case gets: own trailers kept as own, provenance set, a mismatch never applied. */
function checkConsistency(s: Series, exp: Expected): void {
  assert.deepEqual(
    s.patches.map((p) => p.trailers.filter((t) => t.fromMessageId === null).map(show)),
    exp.own,
    "each patch's own trailers (fromMessageId null) are its own trailer block, in order",
  );
  for (const p of s.patches) {
    for (const t of p.trailers) {
      const want = t.fromMessageId === null ? ['patch'] : ['reply', 'cover', 'earlier-version'];
      assert.ok(
        t.via !== undefined && want.includes(t.via),
        `patch ${p.counter} "${show(t)}" from <${t.fromMessageId}> has via ${t.via}, want one of ${want.join('/')}`,
      );
    }
  }
  for (const m of s.mismatchedTrailers ?? []) {
    if (m.target === 'cover') continue;
    const p = s.patches.find((x) => x.counter === m.target);
    assert.ok(
      !p?.trailers.some((t) => t.fromMessageId === m.fromMessageId && show(t) === show(m)),
      `mismatched "${show(m)}" (sent by ${m.sender}) is reported and yet applied to patch ${m.target}`,
    );
  }
}

function mismatches(s: Series): string[] {
  return (s.mismatchedTrailers ?? []).map(
    (m) => `${show(m)} [from <${m.fromMessageId}> sent by ${m.sender}, to ${m.target}]`,
  );
}

// ---------------------------------------------------------------- the cases

interface RefCase {
  /** trailers-followup-<source>.mbox with trailers-followup-<source>-ref-defaults.txt */
  source: string;
  /** What else b4 says about the case, checked on top of the expected file. */
  also?: (s: Series) => void;
}

/** The mismatch b4 reports (and does not apply) in single, name-parens and bare-address. */
const MISMATCHED_REVIEWER1 =
  'Reviewed-by: Mismatched Reviewer1 <mismatched-reviewer1@example.net> [from <fwup-message-3@example.com> sent by Mismatched Reviewer <mismatched-reviewer1@example.com>, to 1]';

const REF_DEFAULTS: RefCase[] = [
  {
    // The forged-ack case: "Mismatched Reviewer <mismatched-reviewer1@example.com>" sends a Reviewed-by
    // naming "Mismatched Reviewer1 <mismatched-reviewer1@example.net>"; b4 drops it and reports it.
    source: 'single',
    also: (s) => assert.deepEqual(mismatches(s), [MISMATCHED_REVIEWER1]),
  },
  // b4 0.12 applies the cover letter's reply trailers only with -t; HEAD (and ksci) always do.
  { source: 'with-cover' },
  {
    // v3 resends only 2/2, in reply to v2's 2/2: b4 fills 1/2 from v2 ("partial reroll"). Both patches get
    // the v2 cover's Reviewed-by; v2 2/2's own Reviewed-by is not carried, its diff differs from v3 2/2's.
    // b4 0.12 needs -t for the cover trailer here as well.
    source: 'partial-reroll',
    also: (s) => {
      assert.equal(s.version, 3);
      assert.deepEqual(s.partialReroll, { fromVersion: 2, reused: [1] });
    },
  },
  // A reply without "Re:" (References, trailers, no diff) is a reply.
  { source: 'nore' },
  // b4 0.12 writes the trailer inside the diff of a non-git patch (before "-- "); HEAD puts it in the message.
  { source: 'non-git-patch' },
  { source: 'non-git-patch-with-comments' },
  { source: 'with-diffstat' },
  {
    // b4 0.12 rejects "Followup Tester1 [corporate]" and "Tester2, Followup" as mismatches; HEAD accepts them
    // (the name is split off at the last <...> by hand, not parsed as an RFC 2822 address).
    source: 'name-parens',
    also: (s) => assert.deepEqual(mismatches(s), [MISMATCHED_REVIEWER1]),
  },
  { source: 'bare-address', also: (s) => assert.deepEqual(mismatches(s), [MISMATCHED_REVIEWER1]) },
  // Same b4 0.12 bug as non-git-patch.
  { source: 'stripped-lines' },
  // `<a@b<mailto:a@b>>` from HTML mail: b4 HEAD cleans it; b4 0.12 rejects the trailer as a mismatch.
  { source: 'htmljunk' },
];

describe('b4 samples: -ref-defaults (what `b4 am` gives)', () => {
  it('covers every -ref-defaults.txt in the fixtures', () => {
    const files = readdirSync(SAMPLES).filter((f) => f.endsWith('-ref-defaults.txt'));
    assert.deepEqual(
      files.map((f) => f.replace(/^trailers-followup-|-ref-defaults\.txt$/g, '')).sort(),
      REF_DEFAULTS.map((c) => c.source).sort(),
    );
  });

  for (const c of REF_DEFAULTS) {
    it(`trailers-followup-${c.source}`, async () => {
      const mbox = `trailers-followup-${c.source}.mbox`;
      const input = readSampleMbox(readFileSync(join(SAMPLES, mbox), 'latin1'));
      const exp = expectedFromRef(`trailers-followup-${c.source}-ref-defaults.txt`, input);
      const s = await load(mbox);
      // Patches in order (title and Message-ID), each with the trailers it gains.
      assert.deepEqual(gotRows(s, exp.withMessageIds), exp.rows);
      checkConsistency(s, exp);
      c.also?.(s);
    });
  }
});

describe('b4 samples: asserts of b4 tests without a reference file', () => {
  it('trailers-followup-already-present: a restated trailer block is not new, only the stranger is a mismatch', async () => {
    // b4's test_mismatched_trailer_already_on_patch_is_not_flagged: Miguel restates the patch's own
    // (indented) trailers; they are neither added again nor reported. The Tested-by that "Mismatched Reviewer"
    // sends for "Someone Else" is reported, and not applied.
    const mbox = 'trailers-followup-already-present.mbox';
    const input = readSampleMbox(readFileSync(join(SAMPLES, mbox), 'latin1'));
    const s = await load(mbox);
    const [patch] = inputPatches(input);
    const exp: Expected = {
      rows: [{ patch: `${titleOf(patch!.subject)} <${patch!.messageId}>`, gains: [] }],
      own: [trailerBlock(patch!.body)],
      withMessageIds: true,
    };
    assert.deepEqual(gotRows(s, true), exp.rows);
    checkConsistency(s, exp);
    assert.deepEqual(new Set((s.mismatchedTrailers ?? []).map((m) => m.key)), new Set(['Tested-by']));
    assert.deepEqual(mismatches(s), [
      'Tested-by: Someone Else <someone-else@example.com> [from <fwup-message-2@example.com> sent by Mismatched Reviewer <mismatched-reviewer1@example.net>, to 1]',
    ]);
  });

  it('naked-cover-single: a same-author thread root without 0/N or diffstat is the cover', async () => {
    const s = await load('naked-cover-single.mbox');
    assert.deepEqual(gotRows(s, true), [
      { patch: 'widget: do the thing <20221025-widget-v1-1-author@example.org>', gains: [] },
    ]);
    assert.ok(s.cover, 'series.cover is set');
    assert.equal(s.cover.subject.raw, 'do a thing to the widget subsystem');
    assert.equal(s.cover.messageId, '20221025-widget-v1-0-author@example.org');
  });

  it("naked-cover-bugreport: someone else's bug report the patch answers is not a cover", async () => {
    const s = await load('naked-cover-bugreport.mbox');
    assert.deepEqual(gotRows(s, true), [
      { patch: 'widget: fix data corruption under load <20221025-widget-fix-author@example.org>', gains: [] },
    ]);
    assert.equal(s.cover, null);
  });
});

describe('b4 samples: .verify (git log after b4 shazam / b4 trailers -u)', () => {
  const cases: { name: string; mbox: string; verify: string; why: string }[] = [
    {
      name: 'trailers-thread-with-followups',
      mbox: 'trailers-thread-with-followups.mbox',
      verify: 'trailers-thread-with-followups.verify',
      why: 'the one follow-up answers 4/4: its Reviewed-by goes on 4/4 only',
    },
    {
      // b4 0.12 drops the Link:/Closes: of the follow-up to 4/4; HEAD keeps them, on 4/4 only, and puts the
      // cover reply's Reviewed-by on every patch.
      name: 'trailers-thread-with-cover-followup',
      mbox: 'trailers-thread-with-cover-followup.mbox',
      verify: 'trailers-thread-with-cover-followup.verify',
      why: "Link:/Closes: of the reply to 4/4 on 4/4 only, the cover reply's Reviewed-by on all",
    },
    {
      name: 'shazam-git1-just-series (defaults)',
      mbox: 'shazam-git1-just-series.mbox',
      verify: 'shazam-git1-just-series-defaults.verify',
      why: '4 patches in order, nothing added',
    },
    {
      // With --add-link b4 adds a Link: to each patch's own Message-ID, unless the patch already has it
      // (as here): ksci adds no Link:, and the patches' own Link: trailers stay as they are.
      name: 'shazam-git1-with-link (addlink)',
      mbox: 'shazam-git1-with-link.mbox',
      verify: 'shazam-git1-just-series-addlink.verify',
      why: 'the Link: already in each patch is kept, nothing added',
    },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.why}`, async () => {
      const input = readSampleMbox(readFileSync(join(SAMPLES, c.mbox), 'latin1'));
      const exp = expectedFromVerify(c.verify, input);
      const s = await load(c.mbox);
      assert.deepEqual(gotRows(s, exp.withMessageIds), exp.rows);
      checkConsistency(s, exp);
    });
  }
});

describe('forged ack', () => {
  it('a stranger\'s "Acked-by: <maintainer>" is reported as mismatched and not applied', async () => {
    const patch = [
      'From: Pat Author <pat@example.org>',
      'Subject: [PATCH] net: dummy: count drops',
      'Date: Tue, 30 Aug 2022 11:00:00 -0400',
      'Message-ID: <forged-1@example.org>',
      '',
      'Count the drops.',
      '',
      'Signed-off-by: Pat Author <pat@example.org>',
      '---',
      'diff --git a/drivers/net/dummy.c b/drivers/net/dummy.c',
      'index 1234567..2345678 100644',
      '--- a/drivers/net/dummy.c',
      '+++ b/drivers/net/dummy.c',
      '@@ -1 +1 @@',
      '-old',
      '+new',
      '',
    ].join('\n');
    const reply = (from: string, id: string, minute: number, trailer: string) =>
      [
        `From: ${from}`,
        'Subject: Re: [PATCH] net: dummy: count drops',
        `Date: Tue, 30 Aug 2022 11:${String(minute).padStart(2, '0')}:00 -0400`,
        `Message-ID: <${id}>`,
        'In-Reply-To: <forged-1@example.org>',
        'References: <forged-1@example.org>',
        '',
        '> Count the drops.',
        '',
        trailer,
        '',
      ].join('\n');
    const s = await parseMbox(
      mboxrd([
        patch,
        reply('Stranger <s@evil.example>', 'forged-2@evil.example', 1, 'Acked-by: Maintainer <maint@kernel.org>'),
        reply(
          'Rita Reviewer <rita@example.net>',
          'forged-3@example.net',
          2,
          'Reviewed-by: Rita Reviewer <rita@example.net>',
        ),
      ]),
      limits,
    );
    assert.deepEqual(gotRows(s, true), [
      // The genuine review is applied, so the check is not just dropping every reply trailer.
      {
        patch: 'net: dummy: count drops <forged-1@example.org>',
        gains: ['Reviewed-by: Rita Reviewer <rita@example.net>'],
      },
    ]);
    assert.deepEqual(s.mismatchedTrailers, [
      {
        key: 'Acked-by',
        value: 'Maintainer <maint@kernel.org>',
        fromMessageId: 'forged-2@evil.example',
        sender: 'Stranger <s@evil.example>',
        target: 1,
      },
    ]);
  });
});
