import type { Db } from './db.js';

/** A run that tests a pull request, and what was last published on it. */
export interface GitHubRunRecord {
  runId: string;
  /** "owner/name". */
  repo: string;
  number: number;
  headSha: string;
  installationId: number | null;
  checkRunId: number | null;
  /** The check-run status last published: queued, in_progress, completed. */
  published: string | null;
  /** Publish steps that waited for the rate limit (comma-separated). */
  deferred: string[];
}

function toRecord(r: Record<string, unknown>): GitHubRunRecord {
  return {
    runId: String(r['run_id']),
    repo: String(r['repo']),
    number: Number(r['number']),
    headSha: String(r['head_sha']),
    installationId: r['installation_id'] === null ? null : Number(r['installation_id']),
    checkRunId: r['check_run_id'] === null ? null : Number(r['check_run_id']),
    published: (r['published'] as string | null) ?? null,
    deferred: String(r['deferred'] ?? '')
      .split(',')
      .filter(Boolean),
  };
}

export class GitHubStore {
  constructor(private readonly db: Db) {}

  /** A run for a PR's head; a run met again for the same PR (dedup) keeps its check run. */
  async link(r: {
    runId: string;
    repo: string;
    number: number;
    headSha: string;
    installationId: number | null;
  }): Promise<void> {
    await this.db.query(
      `INSERT INTO github_runs (run_id, repo, number, head_sha, installation_id) VALUES ($1,$2,$3,$4,$5)
       ON CONFLICT (run_id, repo, number) DO UPDATE SET installation_id = COALESCE(EXCLUDED.installation_id, github_runs.installation_id), updated_at = now()`,
      [r.runId, r.repo, r.number, r.headSha, r.installationId],
    );
  }

  async forRun(runId: string): Promise<GitHubRunRecord[]> {
    return (await this.db.query<Record<string, unknown>>('SELECT * FROM github_runs WHERE run_id = $1', [runId])).map(
      toRecord,
    );
  }

  async forPr(repo: string, number: number): Promise<GitHubRunRecord[]> {
    return (
      await this.db.query<Record<string, unknown>>(
        'SELECT * FROM github_runs WHERE repo = $1 AND number = $2 ORDER BY updated_at',
        [repo, number],
      )
    ).map(toRecord);
  }

  async published(
    runId: string,
    repo: string,
    number: number,
    u: { checkRunId: number | null; published: string; deferred: string[] },
  ): Promise<void> {
    await this.db.query(
      'UPDATE github_runs SET check_run_id = $4, published = $5, deferred = $6, updated_at = now() WHERE run_id = $1 AND repo = $2 AND number = $3',
      [runId, repo, number, u.checkRunId, u.published, u.deferred.join(',')],
    );
  }
}
