import { createHash } from 'node:crypto';
import { UsageError } from '../../errors.js';
import type { Person } from '../../series/types.js';
import type { Verdict } from '../../stages/report/verdict.js';

/**
 * The reply ksci posts on a tested series, in the manner of the kernel's
 * own bots: threaded under the cover letter, plain text, 72 columns, no
 * quoting of the original. Pure: the same input gives the same mail,
 * Message-ID included, so a send retried after a timeout is recognisably
 * the same mail and what was posted can be rebuilt from the database.
 */

/** Who gets the reply. 'author' answers the submitter only, for a bot still on probation or a list that wants no bot mail. */
export interface ReplyPolicy {
  mode: 'author' | 'list';
  listAddress: string;
  /** "ksci <ksci@ci.example.org>" or a bare address; its domain names our Message-IDs. */
  from: string;
  /** Extra copies in 'list' mode (maintainers, a bot-watch list). */
  cc?: string[];
}

export interface EmailInput {
  series: {
    title: string;
    version: number;
    isRfc: boolean;
    total: number;
    author: Person;
    /** The mail the reply threads on, without angle brackets: the cover letter, else the first patch. */
    messageId: string;
    /** That mail's own References, oldest first, without angle brackets; [] when unknown. */
    references: string[];
    /** That mail's subject as it was sent. */
    subject: string;
  };
  runId: string;
  verdict: Verdict;
  /** Report.headline. */
  headline: string;
  /** Report.text: its stage table and per-stage details make the body of the mail. */
  report: string;
  tree: { name: string; reason: string };
  /** Null when the run ended before a base was chosen. */
  baseCommit: string | null;
  configs: string[];
  resultsUrl: string | null;
  reproducer: string | null;
  policy: ReplyPolicy;
}

export interface RenderedEmail {
  from: string;
  to: string[];
  cc: string[];
  subject: string;
  /** Message-IDs here are bare, as everywhere in ksci; the sender adds the angle brackets. */
  inReplyTo: string;
  references: string[];
  messageId: string;
  text: string;
  headers: Record<string, string>;
}

/** Columns per body line: what list readers expect and the kernel's own bots keep to. */
export const EMAIL_WIDTH = 72;
const TAB = 8;

const VERDICT_NOTE: Record<Verdict, string> = {
  pass: 'Every stage that ran passed; the details are below.',
  fail: 'Something in the series needs a look; the details are below.',
  error:
    'ksci could not finish because of a problem on its side, not in the series; the details below are for reference.',
  cancelled: 'The run was cancelled before it finished, so the results below are partial.',
  skipped: 'Nothing was built or tested; the line above says why.',
};

export function renderEmail(input: EmailInput): RenderedEmail {
  const { series: s, policy } = input;
  const author = formatAddress(s.author);
  const to = policy.mode === 'list' ? [policy.listAddress] : [author];
  // In 'author' mode the reply is private: copying anyone would defeat the point of the mode.
  const cc = policy.mode === 'list' ? uniqueAddresses([author, ...(policy.cc ?? [])], to) : [];
  const original = s.subject.replace(/\s+/g, ' ').trim();

  return {
    from: policy.from,
    to,
    cc,
    subject: /^re:/i.test(original) ? original : `Re: ${original}`,
    inReplyTo: s.messageId,
    references: [...s.references.filter((r) => r !== s.messageId), s.messageId],
    messageId: messageIdFor(input.runId, input.verdict, policy.from),
    text: body(input),
    headers: {
      // RFC 3834: vacation responders and other bots must not answer this.
      'Auto-Submitted': 'auto-generated',
      'X-ksci-Run': input.runId,
      'X-ksci-Verdict': input.verdict,
    },
  };
}

/**
 * One id per run and verdict: a retried send reuses it, so lists and
 * archives drop the duplicate, while a rerun that reaches another verdict
 * is a new mail. A run id that is not a plain token is hashed, since the
 * left side of a Message-ID must be a dot-atom.
 */
export function messageIdFor(runId: string, verdict: Verdict, from: string): string {
  const left = /^[A-Za-z0-9-]+$/.test(runId) ? runId : createHash('sha256').update(runId).digest('hex').slice(0, 32);
  return `ksci.${left}.${verdict}@${domainOf(from)}`;
}

function body(input: EmailInput): string {
  const s = input.series;
  const lines: string[] = [];
  if (s.author.name.trim()) lines.push(`Hi ${s.author.name.trim()},`, '');
  lines.push(
    ...prose(
      `ksci tested ${s.isRfc ? 'RFC ' : ''}v${s.version} of this series (${s.total} patch${s.total === 1 ? '' : 'es'}).`,
    ),
    '',
  );
  lines.push(...prose(input.headline), '', ...prose(VERDICT_NOTE[input.verdict]), '');
  lines.push('What was tested:');
  const fact = (key: string, value: string) => prose(value, `  ${`${key}:`.padEnd(9)}`, ' '.repeat(11));
  lines.push(...fact('tree', `${input.tree.name} (${input.tree.reason})`));
  lines.push(...fact('base', input.baseCommit ?? 'not chosen: the run ended before that'));
  lines.push(...fact('configs', input.configs.length ? input.configs.join(', ') : 'none built'));
  lines.push(...fact('run', input.runId), '');
  lines.push(...preformatted(reportDetail(input.report)), '');
  if (input.resultsUrl) lines.push('Full results:', ...preformatted([`  ${input.resultsUrl}`]), '');
  if (input.reproducer)
    lines.push('To reproduce:', ...preformatted(input.reproducer.split(/\r?\n/).map((l) => `  ${l}`)), '');
  lines.push('-- ', 'ksci: automated testing of kernel patch series');
  return `${lines.join('\n').replace(/\n{3,}/g, '\n\n')}\n`;
}

