import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { splitMbox } from '../mail/mbox.js';
import { parseMessage } from '../mail/message.js';

/*
 * `b4 am` (Debian's 0.12) against a local public-inbox, or on an mbox file
 * (the tricky threads of src/series/tricky-threads.test.ts), to cross-check
 * ksci's own series assembly. What 0.12 does, as measured on those:
 *
 * - It takes the newest revision in the thread (-v picks another).
 * - Trailers from replies go on the patch replied to, also from replies to
 *   replies (walking up); quoted "> Acked-by:" lines are not trailers. A
 *   reply's From: must match the trailer's address, else b4 drops it.
 *   Link: and Closes: in a reply are dropped.
 * - Trailers sent to the cover are applied to every patch only with -t.
 * - Order: the patch's own trailers, then the collected ones in thread
 *   order, then Link:; nothing is sorted (trailer-order defaults to "*").
 * - Link: trailers (linkmask % message-id) only with -l.
 * - A cover with an In-Reply-To and trailer-like lines (Signed-off-by:,
 *   base-commit:, change-id:, as b4-prepared covers have) is taken for a
 *   reply: a v3 cover sent In-Reply-To the v2 cover is no cover, and
 *   trailers sent to it land on v2's cover. Same patch-id across
 *   revisions carries trailers over.
 * - Per revision the first k/n it meets is kept (a later k/n is dropped
 *   without a word), but the last 0/n it meets is the cover.
 *
 * With an mbox file (`b4 --offline-mode am -m <file>`):
 *
 * - With a Message-ID b4 keeps only that message's thread; without one the
 *   whole file is the thread.
 * - b4 reads the file with Python's mailbox.mbox, which does not undo
 *   mboxrd's ">From " escaping (from a list, `git mailsplit --mboxrd`
 *   does), so the .mbx keeps the escapes and git am commits them.
 * - A message without a Message-ID is no patch: b4 says "Could not find
 *   any patches in the series." and exits 0 without a .mbx (b4Am throws).
 */

export interface B4Patch {
  /** As b4 rewrites it: "[PATCH v3 1/2] title", the tree tag dropped. */
  subject: string;
  messageId: string;
  /** The trailer block of the commit message, in b4's order. */
  trailers: string[];
  raw: Buffer;
}

export interface B4AmResult {
  patches: B4Patch[];
  coverSubject: string | null;
  /** The .mbx b4 wrote, ready for git am. */
  raw: Buffer;
  /** b4's own report (stderr). */
  log: string;
}

interface B4AmCommon {
  /** HOME, git config and cache for b4; each call writes its output in a new subdirectory. */
  workDir: string;
  /** -vN: that revision instead of the newest. */
  version?: number;
  /** -t: cover-letter trailers on every patch. Default true. */
  coverTrailers?: boolean;
  /** -l: a Link: trailer per patch, linkMask % message-id. */
  addLink?: boolean;
  /** Default b4's own, https://lore.kernel.org/r/%s, so links look like lore's whatever the port. */
  linkMask?: string;
}

/** Where b4 reads the thread: a public-inbox list over HTTP, or a local mbox file with no network at all. */
export type B4AmOptions = B4AmCommon &
  (
    | {
        /** The list's URL, <baseUrl>/<list>/: b4's midmask and searchmask point there. */
        listUrl: string;
        messageId: string;
        mbox?: never;
      }
    | {
        /** An mbox file, read with `b4 --offline-mode am -m <mbox>`. */
        mbox: string;
        /** Keeps only this message's thread; without it the whole file is the thread. */
        messageId?: string;
        listUrl?: never;
      }
  );

export function b4Available(): boolean {
  return spawnSync('b4', ['--version'], { stdio: 'ignore' }).status === 0;
}

const TRAILER = /^[A-Za-z0-9][A-Za-z0-9-]*: \S/;

/** The last paragraph of the commit message (before "---"), if it is all trailers. */
function trailersOf(body: string): string[] {
  const message = body.split(/^---$/m)[0]!.trimEnd();
  const block = message.slice(message.lastIndexOf('\n\n') + 2).split('\n');
  return block.every((l) => TRAILER.test(l)) ? block : [];
}

export async function b4Am(opts: B4AmOptions): Promise<B4AmResult> {
  mkdirSync(opts.workDir, { recursive: true });
  const gitconfig = join(opts.workDir, 'gitconfig');
  // b4 reads its settings from git config ([b4] section, .b4-config in a
  // worktree); 0.12 also fails without user.name/email, even without -s.
  writeFileSync(
    gitconfig,
    [
      '[user]',
      '\tname = ksci b4 check',
      '\temail = b4@ksci.invalid',
      '[b4]',
      ...(opts.listUrl !== undefined
        ? [`\tmidmask = ${opts.listUrl}%s`, `\tsearchmask = ${opts.listUrl}?x=m&t=1&q=%s`]
        : []),
      `\tlinkmask = ${opts.linkMask ?? 'https://lore.kernel.org/r/%s'}`,
      '\tattestation-policy = off',
      '\tattestation-check-dkim = no',
      '',
    ].join('\n'),
  );
  const outDir = mkdtempSync(join(opts.workDir, 'am-'));
  // --offline-mode is a global option, before the subcommand: with -m, b4 must not look anything up.
  const args = ['--no-stdin', '--no-interactive', ...(opts.mbox !== undefined ? ['--offline-mode'] : [])];
  args.push('am', '--no-cache', '-o', outDir);
  if (opts.mbox !== undefined) args.push('-m', opts.mbox);
  if (opts.coverTrailers ?? true) args.push('-t');
  if (opts.addLink) args.push('-l');
  if (opts.version !== undefined) args.push('-v', String(opts.version));
  if (opts.messageId !== undefined) args.push(opts.messageId);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    LANG: 'C.UTF-8',
    HOME: opts.workDir,
    GIT_CONFIG_GLOBAL: gitconfig,
    GIT_CONFIG_NOSYSTEM: '1',
    // No repository (and no .b4-config) above workDir is b4's worktree.
    GIT_CEILING_DIRECTORIES: dirname(opts.workDir),
    XDG_CACHE_HOME: join(opts.workDir, 'cache'),
    XDG_DATA_HOME: join(opts.workDir, 'data'),
    XDG_CONFIG_HOME: join(opts.workDir, 'config'),
  };
  const log = await new Promise<string>((resolve, reject) => {
    const child = spawn('b4', args, { cwd: opts.workDir, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.on('error', (e) => reject(new Error(`b4 could not run (apt-get install b4): ${e.message}`)));
    child.on('close', (code) =>
      code === 0 ? resolve(err) : reject(new Error(`b4 ${args.join(' ')} exited ${code}: ${err.trim()}`)),
    );
  });

  const files = readdirSync(outDir);
  const mbx = files.find((f) => f.endsWith('.mbx'));
  if (!mbx) throw new Error(`b4 am wrote no .mbx for ${opts.messageId ?? opts.mbox}: ${log.trim()}`);
  const raw = readFileSync(join(outDir, mbx));
  const patches: B4Patch[] = [];
  for (const m of splitMbox(raw, { maxMessageBytes: raw.length + 1 })) {
    const msg = await parseMessage(m);
    patches.push({ subject: msg.subject, messageId: msg.messageId, trailers: trailersOf(msg.body), raw: m });
  }
  const cover = files.find((f) => f.endsWith('.cover'));
  const coverSubject = cover ? (await parseMessage(readFileSync(join(outDir, cover)))).subject : null;
  return { patches, coverSubject, raw, log };
}
