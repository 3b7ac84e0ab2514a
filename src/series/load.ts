import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BadInputError } from '../errors.js';
import {
  checkMailInput,
  MboxScanner,
  type MboxSpan,
  messageProblem,
  sizeProblem,
  splitMbox,
  unescapeMessage,
} from '../mail/mbox.js';
import { parseMessage } from '../mail/message.js';
import { selectThread, threadIds, threadMembers } from '../mail/thread.js';
import { assembleSeries } from './assemble.js';
import type { Series } from './types.js';

export interface LoadOptions {
  maxMboxBytes: number;
  maxMessageBytes: number;
  maxPatches: number;
  version?: number;
  /** The series this message belongs to (see AssembleOptions). */
  messageId?: string;
}

/** Bytes of an mbox (or one message) to a series. */
export async function parseMbox(data: Buffer, opts: LoadOptions): Promise<Series> {
  return assembleSeries(await parseMessages([data], opts), opts);
}

async function parseMessages(chunks: Buffer[], opts: LoadOptions): Promise<Awaited<ReturnType<typeof parseMessage>>[]> {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  if (total > opts.maxMboxBytes)
    throw new BadInputError(`the input is ${total} bytes, larger than the ${opts.maxMboxBytes}-byte limit`);
  let raws = chunks.flatMap((c) => splitMbox(c, opts));
  // With a Message-ID only its thread is parsed: an archive's other mail is never decoded.
  if (opts.messageId && raws.length > 1) {
    const thread = selectThread(raws, opts.messageId);
    if (!thread) throw new BadInputError(`<${opts.messageId}> is not in the input`, 'give the mbox that message is in');
    raws = thread;
  }
  const out = [];
  for (const r of raws) out.push(await parseMessage(r));
  return out;
}

/** A file (mbox, .patch, .eml) or a directory of *.patch / *.eml (format-patch output). */
export async function loadSeries(path: string, opts: LoadOptions): Promise<Series> {
  const st = await stat(path).catch(() => null);
  if (!st) throw new BadInputError(`${path} does not exist`);
  if (st.isDirectory()) {
    const names = (await readdir(path)).filter((n) => /\.(patch|eml|mbox)$/.test(n)).sort();
    if (names.length === 0) throw new BadInputError(`${path} holds no .patch, .eml or .mbox files`);
    const chunks: Buffer[] = [];
    let size = 0;
    for (const n of names) {
      const s = await stat(join(path, n));
      size += s.size;
      if (size > opts.maxMboxBytes)
        throw new BadInputError(`the files in ${path} add up to more than the ${opts.maxMboxBytes}-byte limit`);
      chunks.push(await readFile(join(path, n)));
    }
    return assembleSeries(await parseMessages(chunks, opts), opts);
  }
  if (st.size > opts.maxMboxBytes)
    throw new BadInputError(`${path} is ${st.size} bytes, larger than the ${opts.maxMboxBytes}-byte limit`);
  if (opts.messageId && st.size > STREAM_FROM_BYTES) {
    const thread = await readThread(path, opts.messageId, opts);
    if (thread) {
      const out = [];
      for (const r of thread) out.push(await parseMessage(r));
      return assembleSeries(out, opts);
    }
  }
  return parseMbox(await readFile(path), opts);
}

/** A file this large, with a Message-ID, is read as a stream: only its thread is ever held whole. */
const STREAM_FROM_BYTES = 4 << 20;
const CHUNK_BYTES = 1 << 20;

/**
 * The messages of the thread `messageId` is in, read from an mbox file in
 * two passes: the first streams the file and keeps each message's
 * threading headers and where it is; the second reads just the thread's
 * messages. Memory follows the number of messages (a few hundred bytes
 * each), not the size of the archive. Null when the file is not an mbox
 * (a single message): the caller reads it whole.
 */
async function readThread(path: string, messageId: string, limits: LoadOptions): Promise<Buffer[] | null> {
  const file = await open(path, 'r');
  try {
    const scanner = new MboxScanner();
    const spans: Omit<MboxSpan, 'head'>[] = [];
    const ids: ReturnType<typeof threadIds>[] = [];
    const keep = (found: MboxSpan[]): void => {
      for (const { head, ...span } of found) {
        spans.push(span);
        ids.push(threadIds(head));
      }
    };
    const buf = Buffer.alloc(CHUNK_BYTES);
    let size = 0;
    let blank = true;
    for (let n = (await file.read(buf, 0, CHUNK_BYTES, 0)).bytesRead; n > 0; ) {
      const chunk = buf.subarray(0, n);
      if (size === 0) checkMailInput(chunk, false);
      blank &&= chunk.toString('latin1').trim().length === 0;
      size += n;
      keep(scanner.push(chunk));
      n = (await file.read(buf, 0, CHUNK_BYTES, size)).bytesRead;
    }
    keep(scanner.end(size));
    if (blank) checkMailInput(Buffer.alloc(0), true);
    if (!scanner.firstLine?.isFrom) return null;
    const members = threadMembers(ids, messageId);
    if (!members) throw new BadInputError(`<${messageId}> is not in the input`, 'give the mbox that message is in');
    const out: Buffer[] = [];
    for (const i of members) {
      const span = spans[i]!;
      const length = span.end - span.start;
      const tooLarge = sizeProblem(length, i, limits);
      if (tooLarge) throw tooLarge;
      const bytes = Buffer.alloc(length);
      await file.read(bytes, 0, length, span.start);
      const raw = unescapeMessage(bytes, span.formatPatch);
      const problem = messageProblem(raw, i, limits);
      if (problem) throw problem;
      out.push(raw);
    }
    return out;
  } finally {
    await file.close();
  }
}
