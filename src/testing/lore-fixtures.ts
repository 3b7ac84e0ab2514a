import { readFileSync } from 'node:fs';
import { seededRng } from '../random.js';
import { fixturePath } from './paths.js';
import type { PublicInbox, PublicInboxList } from './public-inbox.js';

/** The two lists the fixtures were sent to, as startPublicInbox takes them. */
export const LORE_LISTS: PublicInboxList[] = [
  { name: 'bpf', address: 'bpf@vger.kernel.org' },
  { name: 'netdev', address: 'netdev@vger.kernel.org' },
];

/** The base-commit: the series name (a commit of the generator's scratch tree, not the kernel's). */
export const BASE_COMMIT = '36e962da81220662a7740c6e73498cc3fb9ce9a6';

/** test/fixtures/lore/*.mbox (mboxrd, see its README), in the order they were sent, and the list each went to. */
export const LORE_FILES = {
  'netdev-veth-fix.mbox': 'netdev',
  'bpf-skb-meta-v1.mbox': 'bpf',
  'bpf-office-hours.mbox': 'bpf',
  'netdev-dummy-drops-0-2.mbox': 'netdev',
  'netdev-dummy-drops-ack.mbox': 'netdev',
  'netdev-dummy-drops-3.mbox': 'netdev',
  'netdev-veth-fix-resend.mbox': 'netdev',
  'bpf-skb-meta-v2-v3.mbox': 'bpf',
  'bpf-skb-meta-v3-replies.mbox': 'bpf',
} as const;
export type LoreFile = keyof typeof LORE_FILES;

/** The 3/3 of the incomplete series, which tests deliver themselves, later. */
export const LATE_FILES: LoreFile[] = ['netdev-dummy-drops-3.mbox'];

/** The message-ids tests refer to, per thread. */
export const MSGID = {
  skbMetaV1: {
    cover: '20261123080002.987-1-kalle.virtanen@example.org',
    patches: ['20261123080002.987-2-kalle.virtanen@example.org', '20261123080002.987-3-kalle.virtanen@example.org'],
    review: 'aSGk2hQm0Lr9vX3e@m1-desktop',
  },
  skbMetaV2: {
    cover: '20261130120002.1234-1-kalle.virtanen@example.org',
    patches: ['20261130120002.1234-2-kalle.virtanen@example.org', '20261130120002.1234-3-kalle.virtanen@example.org'],
    robot: '202611302312.Qw7xKp2L-lkp@example.org',
  },
  /** In the v2 thread: the cover is In-Reply-To the v2 cover. */
  skbMetaV3: {
    cover: '20261130182002.2468-1-kalle.virtanen@example.org',
    patches: ['20261130182002.2468-2-kalle.virtanen@example.org', '20261130182002.2468-3-kalle.virtanen@example.org'],
    /** Acked-by: Maintainer One, to the cover. */
    ack: 'aSH0mT4kR8yWc1Zd@m1-desktop',
    /** Reviewed-by: Reviewer Two to 2/2, quoting an "Acked-by: Stan Quoted" that is not one. */
    review: 'b7e4f0a2-6c1d-4e8b-9a35-2f6d0c8e1b74@example.org',
    /** Tested-by: Tester Three, a reply to the review. */
    tested: '20261130224055.GA31337@t3-arm64',
    /** The author's thanks, a reply to the ack, no trailers. */
    thanks: 'aSHe4Nq1Vb7uXc0K@kalle-laptop',
  },
  officeHours: [
    'oh-20261125150000@chair.example.org',
    'c0ffee12-3456-4789-abcd-ef0123456789@example.org',
    'oh-20261126081244@chair.example.org',
  ],
  dummyDrops: {
    cover: '20261126120003.4321-1-joerg.mueller@example.org',
    patches: [
      '20261126120003.4321-2-joerg.mueller@example.org',
      '20261126120003.4321-3-joerg.mueller@example.org',
      '20261126120003.4321-4-joerg.mueller@example.org',
    ],
    /** Acked-by: Sofia Ricci, to the cover. */
    ack: 'e3b1c9d0-58f2-4a7e-b6c4-1d2e3f405162@example.org',
  },
  vethFix: { original: '20261116070211.5150-1-li.wei@example.org', resend: '20261127014003.6061-1-li.wei@example.org' },
  hugeRoot: '20261128080000.7777-1-kalle.virtanen@example.org',
} as const;

export function loreFixture(file: LoreFile | 'bpf-huge-thread-root.mbox'): Buffer {
  return readFileSync(fixturePath('lore', file));
}

/** Deliver fixture files to their lists, by default all but LATE_FILES. */
export async function deliverLoreFixtures(
  inbox: PublicInbox,
  files: LoreFile[] = (Object.keys(LORE_FILES) as LoreFile[]).filter((f) => !LATE_FILES.includes(f)),
): Promise<void> {
  for (const f of files) await inbox.deliverMbox(LORE_FILES[f], loreFixture(f));
}

