import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, mkdirSync, openSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { splitMbox } from '../mail/mbox.js';

/*
 * A real public-inbox 1.9 archive served over HTTP on loopback: what tests use
 * as "lore". What its feed looks like, as measured on this version:
 *
 * - /<list>/new.atom holds the 25 newest messages (publicinbox.<name>.feedmax),
 *   newest first by the top Received: header's date, else the Date: header.
 *   Mail delivered here carries no Received:, so a message delivered late
 *   with an old Date: lands in the middle of the feed, or beyond its 25.
 * - An entry's <link href> is <baseUrl>/<list>/<message-id>/ (the id
 *   percent-escaped where needed); its <id> is a urn:uuid hashed from the
 *   message-id, so the link is where the id is recoverable from. A reply
 *   also has <thr:in-reply-to href=".../<parent-id>/">; <updated> is the
 *   date the feed is ordered by.
 * - /<list>/?q=<xapian query>&x=A is the same Atom for a search (up to 200,
 *   newest first; o=-1 oldest first); no hit is an HTTP 404, not an empty feed.
 *   d:20261130.. ranges by Date:; rt:/dt: take git approxidate, which gives
 *   a bare date the current time of day.
 */

const TOOLS = ['public-inbox-init', 'public-inbox-mda', 'public-inbox-httpd'];
const INSTALL = 'apt-get install public-inbox libsearch-xapian-perl';

export interface PublicInboxList {
  /** The inbox name, the first path segment of its URLs: "bpf" in /bpf/new.atom. */
  name: string;
  address: string;
}

export interface PublicInbox {
  /** http://127.0.0.1:<port>, no trailing slash. */
  baseUrl: string;
  /** The httpd's process id; it leads its own process group. */
  pid: number;
  /** <baseUrl>/<list>/, what lore calls https://lore.kernel.org/<list>/. */
  listUrl(list: string): string;
  /**
   * One message through public-inbox-mda, the way a list's MTA hands it
   * over. The bytes are stored as given (a leading From_ line is dropped,
   * nothing is unescaped) plus the List-Id: header public-inbox adds.
   */
  deliver(list: string, raw: Buffer | string): Promise<void>;
  /**
   * Every message of an mboxrd (as lore's t.mbox.gz and the fixtures are) in
   * one import: what -mda does per message, minus spam checks and fsync,
   * hundreds of messages in a second where -mda takes half of one per
   * message. Returns how many were new (public-inbox drops exact duplicates).
   */
  deliverMbox(list: string, mboxrd: Buffer | string): Promise<number>;
  stop(): Promise<void>;
}

function onPath(bin: string): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((d) => {
    try {
      accessSync(join(d, bin), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The tools exist, and the Xapian binding that search needs. */
export function publicInboxAvailable(): boolean {
  return TOOLS.every(onPath) && spawnSync('perl', ['-MSearch::Xapian', '-e1'], { stdio: 'ignore' }).status === 0;
}

/*
 * The same steps as public-inbox-mda after its checks, for a whole mbox:
 * List-Id as -mda sets it, then the importer. -no_fsync is what
 * public-inbox's own test suite sets for its inboxes.
 */
const IMPORT_MBOX = `
use v5.12;
use PublicInbox::Config;
use PublicInbox::InboxWritable;
use PublicInbox::MboxReader;
use PublicInbox::MDA;
my $ibx = PublicInbox::Config->new->lookup_name($ARGV[0]) or die "no inbox $ARGV[0]\\n";
$ibx = PublicInbox::InboxWritable->new($ibx);
$ibx->{-no_fsync} = 1;
my $im = $ibx->importer(0);
my $n = 0;
PublicInbox::MboxReader->mboxrd(\\*STDIN, sub {
	my ($eml) = @_;
	PublicInbox::MDA->set_list_headers($eml, $ibx);
	$n++ if defined $im->add($eml);
});
$im->done;
print "$n\\n";
`;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else
        reject(
          new Error(
            `${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${Buffer.concat(err).toString('utf8').trim()}`,
          ),
        );
    });
    child.stdin.end(input);
  });
}

/**
 * Create the inboxes (v2 format, one Xapian shard) under opts.dir and serve
 * them. Everything lives in opts.dir: the config, HOME, the emergency
 * Maildir, the logs; ~/.public-inbox is never read.
 */
