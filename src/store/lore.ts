import type { Db } from './db.js';
import { dateOrNull } from './results.js';

/**
 * What the lore poller remembers, so a restart neither loses nor repeats
 * work: each message seen on a list with what became of it, and per list
 * the newest message seen (where a gap-filling search starts).
 */
export type LoreMessageStatus =
  /** Not a patch or cover letter: a reply, a discussion. */
  | 'ignored'
  /** A patch whose series is not complete yet, or whose thread could not be fetched yet. */
  | 'pending'
  | 'submitted'
  /** Parts still missing when the wait ran out. */
  | 'incomplete'
  /** The thread could not be made into a series (malformed, hostile, too large). */
  | 'invalid';

export interface LoreMessage {
  list: string;
  messageId: string;
  title: string;
  status: LoreMessageStatus;
  detail: string | null;
  runId: string | null;
  firstSeenAt: Date;
  deadline: Date | null;
}

export interface LoreListState {
  list: string;
  newestSeen: Date | null;
  lastPollAt: Date | null;
  lastOkAt: Date | null;
  lastError: string | null;
}

function toMessage(r: Record<string, unknown>): LoreMessage {
  return {
    list: String(r['list']),
    messageId: String(r['message_id']),
    title: String(r['title']),
    status: r['status'] as LoreMessageStatus,
    detail: (r['detail'] as string | null) ?? null,
    runId: (r['run_id'] as string | null) ?? null,
    firstSeenAt: new Date(r['first_seen_at'] as string),
    deadline: dateOrNull(r['deadline']),
  };
}

export class LoreStore {
  constructor(private readonly db: Db) {}

  async known(list: string, messageIds: string[]): Promise<Set<string>> {
    if (messageIds.length === 0) return new Set();
    const rows = await this.db.query<{ message_id: string }>(
      'SELECT message_id FROM lore_messages WHERE list = $1 AND message_id = ANY($2::text[])',
      [list, messageIds],
    );
    return new Set(rows.map((r) => r.message_id));
  }

  /** Records messages not seen before; a message already recorded keeps its state. */
  async recordNew(
    list: string,
    rows: {
      messageId: string;
      title: string;
      updated: string | null;
      status: LoreMessageStatus;
      deadline: Date | null;
    }[],
    now: Date,
  ): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const r of rows) {
        await tx.query(
          `INSERT INTO lore_messages (list, message_id, title, updated, status, first_seen_at, deadline) VALUES ($1,$2,$3,$4,$5,$6,$7)
           ON CONFLICT (list, message_id) DO NOTHING`,
          [
            list,
            r.messageId,
            r.title.slice(0, 1000),
            r.updated,
            r.status,
            now.toISOString(),
            r.deadline?.toISOString() ?? null,
          ],
        );
      }
    });
  }

  async pending(list: string): Promise<LoreMessage[]> {
    const rows = await this.db.query<Record<string, unknown>>(
      `SELECT * FROM lore_messages WHERE list = $1 AND status = 'pending' ORDER BY first_seen_at, message_id`,
      [list],
    );
    return rows.map(toMessage);
  }

  async settle(
    list: string,
    messageIds: string[],
    u: { status: LoreMessageStatus; detail: string | null; runId?: string | null },
    now: Date,
  ): Promise<void> {
    if (messageIds.length === 0) return;
    await this.db.query(
      `UPDATE lore_messages SET status = $3, detail = $4, run_id = COALESCE($5, run_id), settled_at = CASE WHEN $3 = 'pending' THEN NULL ELSE $6::timestamptz END
       WHERE list = $1 AND message_id = ANY($2::text[])`,
      [list, messageIds, u.status, u.detail?.slice(0, 4000) ?? null, u.runId ?? null, now.toISOString()],
    );
  }

  async messages(list: string, opts: { limit?: number; status?: LoreMessageStatus[] } = {}): Promise<LoreMessage[]> {
    const rows = await this.db.query<Record<string, unknown>>(
      `SELECT * FROM lore_messages WHERE list = $1 AND ($2::text[] IS NULL OR status = ANY($2::text[])) ORDER BY first_seen_at DESC, message_id LIMIT $3`,
      [list, opts.status ?? null, opts.limit ?? 50],
    );
    return rows.map(toMessage);
  }

  async state(list: string): Promise<LoreListState> {
    const [r] = await this.db.query<Record<string, unknown>>('SELECT * FROM lore_lists WHERE list = $1', [list]);
    return {
      list,
      newestSeen: dateOrNull(r?.['newest_seen']),
      lastPollAt: dateOrNull(r?.['last_poll_at']),
      lastOkAt: dateOrNull(r?.['last_ok_at']),
      lastError: (r?.['last_error'] as string | null) ?? null,
    };
  }

  /** After a poll: the newest message seen only moves forward. */
  async recordPoll(
    list: string,
    u: { at: Date; ok: boolean; error: string | null; newestSeen: Date | null },
  ): Promise<void> {
    await this.db.query(
      `INSERT INTO lore_lists (list, newest_seen, last_poll_at, last_ok_at, last_error) VALUES ($1, $2, $3, CASE WHEN $4 THEN $3::timestamptz END, $5)
       ON CONFLICT (list) DO UPDATE SET
         newest_seen = GREATEST(lore_lists.newest_seen, EXCLUDED.newest_seen),
         last_poll_at = EXCLUDED.last_poll_at,
         last_ok_at = COALESCE(EXCLUDED.last_ok_at, lore_lists.last_ok_at),
         last_error = EXCLUDED.last_error`,
      [list, u.newestSeen?.toISOString() ?? null, u.at.toISOString(), u.ok, u.error],
    );
  }
}