/** Messages as one mboxrd: From_ lines as lore writes them, ">From " escaped one level more. */
export function mboxrd(messages: (Buffer | string)[]): Buffer {
  return Buffer.concat(
    messages.flatMap((m) => {
      const text = Buffer.from(m)
        .toString('latin1')
        .replace(/^(>*From )/gm, '>$1');
      return [
        Buffer.from('From mboxrd@z Thu Jan  1 00:00:00 1970\n'),
        Buffer.from(text.endsWith('\n') ? text : `${text}\n`, 'latin1'),
        Buffer.from('\n'),
      ];
    }),
  );
}

/**
 * The messages of an mboxrd, byte for byte as they were sent: the inverse of
 * mboxrd(). (splitMbox, reading any mbox, cannot tell the last message's
 * own final blank line from the separator.)
 */
export function fromMboxrd(mbox: Buffer): Buffer[] {
  return mbox
    .toString('latin1')
    .split(/^From mboxrd@z Thu Jan {2}1 00:00:00 1970\n/m)
    .slice(1)
    .map((m) => Buffer.from(m.replace(/\n$/, '').replace(/^>(>*From )/gm, '$1'), 'latin1'));
}

export interface HugeThread {
  /** The patch and every reply, oldest first, as one mboxrd for deliverMbox. */
  mbox: Buffer;
  /** The patch's, then each reply's, in mbox order. */
  messageIds: string[];
  /** The trailers the replies give the patch (every tenth reply acks it). */
  trailers: string[];
}

const REMARKS = [
  'What happens to programs that already size their log buffer for the old limit?',
  'Can we get numbers for how many programs in the selftests overflow today?',
  'I would rather see the log made streamable than the limit raised again.',
  'This also needs a note in the uapi documentation.',
  'Agreed, but please split the selftest change out.',
  'Raising it is fine by me; 16 MiB is still well below what we allow for maps.',
];

/**
 * The real patch in bpf-huge-thread-root.mbox and `replies` replies to it,
 * one a minute, each to the patch or to an earlier reply (a seeded choice,
 * so the same arguments give the same bytes): for feeds that overflow and
 * threads too big to fetch whole.
 */
export function hugeThread(replies: number, seed = 1): HugeThread {
  const subject = 'Re: [PATCH bpf-next] bpf: raise the verifier log limit to 16 MiB';
  const start = Date.parse('2026-11-28T08:00:00Z');
  const dateOf = (k: number): string => new Date(start + k * 60_000).toUTCString().replace('GMT', '+0000');
  const rng = seededRng(seed);
  const msgs = [
    {
      id: MSGID.hugeRoot as string,
      refs: [] as string[],
      from: 'Kalle Virtanen <kalle.virtanen@example.org>',
      text: 'Raise the limit.',
    },
  ];
  const trailers: string[] = [];
  const out: (Buffer | string)[] = [fromMboxrd(loreFixture('bpf-huge-thread-root.mbox'))[0]!];
  for (let i = 1; i <= replies; i++) {
    // Half the replies go to the patch or the newest message, the rest anywhere up the thread.
    const r = rng();
    const p = r < 0.25 ? 0 : r < 0.5 ? msgs.length - 1 : Math.floor(rng() * msgs.length);
    const parent = msgs[p]!;
    const acks = i % 10 === 0;
    const name = acks ? `Acker ${i}` : `Reviewer ${(i % 40) + 1}`;
    const email = acks ? `acker${i}@example.org` : `reviewer${(i % 40) + 1}@example.org`;
    const text = REMARKS[Math.floor(rng() * REMARKS.length)]!;
    const id = `huge-${seed}-${i}@${email.split('@')[0]}.example.org`;
    // Like mail clients, keep the thread's first and latest references only.
    const chain = [...parent.refs, parent.id];
    const refs = chain.length > 10 ? [chain[0]!, ...chain.slice(-9)] : chain;
    if (acks) trailers.push(`Acked-by: ${name} <${email}>`);
    out.push(
      [
        `Date: ${dateOf(i)}`,
        `From: ${name} <${email}>`,
        `To: ${parent.from}`,
        'Cc: bpf@vger.kernel.org',
        `Subject: ${subject}`,
        `Message-ID: <${id}>`,
        `References: ${refs.map((x) => `<${x}>`).join('\n ')}`,
        `In-Reply-To: <${parent.id}>`,
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=UTF-8',
        'Content-Transfer-Encoding: 8bit',
        '',
        `On ${dateOf(p)}, ${parent.from} wrote:`,
        `> ${parent.text}`,
        '',
        text,
        ...(acks ? ['', `Acked-by: ${name} <${email}>`] : []),
        '',
      ].join('\n'),
    );
    msgs.push({ id, refs, from: `${name} <${email}>`, text });
  }
  return { mbox: mboxrd(out), messageIds: msgs.map((m) => m.id), trailers };
}