/**
 * The report from its stage table on: its first lines (headline, series,
 * author, Message-ID, tree) repeat what the mail already says or is. A
 * report without the table is taken whole.
 */
function reportDetail(text: string): string[] {
  const lines = text.split(/\r?\n/);
  const at = lines.indexOf('Stages:');
  return at >= 0 ? lines.slice(at) : lines;
}

/**
 * Reflows words into lines of EMAIL_WIDTH: `first` leads the first line,
 * `rest` the others. A word too long for a line of its own is broken the
 * way preformatted lines are.
 */
function prose(text: string, first = '', rest = first): string[] {
  const out: string[] = [];
  let line = first;
  let empty = true;
  for (const word of clean(text.replace(/\s+/g, ' ')).split(' ').filter(Boolean)) {
    if (!empty && width(line) + 1 + width(word) > EMAIL_WIDTH) {
      out.push(line);
      line = rest;
      empty = true;
    }
    line += empty ? word : ` ${word}`;
    empty = false;
  }
  out.push(line);
  return out.flatMap((l) => breakLine(l.trimEnd()));
}

function preformatted(lines: string[]): string[] {
  return lines.map(clean).flatMap(breakLine);
}

/**
 * Preformatted text (stage tables, log excerpts, commands) is never
 * reflowed, since its line breaks mean something. A line longer than
 * EMAIL_WIDTH is cut into pieces that end in a backslash: after the last
 * space that fits, or at the width when no space does, and each
 * continuation repeats the line's indentation and "| " excerpt gutter.
 * Nothing is dropped: removing each "\", newline and repeated prefix gives
 * the line back, and a command cut at a space still runs when pasted.
 */
export function breakLine(line: string): string[] {
  let rest = [...line];
  if (rest.length <= EMAIL_WIDTH) return [line];
  const gutter = /^ *(?:\| )?/.exec(line)![0];
  // A prefix that leaves too little room would make slivers (or no progress at all).
  const lead = gutter.length <= EMAIL_WIDTH / 2 ? gutter : '';
  const out: string[] = [];
  let prefix = '';
  // The spaces of the line's own gutter are no place to cut.
  let floor = gutter.length;
  while (prefix.length + rest.length > EMAIL_WIDTH) {
    const room = EMAIL_WIDTH - 1 - prefix.length;
    const space = rest.lastIndexOf(' ', room - 1);
    const cut = space >= floor ? space + 1 : room;
    out.push(`${prefix}${rest.slice(0, cut).join('')}\\`);
    rest = rest.slice(cut);
    prefix = lead;
    floor = 1;
  }
  out.push(`${prefix}${rest.join('')}`);
  return out;
}

/** Columns of a cleaned line: one per code point (no tabs or controls are left). */
function width(s: string): number {
  return [...s].length;
}

/**
 * What a log excerpt may carry that a mail must not: colour escapes,
 * tabs (which make the width depend on the reader), other control
 * characters (shown as "?"), trailing blanks.
 */
function clean(line: string): string {
  let out = '';
  for (const ch of line.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '')) {
    if (ch === '\t') out += ' '.repeat(TAB - (width(out) % TAB));
    else out += /[\x00-\x1f\x7f-\x9f]/.test(ch) ? '?' : ch;
  }
  return out.trimEnd();
}

function formatAddress(p: Person): string {
  const name = p.name.trim();
  if (!name) return p.address;
  // RFC 5322 atext and spaces go bare; anything else ("David S. Miller", "Doe, Jane") is quoted.
  return /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+$/.test(name)
    ? `${name} <${p.address}>`
    : `"${name.replace(/(["\\])/g, '\\$1')}" <${p.address}>`;
}

function addressOf(mailbox: string): string {
  return (/<([^<>]+)>\s*$/.exec(mailbox)?.[1] ?? mailbox).trim().toLowerCase();
}

function uniqueAddresses(candidates: string[], already: string[]): string[] {
  const seen = new Set(already.map(addressOf));
  return candidates.filter((c) => {
    const a = addressOf(c);
    if (seen.has(a)) return false;
    seen.add(a);
    return true;
  });
}

function domainOf(from: string): string {
  const domain = /@([^@\s<>]+)$/.exec(addressOf(from))?.[1];
  if (!domain)
    throw new UsageError(
      `the reply's From address ${JSON.stringify(from)} has no domain`,
      'set the mail from address to a full address, e.g. "ksci <ksci@ci.example.org>"',
    );
  return domain;
}