export async function startPublicInbox(opts: { dir: string; lists: PublicInboxList[] }): Promise<PublicInbox> {
  if (opts.lists.length === 0) throw new Error('startPublicInbox needs at least one list');
  if (!publicInboxAvailable())
    throw new Error(`public-inbox (${TOOLS.join(', ')}) with Search::Xapian is not installed: ${INSTALL}`);
  const home = join(opts.dir, 'home');
  mkdirSync(home, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    LANG: 'C.UTF-8',
    TZ: 'UTC',
    HOME: home,
    PI_CONFIG: join(opts.dir, 'config'),
    PI_DIR: join(home, '.public-inbox'),
    PI_EMERGENCY: join(opts.dir, 'emergency'),
    GIT_CONFIG_NOSYSTEM: '1',
  };
  const lists = new Map(opts.lists.map((l) => [l.name, l]));
  for (const l of opts.lists) {
    // -init requires a URL, but the web pages build theirs from the request's Host.
    await run(
      'public-inbox-init',
      ['-V2', '-j1', l.name, join(opts.dir, 'inboxes', l.name), `http://127.0.0.1/${l.name}`, l.address],
      env,
    );
  }
  await run('git', ['config', '--file', env['PI_CONFIG']!, 'publicinboxmda.spamcheck', 'none'], env);

  const log = openSync(join(opts.dir, 'httpd.log'), 'a');
  // -W0: no worker processes, so the daemon is one process (and its git
  // cat-file children) in a group of its own; port 0 and the "# bound"
  // line it prints give a free port without a race.
  const httpd = spawn('public-inbox-httpd', ['-W0', '-l', 'http://127.0.0.1:0'], {
    env,
    cwd: opts.dir,
    detached: true,
    stdio: ['ignore', log, 'pipe'],
  });
  closeSync(log);
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-httpd.pid!, sig);
    } catch {
      // the group is gone already
    }
  };
  const kill = (): void => signal('SIGKILL');
  process.once('exit', kill);
  let baseUrl: string;
  try {
    baseUrl = await boundUrl(httpd);
    // Bound is not serving yet: the first answer is.
    await fetch(`${baseUrl}/${opts.lists[0]!.name}/new.atom`, { signal: AbortSignal.timeout(15000) }).then((r) =>
      r.arrayBuffer(),
    );
  } catch (err) {
    kill();
    process.off('exit', kill);
    throw err;
  }

  const address = (list: string): string => {
    const l = lists.get(list);
    if (!l) throw new Error(`no list "${list}" in this public-inbox; it serves ${[...lists.keys()].join(', ')}`);
    return l.address;
  };
  return {
    baseUrl,
    pid: httpd.pid!,
    listUrl(list) {
      address(list);
      return `${baseUrl}/${list}/`;
    },
    async deliver(list, raw) {
      const buf = Buffer.from(raw);
      const n = splitMbox(buf, { maxMessageBytes: buf.length + 1 }).length;
      if (n !== 1) throw new Error(`deliver() takes one message, this is an mbox of ${n}: use deliverMbox()`);
      await run('public-inbox-mda', ['--no-precheck'], { ...env, ORIGINAL_RECIPIENT: address(list) }, buf);
    },
    async deliverMbox(list, mboxrd) {
      address(list);
      return Number((await run('perl', ['-e', IMPORT_MBOX, list], env, Buffer.from(mboxrd))).trim());
    },
    async stop() {
      process.off('exit', kill);
      if (httpd.exitCode === null && httpd.signalCode === null) {
        const exited = new Promise((r) => httpd.once('exit', r));
        signal('SIGTERM');
        const timer = setTimeout(kill, 5000);
        await exited;
        clearTimeout(timer);
      }
      // The git cat-file children leave on EOF; whatever lingers is killed.
      for (let i = 0; i < 50 && groupAlive(httpd.pid!); i++) await new Promise((r) => setTimeout(r, 20));
      kill();
    },
  };
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The URL from the daemon's "# bound http://127.0.0.1:PORT" line; its stderr is kept draining. */
function boundUrl(httpd: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(
      () => reject(new Error(`public-inbox-httpd did not bind within 15 s: ${text.trim()}`)),
      15000,
    );
    httpd.stderr!.setEncoding('utf8');
    httpd.stderr!.on('data', (s: string) => {
      if (text.length < 64 * 1024) text += s;
      const m = /^# bound (http:\/\/127\.0\.0\.1:\d+)/m.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    httpd.once('error', (err) => reject(new Error(`public-inbox-httpd could not start (${INSTALL}): ${err.message}`)));
    httpd.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(
          `public-inbox-httpd exited (${signal ?? `exit ${code}`}) before serving: ${text.trim() || 'no message'}; is ${INSTALL} complete?`,
        ),
      );
    });
  });
}
