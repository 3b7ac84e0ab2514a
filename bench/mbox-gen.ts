/**
 * A deterministic, lore-like list archive for benchmarks: an mboxrd of
 * patch series threads (cover letter + N patches sent by git send-email,
 * several revisions of a series each in its own thread) with review replies
 * that quote the patch and give Acked-by / Reviewed-by, in date order the
 * way a list archive holds them. One known series (5 patches, v3, two
 * replies) sits in it, with its v1 and v2 threads earlier in the archive,
 * and one much-discussed series whose thread is 200 messages long.
 */

export interface TargetSeries {
  /** Message-ID of the v3 cover letter, without brackets. */
  coverMessageId: string;
  version: number;
  /** Patch titles in order (subject without prefixes). */
  titles: string[];
  /** Per patch: the trailers a tool that applies reply trailers (cover ones to every patch) must end up with. */
  trailers: string[][];
}

export interface Archive {
  mbox: Buffer;
  messages: number;
  target: TargetSeries;
  /** A much-discussed series: one thread of BUSY_THREAD messages (7 patches, a cover, replies to replies). */
  busy: TargetSeries;
}

/** The size of the busy series' thread: the cover letter, its patches and every reply. */
export const BUSY_THREAD = 200;

// Fictional people on reserved example domains: generated mail must not
// put words in real developers' mouths.
const FIRST = [
  'Maya',
  'Tomas',
  'Lena',
  'Ravi',
  'Ingrid',
  'Oskar',
  'Amara',
  'Jonas',
  'Keiko',
  'Mateo',
  'Søren',
  'Priya',
  'Björk',
  'Nadia',
  'Emil',
  'Yara',
  'Lukas',
  'Chiara',
  'Farid',
  'Hana',
];
const LAST = [
  'Lindqvist',
  'Ferreira',
  'Okafor',
  'Menon',
  'Halvorsen',
  'Åberg',
  'Nwosu',
  'Brandt',
  'Tanaka',
  'Ruiz',
  'Høgh',
  'Raman',
  'Sigurðardóttir',
  'Haddad',
  'Weiß',
  'Costa',
  'Novak',
  'Romano',
  'Karimi',
  'Sato',
];
const DOMAINS = [
  'example.org',
  'example.net',
  'example.com',
  'mail.example.org',
  'dev.example.net',
  'lab.example.com',
  'corp.example.org',
  'kernel.example',
];
const TREES = ['net-next', 'net', 'bpf-next', 'bpf'];
const AREAS: { prefix: string; files: string[] }[] = [
  {
    prefix: 'net',
    files: ['net/core/dev.c', 'net/core/skbuff.c', 'include/linux/skbuff.h', 'include/linux/netdevice.h'],
  },
  { prefix: 'tcp', files: ['net/ipv4/tcp.c', 'net/ipv4/tcp_input.c', 'net/ipv4/tcp_output.c', 'include/net/tcp.h'] },
  {
    prefix: 'bpf',
    files: ['kernel/bpf/verifier.c', 'kernel/bpf/syscall.c', 'kernel/bpf/helpers.c', 'include/linux/bpf.h'],
  },
  {
    prefix: 'selftests/bpf',
    files: [
      'tools/testing/selftests/bpf/prog_tests/xdp_metadata.c',
      'tools/testing/selftests/bpf/progs/xdp_metadata.c',
      'tools/testing/selftests/bpf/Makefile',
    ],
  },
  {
    prefix: 'net/mlx5e',
    files: [
      'drivers/net/ethernet/mellanox/mlx5/core/en_rx.c',
      'drivers/net/ethernet/mellanox/mlx5/core/en_tx.c',
      'drivers/net/ethernet/mellanox/mlx5/core/en.h',
    ],
  },
  {
    prefix: 'ice',
    files: [
      'drivers/net/ethernet/intel/ice/ice_txrx.c',
      'drivers/net/ethernet/intel/ice/ice_main.c',
      'drivers/net/ethernet/intel/ice/ice_xsk.c',
    ],
  },
  { prefix: 'xdp', files: ['net/core/xdp.c', 'include/net/xdp.h', 'kernel/bpf/devmap.c', 'kernel/bpf/cpumap.c'] },
];
const VERBS = ['fix', 'add', 'remove', 'avoid', 'use', 'convert', 'refactor', 'annotate', 'simplify', 'support'];
const OBJECTS = [
  'metadata length check',
  'data race on rx queue index',
  'unneeded rcu_read_lock()',
  'skb extension leak',
  'helper for frag allocation',
  'stale pointer after realloc',
  'READ_ONCE() for sk_rcvbuf',
  'page_pool recycling path',
  'dst refcount underflow',
  'tracepoint for drop reason',
  'offset overflow in bounds check',
  'missing NULL check on error path',
];
const CODE = [
  'int len = skb->len;',
  'struct skb_shared_info *shinfo = skb_shinfo(skb);',
  'if (unlikely(!skb))',
  '\treturn -EINVAL;',
  'rcu_read_lock();',
  'rcu_read_unlock();',
  'netdev_warn(dev, "bad metadata length %u\\n", len);',
  'err = bpf_prog_run_xdp(prog, xdp);',
  'if (err < 0)',
  '\tgoto out_free;',
  'WRITE_ONCE(sk->sk_rcvbuf, val);',
  'spin_lock_bh(&queue->lock);',
  'spin_unlock_bh(&queue->lock);',
  'u32 headroom = XDP_PACKET_HEADROOM;',
  'kfree_skb_reason(skb, SKB_DROP_REASON_NOMEM);',
  'return NET_RX_DROP;',
  'page_pool_put_full_page(pool, page, true);',
  'memset(meta, 0, sizeof(*meta));',
];
const COMMENTS = [
  'Looks good to me.',
  'Nice cleanup, thanks.',
  'Is this also needed for the tx path?',
  'Could you add a Fixes: tag?',
  'This matches what I saw in my testing.',
  'Minor nit below, otherwise fine.',
  'I would rather keep the helper inline.',
];

