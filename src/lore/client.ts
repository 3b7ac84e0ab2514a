import { gunzipSync } from 'node:zlib';
import type { Config } from '../config/schema.js';
import { BadInputError, InfraError, errorMessage } from '../errors.js';
import type { FeedEntry } from './atom.js';
import { escapeMessageId } from './ref.js';

/** The HTTP side of lore: what the poller and `ksci run <message-id>` need from a public-inbox server. */
export interface LoreClient {
  /** The newest messages of an inbox (new.atom), newest first. */
  feed(listUrl: string, signal?: AbortSignal): Promise<FeedEntry[]>;
  /** A search (public-inbox's Xapian query language), Atom, one page from `offset`. */
  search(listUrl: string, query: string, offset: number, signal?: AbortSignal): Promise<FeedEntry[]>;
  /** The whole thread holding a message, as an mbox; null when the server has no such message. */
  thread(listUrl: string, messageId: string, signal?: AbortSignal): Promise<Buffer | null>;
}

export interface LoreClientOptions {
  /** The largest thread accepted, decompressed (a decompression bomb stops here). */
  maxThreadBytes: number;
  timeoutMs: number;
  userAgent?: string;
}

const FEED_BYTES = 8 * 1024 * 1024;

export function httpLoreClient(opts: LoreClientOptions): LoreClient {
  const ua = opts.userAgent ?? 'ksci/0.1 (kernel patch CI; lore poller)';

  async function get(url: string, maxBytes: number, signal?: AbortSignal): Promise<{ status: number; body: Buffer }> {
    const timeout = AbortSignal.timeout(opts.timeoutMs);
    let res: Response;
    try {
      res = await fetch(url, {
        headers: { 'user-agent': ua, accept: '*/*' },
        redirect: 'follow',
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      throw new InfraError(
        `cannot reach ${url}: ${errorMessage(err)}`,
        'check the list URL in lore.lists and the network; the poll is retried on schedule',
      );
    }
    if (res.status === 404 || res.status === 410) {
      await res.body?.cancel();
      return { status: res.status, body: Buffer.alloc(0) };
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new InfraError(
        `${url} answered HTTP ${res.status} ${res.statusText}`,
        res.status === 429 || res.status >= 500
          ? 'the server is busy or down; the poll is retried on schedule'
          : 'check the list URL in lore.lists',
      );
    }
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > maxBytes) {
      await res.body?.cancel();
      throw new BadInputError(
        `${url} is ${declared} bytes, over the ${maxBytes}-byte limit`,
        'raise lore.maxThreadBytes if such threads are expected',
      );
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body ?? []) {
        size += chunk.length;
        if (size > maxBytes) {
          throw new BadInputError(
            `${url} is larger than the ${maxBytes}-byte limit; stopped reading`,
            'raise lore.maxThreadBytes if such threads are expected',
          );
        }
        chunks.push(Buffer.from(chunk));
      }
    } catch (err) {
      if (err instanceof BadInputError) throw err;
      throw new InfraError(
        `reading ${url} failed: ${errorMessage(err)}`,
        'the server or the network dropped the connection; the poll is retried on schedule',
      );
    }
    return { status: res.status, body: Buffer.concat(chunks) };
  }

  async function atom(
    url: string,
    signal?: AbortSignal,
    opts: { notFoundIsEmpty?: boolean } = {},
  ): Promise<FeedEntry[]> {
    const { status, body } = await get(url, FEED_BYTES, signal);
    if (status === 404 && opts.notFoundIsEmpty) return [];
    // public-inbox 1.9 answers a search page past the last hit with a bare "</feed>".
    if (opts.notFoundIsEmpty && body.toString('utf8').trim() === '</feed>') return [];
    if (status !== 200)
      throw new InfraError(
        `${url} answered HTTP ${status}`,
        'check the list URL in lore.lists: it should end in the inbox name, e.g. https://lore.kernel.org/bpf/',
      );
    // Loaded when a feed is read: fetching one thread (ksci series <msgid>) does not pay for the XML parser.
    const { parseAtomFeed } = await import('./atom.js');
    return parseAtomFeed(body.toString('utf8'));
  }

  return {
    feed: (listUrl, signal) => atom(new URL('new.atom', listUrl).href, signal),
    search: (listUrl, query, offset, signal) => {
      const url = new URL(listUrl);
      url.searchParams.set('q', query);
      url.searchParams.set('x', 'A');
      if (offset > 0) url.searchParams.set('o', String(offset));
      // public-inbox answers a search without hits with 404, not an empty feed.
      return atom(url.href, signal, { notFoundIsEmpty: true });
    },
    async thread(listUrl, messageId, signal) {
      const url = new URL(`${escapeMessageId(messageId)}/t.mbox.gz`, listUrl).href;
      // Mail compresses well; the compressed cap only bounds the download, the decompressed one the bomb.
      const { status, body } = await get(url, opts.maxThreadBytes, signal);
      if (status !== 200) return null;
      try {
        return gunzipSync(body, { maxOutputLength: opts.maxThreadBytes });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
          throw new BadInputError(
            `the thread of <${messageId}> decompresses to more than ${opts.maxThreadBytes} bytes; not parsed`,
            'raise lore.maxThreadBytes if such threads are expected',
          );
        }
        // Not a thread: a proxy's error page, or a server that is not public-inbox.
        throw new InfraError(
          `${url} is not valid gzip: ${errorMessage(err)}`,
          'check that lore.lists[].url points at a public-inbox inbox; the next poll tries again',
        );
      }
    },
  };
}

/** The client the configuration asks for (lore.maxThreadBytes, lore.timeoutSeconds). */
export function loreClientFor(config: Config): LoreClient {
  return httpLoreClient({ maxThreadBytes: config.lore.maxThreadBytes, timeoutMs: config.lore.timeoutSeconds * 1000 });
}
