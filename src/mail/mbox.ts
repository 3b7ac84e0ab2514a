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
const MBOXRD_ESCAPED = /^>(>*From )/;
/** git format-patch's magic From_ line: its output is not mboxrd-escaped, and `git am` reads it as written. */
const FORMAT_PATCH = /^From [0-9a-f]{40} Mon Sep 17 00:00:00 2001\s*$/;
/** How much of the input is sniffed for binary content. */
const SNIFF_BYTES = 64 * 1024;

/**
 * Split an mbox (mboxrd or mboxo) or a single RFC 2822 message into raw
 * messages; `>From ` is un-escaped except in git format-patch output,
 * which never escaped it. Bytes are handled as latin1 so nothing is re-encoded: what
 * `git am` later receives is exactly what was sent.
 */
export function splitMbox(
  data: Buffer,
  limits: { maxMessageBytes: number },
  opts: { onBadMessage?: (err: BadInputError) => void } = {},
): Buffer[] {
  if (data.toString('latin1').trim().length === 0) throw new BadInputError('the input is empty: no mail in it');
  if (data.subarray(0, SNIFF_BYTES).includes(0)) {
    throw new BadInputError(
      'the input is binary (NUL bytes), not mail',
      'give an mbox, a .patch file from git format-patch, or a directory of them',
    );
  }
  const text = data.toString('latin1');
  const lines = text.split('\n');
  const first = lines.findIndex((l) => l.trim().length > 0);
  const starts: number[] = [];
  let prevBlank = true;
  for (let i = first; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (prevBlank && line.startsWith('From ') && FROM_LINE.test(line)) starts.push(i);
    prevBlank = line.length === 0;
  }

  const raw: string[] = [];
  if (starts[0] !== first) {
    if (!HEADER_LINE.test(lines[first] ?? '')) {
      throw new BadInputError(
        'the input is neither an mbox nor a mail message (no From_ line, no headers)',
        'give an mbox, a .patch file from git format-patch, or a directory of them',
      );
    }
    if (starts.length > 0)
      throw new BadInputError(`the input has text before its first From_ line (line ${first + 1})`);
    raw.push(lines.slice(first).join('\n'));
  } else {
    for (const [k, start] of starts.entries()) {
      const end = starts[k + 1] ?? lines.length;
      const body = lines.slice(start + 1, end);
      if (FORMAT_PATCH.test(lines[start]!.replace(/\r$/, ''))) raw.push(body.join('\n'));
      else raw.push(body.map((l) => l.replace(MBOXRD_ESCAPED, '$1')).join('\n'));
    }
  }

  const out: Buffer[] = [];
  for (const [i, m] of raw.entries()) {
    const problem = messageProblem(m, i, limits);
    if (!problem) out.push(Buffer.from(m, 'latin1'));
    // A thread from a list can carry one broken reply among good patches: the caller may drop it.
    else if (opts.onBadMessage) opts.onBadMessage(problem);
    else throw problem;
  }
  return out;
}

function messageProblem(m: string, i: number, limits: { maxMessageBytes: number }): BadInputError | null {
  const size = Buffer.byteLength(m, 'latin1');
  if (size > limits.maxMessageBytes) {
    return new BadInputError(
      `message ${i + 1} is ${size} bytes, larger than the ${limits.maxMessageBytes}-byte limit; it was not parsed`,
      'a patch this large is not reviewable mail; split it, or raise limits.maxMessageBytes',
    );
  }
  if (!/\r?\n\r?\n/.test(m))
    return new BadInputError(
      `message ${i + 1} is truncated: its headers never end (no blank line before a body)`,
      'the mbox was cut off; fetch it again',
    );
  if (!HEADER_LINE.test(m)) return new BadInputError(`message ${i + 1} does not start with mail headers`);
  return null;
}
