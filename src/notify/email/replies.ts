import type { Db } from '../../store/db.js';

/** failed: worth another attempt (SMTP down); rejected: refused for good by the server. */
export type ReplyStatus = 'sending' | 'sent' | 'failed' | 'rejected' | 'skipped';

export interface ReplyRecord {
  runId: string;
  seriesId: number;
  verdict: string;
  messageId: string;
  recipients: string[];
  status: ReplyStatus;
  error: string | null;
  sentAt: Date | null;
  /** Who last asked for it to be sent again, and when. */
  resentBy: string | null;
  resentAt: Date | null;
}

function toRecord(r: Record<string, unknown>): ReplyRecord {
  return {
    runId: String(r['run_id']),
    seriesId: Number(r['series_id']),
    verdict: String(r['verdict']),
    messageId: String(r['message_id']),
    recipients: String(r['recipients']).split(',').filter(Boolean),
    status: r['status'] as ReplyStatus,
    error: (r['error'] as string | null) ?? null,
    sentAt: r['sent_at'] ? new Date(r['sent_at'] as string) : null,
    resentBy: (r['resent_by'] as string | null) ?? null,
    resentAt: r['resent_at'] ? new Date(r['resent_at'] as string) : null,
  };
}

/**
 * The replies sent for each series version. A reply is claimed before it
 * is sent, under a lock on the series row, so two workers never both mail
 * the same result; the rule is one mail per change of a version's verdict.
 */
export class EmailStore {
  constructor(private readonly db: Db) {}

  /**
   * Claims the reply of a run. 'claimed': send it (again, for a claim left
   * 'sending' or 'failed' by an earlier attempt: the Message-ID is the
   * same, so a list archive keeps one copy). 'unchanged': the last reply
   * on this series version already said this verdict. 'done': this run's
   * reply was sent or decided already.
   */
  async claim(c: {
    seriesId: number;
    runId: string;
    verdict: string;
    messageId: string;
    recipients: string[];
  }): Promise<'claimed' | 'unchanged' | 'done'> {
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT id FROM series WHERE id = $1 FOR UPDATE', [c.seriesId]);
      const [mine] = await tx.query<Record<string, unknown>>(
        `SELECT *, claimed_at < now() - interval '10 minutes' AS stale FROM email_replies WHERE run_id = $1 ORDER BY id DESC LIMIT 1`,
        [c.runId],
      );
      if (mine) {
        if (mine['status'] === 'sent' || mine['status'] === 'skipped' || mine['status'] === 'rejected') return 'done';
        // Another worker may be sending it right now; a claim older than any SMTP timeout is one that died.
        if (mine['status'] === 'sending' && !mine['stale']) return 'done';
        await tx.query(
          `UPDATE email_replies SET status = 'sending', error = NULL, recipients = $2, claimed_at = now() WHERE run_id = $1`,
          [c.runId, c.recipients.join(',')],
        );
        return 'claimed';
      }
      const [last] = await tx.query<{ verdict: string }>(
        `SELECT verdict FROM email_replies WHERE series_id = $1 AND status IN ('sent', 'sending') ORDER BY id DESC LIMIT 1`,
        [c.seriesId],
      );
      if (last?.verdict === c.verdict) {
        await tx.query(
          `INSERT INTO email_replies (series_id, run_id, verdict, message_id, recipients, status, error) VALUES ($1,$2,$3,$4,$5,'skipped',$6)`,
          [
            c.seriesId,
            c.runId,
            c.verdict,
            c.messageId,
            c.recipients.join(','),
            'the last reply on this series version said the same',
          ],
        );
        return 'unchanged';
      }
      await tx.query(
        `INSERT INTO email_replies (series_id, run_id, verdict, message_id, recipients, status, claimed_at) VALUES ($1,$2,$3,$4,$5,'sending',now())`,
        [c.seriesId, c.runId, c.verdict, c.messageId, c.recipients.join(',')],
      );
      return 'claimed';
    });
  }

  /**
   * Claims a run's reply that an admin asked to send again, whatever was
   * decided before (sent, skipped as unchanged, refused, failed): 'busy'
   * while another worker is sending it right now. The Message-ID stays the
   * same, so a list archive that has it keeps one copy.
   */
  async claimResend(c: {
    seriesId: number;
    runId: string;
    verdict: string;
    messageId: string;
    recipients: string[];
    by: string;
  }): Promise<'claimed' | 'busy'> {
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT id FROM series WHERE id = $1 FOR UPDATE', [c.seriesId]);
      const [mine] = await tx.query<Record<string, unknown>>(
        `SELECT status, claimed_at < now() - interval '10 minutes' AS stale FROM email_replies WHERE run_id = $1 ORDER BY id DESC LIMIT 1`,
        [c.runId],
      );
      if (mine?.['status'] === 'sending' && !mine['stale']) return 'busy';
      if (mine)
        await tx.query(
          `UPDATE email_replies SET status = 'sending', error = NULL, recipients = $2, claimed_at = now(), resent_by = $3, resent_at = now() WHERE run_id = $1`,
          [c.runId, c.recipients.join(','), c.by],
        );
      else
        await tx.query(
          `INSERT INTO email_replies (series_id, run_id, verdict, message_id, recipients, status, claimed_at, resent_by, resent_at)
           VALUES ($1,$2,$3,$4,$5,'sending',now(),$6,now())`,
          [c.seriesId, c.runId, c.verdict, c.messageId, c.recipients.join(','), c.by],
        );
      return 'claimed';
    });
  }

  /** A run whose reply is not sent by policy: recorded, so it is decided once. */
  async skip(c: {
    seriesId: number;
    runId: string;
    verdict: string;
    messageId: string;
    reason: string;
  }): Promise<void> {
    await this.db.query(
      `INSERT INTO email_replies (series_id, run_id, verdict, message_id, recipients, status, error) VALUES ($1,$2,$3,$4,'','skipped',$5) ON CONFLICT (message_id) DO NOTHING`,
      [c.seriesId, c.runId, c.verdict, c.messageId, c.reason],
    );
  }

  async finish(runId: string, u: { status: 'sent' | 'failed' | 'rejected'; error?: string }): Promise<void> {
    await this.db.query(
      `UPDATE email_replies SET status = $2, error = $3, sent_at = CASE WHEN $2 = 'sent' THEN now() ELSE sent_at END WHERE run_id = $1`,
      [runId, u.status, u.error ?? null],
    );
  }

  async forRun(runId: string): Promise<ReplyRecord | null> {
    const [r] = await this.db.query<Record<string, unknown>>(
      'SELECT * FROM email_replies WHERE run_id = $1 ORDER BY id DESC LIMIT 1',
      [runId],
    );
    return r ? toRecord(r) : null;
  }

  /**
   * Finished runs of lore series since `since` whose reply is not decided,
   * or failed for a reason worth another attempt, or was claimed by a worker
   * that died: what a restart must still look at.
   */
  async undecided(since: Date): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>(
      `SELECT r.id FROM runs r JOIN series s ON s.id = r.series_id
       WHERE s.source_kind = 'lore' AND r.finished_at >= $1 AND r.status IN ('passed', 'failed', 'error', 'cancelled', 'skipped')
         AND NOT EXISTS (SELECT 1 FROM email_replies e WHERE e.run_id = r.id
                         AND (e.status IN ('sent', 'skipped', 'rejected') OR (e.status = 'sending' AND e.claimed_at >= now() - interval '10 minutes')))
       ORDER BY r.finished_at`,
      [since.toISOString()],
    );
    return rows.map((r) => r.id);
  }
}
