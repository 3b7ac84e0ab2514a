import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { MSGID } from '../testing/lore-fixtures.js';
import { fixturePath } from '../testing/paths.js';
import { parseAtomFeed } from './atom.js';
import { isSeriesCandidate, sinceQuery } from './poll.js';

const captured = (name: string) => readFileSync(fixturePath('lore', 'captured', name), 'utf8');

describe('parseAtomFeed on feeds captured from public-inbox 1.9', () => {
  it('new.atom of bpf: every message, newest first, ids from the links, parents from thr:in-reply-to', () => {
    const entries = parseAtomFeed(captured('bpf-new.atom'));
    assert.equal(entries.length, 18);
    assert.equal(entries[0]!.messageId, MSGID.skbMetaV3.thanks);
    assert.equal(entries[0]!.inReplyTo, MSGID.skbMetaV3.ack);
    assert.equal(entries[0]!.updated, '2026-11-30T23:50:00Z');
    assert.deepEqual(entries[0]!.author, { name: 'Kalle Virtanen', address: 'kalle.virtanen@example.org' });
    const v3 = entries.find((e) => e.messageId === MSGID.skbMetaV3.cover)!;
    assert.equal(v3.title, '[PATCH bpf-next v3 0/2] bpf: skb metadata through bpf_dynptr');
    assert.equal(v3.inReplyTo, MSGID.skbMetaV2.cover, 'v3 was sent in reply to the v2 cover');
    const dates = entries.map((e) => e.updated!);
    assert.deepEqual(dates, [...dates].sort().reverse());
  });

  it('netdev: a non-ASCII author name (RFC 2047 in the mail, entities in the feed)', () => {
    const entries = parseAtomFeed(captured('netdev-new.atom'));
    const cover = entries.find((e) => e.messageId === MSGID.dummyDrops.cover)!;
    assert.equal(cover.author.name, 'Jörg Müller');
    assert.equal(entries.find((e) => e.messageId === MSGID.vethFix.original)?.inReplyTo, null);
  });

  it('a search result (x=A) reads the same', () => {
    const entries = parseAtomFeed(captured('bpf-search-dt.atom'));
    // dt:20261130120001..20261130190000, newest first: v3, the robot's reply on v2, v2's patches (its cover is dated 12:00:00).
    assert.deepEqual(
      entries.map((e) => e.messageId),
      [
        ...[...MSGID.skbMetaV3.patches].reverse(),
        MSGID.skbMetaV3.cover,
        MSGID.skbMetaV2.robot,
        ...[...MSGID.skbMetaV2.patches].reverse(),
      ],
    );
  });

  it('refuses what is not a feed, with a hint', () => {
    assert.throws(() => parseAtomFeed('<html><body>404</body></html>'), /not an Atom feed/);
    assert.throws(() => parseAtomFeed('<feed><entry>'), /well-formed|not an Atom/);
  });

  it('which titles can start a series: patches and covers, not replies or discussion', () => {
    assert.equal(isSeriesCandidate('[PATCH bpf-next v3 0/2] bpf: x'), true);
    assert.equal(isSeriesCandidate('[PATCH RESEND net 1/1] veth: x'), true);
    assert.equal(isSeriesCandidate('[RFC net-next] x'), true);
    assert.equal(isSeriesCandidate('Re: [PATCH bpf-next v3 0/2] bpf: x'), false);
    assert.equal(isSeriesCandidate('BPF office hours 2026-11-26'), false);
  });

  it('the gap search starts a day before the newest message seen, in dt: form', () => {
    assert.equal(sinceQuery(new Date('2026-11-30T23:50:00Z')), 'dt:20261129235000..');
  });
});
