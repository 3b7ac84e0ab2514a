import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BadInputError } from '../errors.js';
import { splitMbox } from '../mail/mbox.js';
import { parseMessage } from '../mail/message.js';
import { selectThread } from '../mail/thread.js';
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
  return parseMbox(await readFile(path), opts);
}