/** "Toke Høiland-Jørgensen" as an RFC 2047 encoded word, the way git send-email writes non-ASCII names. */
function displayName(name: string): string {
  if (/^[\x20-\x7e]*$/.test(name)) return name;
  const q = [...Buffer.from(name, 'utf8')]
    .map((b) =>
      b === 0x20
        ? '_'
        : b >= 0x21 && b <= 0x7e && b !== 0x3d && b !== 0x3f && b !== 0x5f
          ? String.fromCharCode(b)
          : `=${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
  return `=?UTF-8?q?${q}?=`;
}

interface Person {
  name: string;
  address: string;
}

function ident(p: Person): string {
  return `${p.name} <${p.address}>`;
}

function rfc2822(ms: number): string {
  const d = new Date(ms);
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getUTCDay()]!;
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()]!;
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${day}, ${d.getUTCDate()} ${mon} ${d.getUTCFullYear()} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`;
}

export function generateArchive(messages: number, seed = 20250101): Archive {
  if (!Number.isInteger(messages) || messages < 1000)
    throw new Error(`need at least 1000 messages for a lore-like archive, got ${messages}`);
  const rnd = seededRng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const hex = (n: number) => Array.from({ length: n }, () => '0123456789abcdef'[int(16)]).join('');
  const person = (): Person => {
    const first = pick(FIRST);
    const last = pick(LAST);
    const local = `${first}.${last}`
      .toLowerCase()
      .normalize('NFD')
      .replace(/[^a-z.]/g, '');
    return { name: `${first} ${last}`, address: `${local}@${pick(DOMAINS)}` };
  };

  const out: string[] = [];
  let clock = Date.UTC(2025, 0, 6, 8, 0, 0);
  const tick = (maxMinutes: number) => (clock += (1 + int(maxMinutes)) * 60_000 + int(60) * 1000);

  const emit = (
    h: { from: Person; subject: string; id: string; parents: string[]; to: string; cc: Person[] },
    body: string,
  ) => {
    const lines = [
      `From: ${displayName(h.from.name)} <${h.from.address}>`,
      `To: ${h.to}`,
      ...(h.cc.length ? [`Cc: ${h.cc.map((p) => `${displayName(p.name)} <${p.address}>`).join(',\n\t')}`] : []),
      `Subject: ${h.subject}`,
      `Date: ${rfc2822(clock)}`,
      `Message-ID: <${h.id}>`,
      ...(h.parents.length
        ? [
            `In-Reply-To: <${h.parents[h.parents.length - 1]}>`,
            `References: ${h.parents.map((p) => `<${p}>`).join('\n ')}`,
          ]
        : []),
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=UTF-8',
      'Content-Transfer-Encoding: 8bit',
      ...(h.subject.startsWith('Re:') ? [] : ['X-Mailer: git-send-email 2.47.1']),
    ];
    // mboxrd: every line starting with ">*From " gets one more ">".
    out.push(`From mboxrd@z Thu Jan  1 00:00:00 1970\n${lines.join('\n')}\n\n${body.replace(/^(>*From )/gm, '>$1')}\n`);
  };

  /** A unified diff with 1-3 files of 1-3 hunks each, hunk counts and diffstat consistent. */
  const makeDiff = (files: string[]): { stat: string; diff: string } => {
    const stat: string[] = [];
    const diffs: string[] = [];
    let ins = 0;
    let del = 0;
    for (const f of files) {
      let fileIns = 0;
      let fileDel = 0;
      const hunks: string[] = [];
      let line = 40 + int(200);
      let shift = 0;
      for (let h = 1 + int(3); h > 0; h--) {
        const before = Array.from({ length: 3 }, () => pick(CODE));
        const after = Array.from({ length: 3 }, () => pick(CODE));
        const minus = Array.from({ length: int(4) }, () => pick(CODE));
        const plus = Array.from({ length: 1 + int(5) }, () => pick(CODE));
        const oldCount = 6 + minus.length;
        const newCount = 6 + plus.length;
        hunks.push(
          `@@ -${line},${oldCount} +${line + shift},${newCount} @@ static int ${f.split('/').pop()!.replace(/\W/g, '_')}_${int(100)}(struct sk_buff *skb)\n` +
            [
              ...before.map((l) => ` \t${l}`),
              ...minus.map((l) => `-\t${l}`),
              ...plus.map((l) => `+\t${l}`),
              ...after.map((l) => ` \t${l}`),
            ].join('\n'),
        );
        fileIns += plus.length;
        fileDel += minus.length;
        shift += plus.length - minus.length;
        line += oldCount + 20 + int(300);
      }
      ins += fileIns;
      del += fileDel;
      const changes = fileIns + fileDel;
      stat.push(` ${f} | ${changes} ${'+'.repeat(fileIns)}${'-'.repeat(fileDel)}`);
      diffs.push(
        `diff --git a/${f} b/${f}\nindex ${hex(12)}..${hex(12)} 100644\n--- a/${f}\n+++ b/${f}\n${hunks.join('\n')}`,
      );
    }
    const summary = ` ${files.length} file${files.length > 1 ? 's' : ''} changed, ${ins} insertion${ins === 1 ? '' : 's'}(+), ${del} deletion${del === 1 ? '' : 's'}(-)`;
    return { stat: `${stat.join('\n')}\n${summary}`, diff: diffs.join('\n') };
  };

  interface Posted {
    id: string;
    subject: string;
    from: Person;
    body: string;
    parents: string[];
  }

  /** One revision of a series as one thread; returns what was posted so replies can quote it. */
  const postSeries = (s: {
    author: Person;
    tree: string;
    version: number;
    titles: string[];
    area: (typeof AREAS)[number];
    cc: Person[];
    prose: string[];
    fixes: boolean;
  }) => {
    const n = s.titles.length;
    const stamp = new Date(clock).toISOString().replace(/\D/g, '').slice(0, 14);
    const idBase = `${stamp}.${10000 + int(90000)}`;
    const local = s.author.address.split('@')[0]!;
    const dom = s.author.address.split('@')[1]!;
    const to = s.tree.startsWith('bpf') ? 'bpf@vger.kernel.org' : 'netdev@vger.kernel.org';
    const tag = `PATCH ${s.tree}${s.version > 1 ? ` v${s.version}` : ''}`;
    const posted: Posted[] = [];
    const coverId = `${idBase}-0-${local}@${dom}`;
    const parents = n > 1 ? [coverId] : [];
    if (n > 1) {
      const changes =
        s.version > 1 ? `\nChanges in v${s.version}:\n- ${pick(COMMENTS).toLowerCase()}\n- rebased on ${s.tree}\n` : '';
      const body = `${s.prose.join(' ')}\n\nThe series is split so that each step can be reviewed on its own.\n${changes}\n${s.author.name} (${n}):\n${s.titles.map((t) => `  ${s.area.prefix}: ${t}`).join('\n')}\n\nbase-commit: ${hex(40)}\n-- \n2.47.1\n`;
      const subject = `[${tag} 0/${n}] ${s.area.prefix}: ${s.prose[0]!.toLowerCase().replace(/\.$/, '')}`;
      emit({ from: s.author, subject, id: coverId, parents: [], to, cc: s.cc }, body);
      posted.push({ id: coverId, subject, from: s.author, body, parents: [] });
    }
    for (let k = 1; k <= n; k++) {
      tick(0);
      const files = Array.from(new Set(Array.from({ length: 1 + int(3) }, () => pick(s.area.files))));
      const { stat, diff } = makeDiff(files);
      // Now and then a paragraph starts with "From ", which mboxrd must escape.
      const extra = int(40) === 0 ? `\nFrom the original report: the warning fires once per boot.\n` : '';
      const body = `${pick(OBJECTS)} can go wrong when ${pick(OBJECTS)} races with the rx path.\n${s.prose.slice(1).join(' ')}\n${extra}\n${s.fixes ? `Fixes: ${hex(12)} ("${s.area.prefix}: ${pick(VERBS)} ${pick(OBJECTS)}")\n` : ''}Signed-off-by: ${ident(s.author)}\n---\n${stat}\n\n${diff}\n-- \n2.47.1\n`;
      const id = n > 1 ? `${idBase}-${k}-${local}@${dom}` : `${idBase}-1-${local}@${dom}`;
      const subject =
        n > 1
          ? `[${tag} ${k}/${n}] ${s.area.prefix}: ${s.titles[k - 1]}`
          : `[${tag}] ${s.area.prefix}: ${s.titles[k - 1]}`;
      emit({ from: s.author, subject, id, parents, to, cc: s.cc }, body);
      posted.push({ id, subject, from: s.author, body, parents });
    }
    return posted;
  };

  const reply = (to: Posted, from: Person, trailer: string | null, cc: Person[]) => {
    tick(240);
    const quoted = to.body
      .split('\n')
      .slice(0, 6)
      .map((l) => (l ? `> ${l}` : '>'))
      .join('\n');
    const body = `On ${rfc2822(clock - 3600_000)}, ${to.from.name} wrote:\n${quoted}\n\n${pick(COMMENTS)}\n${trailer ? `\n${trailer}: ${ident(from)}\n` : ''}`;
    const id = `${hex(8)}-${hex(4)}-${hex(4)}@${from.address.split('@')[1]}`;
    const subject = `Re: ${to.subject}`;
    emit({ from, subject, id, parents: [...to.parents, to.id], to: to.from.address, cc }, body);
    return { id, subject, from, body, parents: [...to.parents, to.id] };
  };

  const randomSeries = () => {
    const author = person();
    const area = pick(AREAS);
    const tree = pick(TREES);
    const n = int(4) === 0 ? 1 : 2 + int(11);
    const titles = Array.from({ length: n }, () => `${pick(VERBS)} ${pick(OBJECTS)}`);
    const prose = [
      `${pick(VERBS)[0]!.toUpperCase()}${pick(VERBS).slice(1)} ${pick(OBJECTS)} in ${area.prefix}.`,
      `Without it, ${pick(OBJECTS)} shows up under load.`,
      `This was found with syzkaller.`,
    ];
    const cc = Array.from({ length: 1 + int(4) }, person);
    const revisions = 1 + int(3);
    for (let v = 1; v <= revisions && out.length < messages; v++) {
      const posted = postSeries({ author, tree, version: v, titles, area, cc, prose, fixes: int(2) === 0 });
      for (let r = int(5); r > 0 && out.length < messages; r--) {
        const to = pick(posted);
        const first = reply(to, person(), int(3) === 0 ? null : pick(['Acked-by', 'Reviewed-by', 'Tested-by']), cc);
        if (int(3) === 0) reply(first, to.from, null, cc);
      }
      tick(60 * 24);
    }
  };

  // The known series: v1 and v2 earlier, each with replies (their trailers
  // must not leak into v3), then v3 with exactly two replies.
  const tAuthor: Person = { name: 'Søren Høgh', address: 'soren.hogh@example.org' };
  const tArea = AREAS.find((a) => a.prefix === 'xdp')!;
  const tTitles = [
    'add xdp_meta_len to struct xdp_buff',
    'propagate metadata length in xdp_convert_buff_to_frame()',
    'check metadata length in bpf_xdp_adjust_meta()',
    'use metadata length in cpumap',
    'use metadata length in devmap',
  ];
  const tCc: Person[] = [
    { name: 'Ingrid Halvorsen', address: 'ingrid@example.net' },
    { name: 'Oskar Åberg', address: 'oskar@example.com' },
  ];
  const tProse = [
    'Track the metadata length in the XDP buffer.',
    'Drivers compute it today from data_meta, which breaks when data_meta is left invalid.',
    'Tested with the xdp_metadata selftest.',
  ];
  const reviewer: Person = { name: 'Ingrid Halvorsen', address: 'ingrid@example.net' };
  const acker: Person = { name: 'Tomas Ferreira', address: 'tomas.ferreira@example.net' };
  let target: TargetSeries | null = null;
  const targetAt = [Math.floor(messages * 0.2), Math.floor(messages * 0.3), Math.floor(messages * 0.4)];

  // The busy series: replies to the cover, to patches and to replies (a
  // trailer in a reply to a reply goes on the patch above it; quoted
  // trailers are not given), until its thread is BUSY_THREAD messages.
  const bAuthor: Person = { name: 'Amara Nwosu', address: 'amara.nwosu@example.org' };
  const bArea = AREAS.find((a) => a.prefix === 'net/mlx5e')!;
  const bTitles = Array.from({ length: 7 }, (_, i) => `${VERBS[i]!} ${OBJECTS[i]!}`);
  const bReviewers = Array.from({ length: 12 }, person);
  let busy: TargetSeries | null = null;
  const busyAt = Math.floor(messages * 0.6);
  const postBusy = () => {
    const posted = postSeries({
      author: bAuthor,
      tree: 'net-next',
      version: 1,
      titles: bTitles,
      area: bArea,
      cc: bReviewers.slice(0, 3),
      prose: tProse,
      fixes: false,
    });
    // What each message answers, down to the cover (0) or a patch (1..7).
    const patchOf = new Map(posted.map((p, i) => [p.id, i]));
    const thread: Posted[] = [...posted];
    const given = bTitles.map(() => new Set<string>());
    const cover = new Set<string>();
    while (thread.length < BUSY_THREAD) {
      const to =
        int(3) === 0 && thread.length > posted.length
          ? thread[posted.length + int(thread.length - posted.length)]!
          : pick(posted);
      const from = int(6) === 0 ? bAuthor : pick(bReviewers);
      const key = from === bAuthor || int(3) !== 0 ? null : pick(['Acked-by', 'Reviewed-by', 'Tested-by']);
      const r = reply(to, from, key, bReviewers.slice(0, 3));
      const k = patchOf.get(to.id)!;
      patchOf.set(r.id, k);
      thread.push(r);
      if (key) (k === 0 ? cover : given[k - 1]!).add(`${key}: ${ident(from)}`);
    }
    const sob = `Signed-off-by: ${ident(bAuthor)}`;
    busy = {
      coverMessageId: posted[0]!.id,
      version: 1,
      titles: bTitles.map((t) => `${bArea.prefix}: ${t}`),
      trailers: given.map((g) => [...new Set([sob, ...g, ...cover])].sort()),
    };
  };

  while (out.length < messages) {
    if (!busy && out.length >= busyAt) {
      postBusy();
      continue;
    }
    if (targetAt.length > 0 && out.length >= targetAt[0]!) {
      const v = 4 - targetAt.length;
      targetAt.shift();
      const posted = postSeries({
        author: tAuthor,
        tree: 'net-next',
        version: v,
        titles: tTitles,
        area: tArea,
        cc: tCc,
        prose: tProse,
        fixes: false,
      });
      if (v < 3) {
        reply(posted[2]!, { name: 'Lena Okafor', address: 'lena.okafor@example.com' }, 'Acked-by', tCc);
      } else {
        reply(posted[2]!, reviewer, 'Reviewed-by', tCc);
        reply(posted[0]!, acker, 'Acked-by', tCc);
        const sob = `Signed-off-by: ${ident(tAuthor)}`;
        target = {
          coverMessageId: posted[0]!.id,
          version: 3,
          titles: tTitles.map((t) => `${tArea.prefix}: ${t}`),
          trailers: tTitles.map((_, i) =>
            [sob, ...(i === 1 ? [`Reviewed-by: ${ident(reviewer)}`] : []), `Acked-by: ${ident(acker)}`].sort(),
          ),
        };
      }
      continue;
    }
    randomSeries();
  }
  if (!target || !busy) throw new Error('the archive ended before the known series were placed');
  out.length = Math.min(out.length, messages);
  return { mbox: Buffer.from(out.join('\n'), 'utf8'), messages: out.length, target, busy };
}
import { seededRng } from '../src/random.js';
