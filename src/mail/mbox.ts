import { BadInputError } from '../errors.js';

/*
 * A From_ line, recognised the way git mailsplit does: "From " then an
 * address-ish word and a date with a clock time. A line in a commit message
 * that merely starts with "From " is not a separator.
 *   From 1234abcd Mon Sep 17 00:00:00 2001        (git format-patch)
 *   From mboxrd@z Thu Jan  1 00:00:00 1970         (public-inbox)
 */
const FROM_LINE = /^From \S+ +.*\b\d{1,2}:\d{2}(?::\d{2})?\b.*\d{4}\s*$/;
const HEADER_LINE = /^[!-9;-~]+:/;
/** git format-patch's magic From_ line: its output is not mboxrd-escaped, and `git am` reads it as written. */
const FORMAT_PATCH = /^From [0-9a-f]{40} Mon Sep 17 00:00:00 2001\s*$/;
/** How much of the input is sniffed for binary content. */
const SNIFF_BYTES = 64 * 1024;

/** One message of an mbox, by where its bytes are (after its From_ line). */
export interface MboxSpan {
  /** Byte offset of the message's first header line. */
  start: number;
  /** Byte offset just past the message (the blank line before the next From_ line is not part of it). */
  end: number;
  /** From git format-patch, whose bodies were never mboxrd-escaped. */
  formatPatch: boolean;
  /** The message's header block (up to its first blank line, at most HEAD_BYTES): enough to thread it. */
  head: Buffer;
}

/** A header block longer than this is cut for threading (it still counts whole when the message is read). */
const HEAD_BYTES = 64 * 1024;
const NL = 0x0a;
const FROM_ = Buffer.from('From ');

/**
 * Finds the messages of an mbox in chunks of bytes as they are read, so an
 * archive is never held whole: it keeps one partial line and the header
 * block of the message being read. The From_ line rule is splitMbox's.
 */
export class MboxScanner {
  private carry: Buffer = Buffer.alloc(0);
  /** Byte offset of `carry`'s first byte. */
  private offset = 0;
  private prevBlank = true;
  private current: { start: number; formatPatch: boolean; head: Buffer[]; headBytes: number; inHead: boolean } | null =
    null;
  private readonly done: MboxSpan[] = [];
  /** Offset of the first non-blank line, and whether it was a From_ line. */
  firstLine: { offset: number; isFrom: boolean } | null = null;

  push(chunk: Buffer): MboxSpan[] {
    const data = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    let pos = 0;
    for (let nl = data.indexOf(NL, pos); nl >= 0; nl = data.indexOf(NL, pos)) {
      this.line(data.subarray(pos, nl + 1), this.offset + pos);
      pos = nl + 1;
    }
    this.carry = Buffer.from(data.subarray(pos));
    this.offset += pos;
    return this.take();
  }

  /** The input ended at byte `size`: the last message runs to it. */
  end(size: number): MboxSpan[] {
    if (this.carry.length) this.line(this.carry, this.offset, true);
    this.carry = Buffer.alloc(0);
    if (this.current) this.close(size);
    return this.take();
  }

  private take(): MboxSpan[] {
    return this.done.splice(0);
  }

  private close(end: number): void {
    const c = this.current!;
    this.done.push({
      start: c.start,
      end: Math.max(c.start, end),
      formatPatch: c.formatPatch,
      head: Buffer.concat(c.head),
    });
    this.current = null;
  }

  /** One line with its newline (the last line of the input may lack it), at byte `at`. */
  private line(bytes: Buffer, at: number, last = false): void {
    const content = bytes.subarray(0, bytes.length - (last ? 0 : 1));
    const text = content.length && content[content.length - 1] === 0x0d ? content.subarray(0, -1) : content;
    const blank = text.length === 0;
    if (!this.firstLine && text.toString('latin1').trim().length > 0)
      this.firstLine = { offset: at, isFrom: this.isFromLine(text) };
    if (this.prevBlank && this.isFromLine(text)) {
      // The previous message ends before the blank line in front of this From_ line.
      if (this.current) this.close(at - 1);
      this.current = {
        start: at + bytes.length,
        formatPatch: FORMAT_PATCH.test(text.toString('latin1')),
        head: [],
        headBytes: 0,
        inHead: true,
      };
    } else if (this.current?.inHead) {
      if (blank) this.current.inHead = false;
      else if (this.current.headBytes < HEAD_BYTES) {
        this.current.head.push(Buffer.from(bytes));
        this.current.headBytes += bytes.length;
      }
    }
    this.prevBlank = blank;
  }

