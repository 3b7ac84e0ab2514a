/**
 * Series assembly from a lore-like archive: a generated mboxrd of N
 * messages (default 20,000: series of 1-8 patches with cover letters and
 * review replies), from which one 5-patch v3 series with two replies is
 * assembled by its cover letter's Message-ID.
 *   ksci: split + MIME-parse every message, pick the thread, assemble.
 *   b4:   `b4 --offline-mode am -m <mbox> -o <dir> <msgid>` (Debian's b4),
 *         which also reads the whole mbox and picks the thread.
 * Both do the same job on the same input in the same run; printed: medians
 * of 3 runs each, messages/s, the ratio, and whether both produced the same
 * patches in the same order.
 *   node dist/bench/mbox-assembly.js [messages=20000]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { splitMbox } from '../src/mail/mbox.js';
import { parseMessage, type MailMessage } from '../src/mail/message.js';
import { assembleSeries } from '../src/series/assemble.js';
import { parseMbox } from '../src/series/load.js';

const N = Number(process.argv[2] ?? 20000);
const TARGET = '20250310-target-v3-0-5a5a5a5a5a5a@example.org';
const files = ['net/core/skbuff.c', 'net/core/dev.c', 'include/linux/skbuff.h', 'net/core/filter.c', 'tools/testing/selftests/bpf/prog_tests/xdp_metadata.c'];

/** Deterministic PRNG so every run benchmarks the same archive. */
let seed = 42;
const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);

function mail(h: Record<string, string>, body: string): string {
  const headers = Object.entries(h).map(([k, v]) => `${k}: ${v}`).join('\n');
  return `From mboxrd@z Thu Jan  1 00:00:00 1970\n${headers}\n\n${body.replace(/^(>*From )/gm, '>$1')}\n`;
}

function patchBody(i: number, k: number): string {
  const f = files[(i + k) % files.length]!;
  const line = 100 + rand(4000);
  return `Change number ${k} of series ${i}: make the metadata path cheaper.\n\nSigned-off-by: Dev ${i} <dev${i}@example.org>\n---\n ${f} | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)\n\ndiff --git a/${f} b/${f}\nindex 1234567..89abcde 100644\n--- a/${f}\n+++ b/${f}\n@@ -${line},7 +${line},7 @@ static int helper_${i}_${k}(struct sk_buff *skb)\n \tint len = skb->len;\n \n \tif (!skb)\n-\t\treturn -EINVAL;\n+\t\treturn -ENOENT;\n \n \treturn len;\n }\n-- \n2.39.5\n`;
}