  private isFromLine(text: Buffer): boolean {
    return text.subarray(0, FROM_.length).equals(FROM_) && FROM_LINE.test(text.toString('latin1'));
  }
}

/** A message's bytes as git am should get them: `>From ` un-escaped one level, except in format-patch output. */
export function unescapeMessage(bytes: Buffer, formatPatch: boolean): Buffer {
  if (formatPatch) return bytes;
  const text = bytes.toString('latin1');
  return /^>+From /m.test(text) ? Buffer.from(text.replace(/^>(>*From )/gm, '$1'), 'latin1') : bytes;
}

/** Refuse what is not mail at all, before splitting it. */
export function checkMailInput(head: Buffer, isEmpty: boolean): void {
  if (isEmpty) throw new BadInputError('the input is empty: no mail in it');
  if (head.subarray(0, SNIFF_BYTES).includes(0)) {
    throw new BadInputError(
      'the input is binary (NUL bytes), not mail',
      'give an mbox, a .patch file from git format-patch, or a directory of them',
    );
  }
}

/**
 * Split an mbox (mboxrd or mboxo) or a single RFC 2822 message into raw
 * messages; `>From ` is un-escaped except in git format-patch output,
 * which never escaped it. Bytes are handled as latin1 so nothing is
 * re-encoded: what `git am` later receives is exactly what was sent.
 */
export function splitMbox(
  data: Buffer,
  limits: { maxMessageBytes: number },
  opts: { onBadMessage?: (err: BadInputError) => void } = {},
): Buffer[] {
  checkMailInput(data, data.toString('latin1').trim().length === 0);
  const scanner = new MboxScanner();
  const spans = [...scanner.push(data), ...scanner.end(data.length)];
  const first = scanner.firstLine!;
  const raw: Buffer[] = [];
  if (!first.isFrom) {
    if (!HEADER_LINE.test(data.subarray(first.offset, first.offset + 1024).toString('latin1'))) {
      throw new BadInputError(
        'the input is neither an mbox nor a mail message (no From_ line, no headers)',
        'give an mbox, a .patch file from git format-patch, or a directory of them',
      );
    }
    if (spans.length > 0) {
      const line = data.subarray(0, first.offset).toString('latin1').split('\n').length;
      throw new BadInputError(`the input has text before its first From_ line (line ${line})`);
    }
    raw.push(data.subarray(first.offset));
  } else {
    for (const span of spans) raw.push(unescapeMessage(data.subarray(span.start, span.end), span.formatPatch));
  }

  const out: Buffer[] = [];
  for (const [i, m] of raw.entries()) {
    const problem = messageProblem(m, i, limits);
    if (!problem) out.push(m);
    // A thread from a list can carry one broken reply among good patches: the caller may drop it.
    else if (opts.onBadMessage) opts.onBadMessage(problem);
    else throw problem;
  }
  return out;
}

/** A message larger than the limit, known by its size before it is read. */
export function sizeProblem(size: number, i: number, limits: { maxMessageBytes: number }): BadInputError | null {
  if (size <= limits.maxMessageBytes) return null;
  return new BadInputError(
    `message ${i + 1} is ${size} bytes, larger than the ${limits.maxMessageBytes}-byte limit; it was not parsed`,
    'a patch this large is not reviewable mail; split it, or raise limits.maxMessageBytes',
  );
}

/** Why one message of an mbox cannot be used, or null. */
export function messageProblem(bytes: Buffer, i: number, limits: { maxMessageBytes: number }): BadInputError | null {
  const tooLarge = sizeProblem(bytes.length, i, limits);
  if (tooLarge) return tooLarge;
  if (!bytes.includes('\n\n') && !bytes.includes('\n\r\n'))
    return new BadInputError(
      `message ${i + 1} is truncated: its headers never end (no blank line before a body)`,
      'the mbox was cut off; fetch it again',
    );
  if (!HEADER_LINE.test(bytes.subarray(0, 1024).toString('latin1')))
    return new BadInputError(`message ${i + 1} does not start with mail headers`);
  return null;
}