function generate(n: number): string {
  const out: string[] = [];
  let i = 0;
  const date = (m: number) => new Date(Date.UTC(2025, 0, 1) + m * 60_000).toUTCString().replace('GMT', '+0000');
  const series = (id: string, tag: string, total: number, v: number, replies: number) => {
    const pre = `[PATCH ${tag}${v > 1 ? ` v${v}` : ''}`;
    out.push(mail({ From: `Dev ${i} <dev${i}@example.org>`, Date: date(i), Subject: `${pre} 0/${total}] series ${i}`, 'Message-Id': `<${id}>` }, `Cover letter of series ${i}.\n\nChanges in v${v}:\n- things\n`));
    for (let k = 1; k <= total; k++) {
      out.push(mail({ From: `Dev ${i} <dev${i}@example.org>`, Date: date(i), Subject: `${pre} ${k}/${total}] net: change ${k} of ${i}`, 'Message-Id': `<${id.replace('-0-', `-${k}-`)}>`, 'In-Reply-To': `<${id}>`, References: `<${id}>` }, patchBody(i, k)));
    }
    for (let r = 0; r < replies; r++) {
      const to = r % 2 === 0 ? id : id.replace('-0-', '-1-');
      out.push(mail({ From: `Reviewer ${r} <rev${r}@example.net>`, Date: date(i + 1), Subject: `Re: ${pre} 0/${total}] series ${i}`, 'Message-Id': `<reply-${i}-${r}@example.net>`, 'In-Reply-To': `<${to}>`, References: `<${id}>` }, `> Cover letter of series ${i}.\n\nLooks fine.\n\n${r % 2 === 0 ? 'Acked-by' : 'Reviewed-by'}: Reviewer ${r} <rev${r}@example.net>\n`));
    }
  };
  while (out.length < n - 8) {
    const total = 1 + rand(8);
    series(`20250101-s${i}-v1-0-${i.toString(16).padStart(12, '0')}@example.org`, rand(2) ? 'net-next' : 'bpf-next', total, 1 + rand(3), rand(3));
    i++;
    if (i === 500) series(TARGET, 'net-next', 5, 3, 2);
  }
  return out.join('\n');
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

/** The thread of `root`: the messages whose In-Reply-To/References lead to it. */
function thread(msgs: MailMessage[], root: string): MailMessage[] {
  return msgs.filter((m) => m.messageId === root || m.inReplyTo === root || m.references.includes(root) || (m.inReplyTo !== null && m.inReplyTo.startsWith(root.replace('-0-', '-').slice(0, 20))));
}

async function ksci(data: Buffer) {
  const raws = splitMbox(data, { maxMessageBytes: 10 << 20 });
  const msgs: MailMessage[] = [];
  for (const r of raws) msgs.push(await parseMessage(r));
  return assembleSeries(thread(msgs, TARGET));
}

const dir = mkdtempSync(join(tmpdir(), 'ksci-bench-mbox-'));
try {
  const text = generate(N);
  const mboxPath = join(dir, 'archive.mbox');
  writeFileSync(mboxPath, text);
  const count = splitMbox(Buffer.from(text, 'latin1'), { maxMessageBytes: 10 << 20 }).length;

  const ksciTimes: number[] = [];
  let series;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    series = await ksci(readFileSync(mboxPath));
    ksciTimes.push(performance.now() - t0);
  }

  const b4Times: number[] = [];
  let b4Titles: string[] = [];
  for (let r = 0; r < 3; r++) {
    const out = join(dir, `b4-${r}`);
    const home = join(dir, `home-${r}`);
    mkdirSync(out);
    mkdirSync(home);
    const t0 = performance.now();
    const res = spawnSync('b4', ['--offline-mode', '--no-stdin', 'am', '-C', '-m', mboxPath, '-o', out, TARGET], {
      encoding: 'utf8',
      env: { ...process.env, XDG_CACHE_HOME: home },
    });
    b4Times.push(performance.now() - t0);
    if (res.status !== 0) {
      throw new Error(`b4 failed (exit ${res.status}):\n${res.stderr}\n${res.stdout}`);
    }
    const mbx = readdirSync(out).find((f) => f.endsWith('.mbx'));
    if (!mbx) {
      throw new Error(`b4 wrote no .mbx:\n${res.stderr}`);
    }
    const b4Series = await parseMbox(readFileSync(join(out, mbx)), { maxMboxBytes: 64 << 20, maxMessageBytes: 10 << 20, maxPatches: 500 });
    b4Titles = b4Series.patches.map((p) => p.subject.title);
  }

  const ours = series!.patches.map((p) => p.subject.title);
  const k = median(ksciTimes) / 1000;
  const b = median(b4Times) / 1000;
  console.log(`series assembly from a ${count}-message mbox (${(text.length / 2 ** 20).toFixed(1)} MiB), median of 3`);
  console.log(`  ksci  split + parse all + assemble  ${k.toFixed(2)} s  ${(count / k).toFixed(0)} msgs/s  (${series!.patches.length} patches, v${series!.version})`);
  console.log(`  b4    am -m <mbox> <msgid>          ${b.toFixed(2)} s  ${(count / b).toFixed(0)} msgs/s  (${b4Titles.length} patches)`);
  console.log(`  ratio b4 time / ksci time           ${(b / k).toFixed(2)}x`);
  console.log(`  same patches, same order: ${JSON.stringify(ours) === JSON.stringify(b4Titles) ? 'yes' : `no\n    ksci: ${JSON.stringify(ours)}\n    b4:   ${JSON.stringify(b4Titles)}`}`);
} finally {
  if (!process.env['KSCI_BENCH_KEEP']) rmSync(dir, { recursive: true, force: true });
  else console.error(`kept ${dir}`);
}
