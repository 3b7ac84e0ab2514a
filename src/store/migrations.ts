import { InfraError } from '../errors.js';
import type { Db } from './db.js';

/** Migrations are data (tsc does not copy .sql files); append, never edit. */
export const MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'series, runs, stages, test results, perf samples',
    sql: `
CREATE TABLE series (
  id bigserial PRIMARY KEY,
  message_id text NOT NULL,
  fingerprint text NOT NULL,
  title text NOT NULL,
  version integer NOT NULL,
  total integer NOT NULL,
  is_rfc boolean NOT NULL,
  is_resend boolean NOT NULL,
  tree_tags text[] NOT NULL,
  author_name text NOT NULL,
  author_email text NOT NULL,
  base_commit text,
  change_id text,
  source_kind text NOT NULL CHECK (source_kind IN ('mbox', 'lore', 'github')),
  source_ref text NOT NULL,
  data jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (message_id, fingerprint)
);
CREATE TABLE patches (
  series_id bigint NOT NULL REFERENCES series(id) ON DELETE CASCADE,
  counter integer NOT NULL,
  message_id text NOT NULL,
  subject text NOT NULL,
  author text NOT NULL,
  trailers jsonb NOT NULL,
  files jsonb NOT NULL,
  PRIMARY KEY (series_id, counter)
);
CREATE TABLE runs (
  id text PRIMARY KEY,
  series_id bigint NOT NULL REFERENCES series(id),
  tree text NOT NULL,
  status text NOT NULL CHECK (status IN ('queued', 'running', 'passed', 'failed', 'error', 'cancelled', 'skipped')),
  verdict text,
  dedup_key text,
  requested_by text,
  summary text,
  report_md text,
  report_text text,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz
);
CREATE INDEX runs_dedup_key ON runs (dedup_key);
CREATE INDEX runs_status ON runs (status);
CREATE INDEX runs_created_at ON runs (created_at);
CREATE TABLE stages (
  run_id text NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  name text NOT NULL,
  ordinal integer NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'active', 'passed', 'failed', 'skipped', 'error', 'cancelled')),
  attempt integer NOT NULL DEFAULT 0,
  progress jsonb,
  result jsonb,
  error text,
  started_at timestamptz,
  finished_at timestamptz,
  PRIMARY KEY (run_id, name)
);
CREATE TABLE test_results (
  id bigserial PRIMARY KEY,
  run_id text NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  stage text NOT NULL,
  kernel text NOT NULL CHECK (kernel IN ('base', 'series')),
  suite text NOT NULL,
  test text NOT NULL,
  subtest text,
  status text NOT NULL CHECK (status IN ('pass', 'fail', 'skip', 'flaky', 'error')),
  duration_ms integer,
  message text
);
CREATE INDEX test_results_run ON test_results (run_id);
CREATE INDEX test_results_test ON test_results (suite, test, subtest);
CREATE TABLE perf_samples (
  id bigserial PRIMARY KEY,
  run_id text NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  scenario text NOT NULL,
  side text NOT NULL CHECK (side IN ('base', 'series')),
  metric text NOT NULL,
  value double precision NOT NULL,
  unit text NOT NULL,
  iteration integer NOT NULL,
  env jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX perf_samples_history ON perf_samples (scenario, metric, created_at);
`,
  },
  {
    version: 2,
    name: 'what a run asked for (kernel configs, toolchain), so a lost run is queued again the same',
    sql: `ALTER TABLE runs ADD COLUMN options text;`,
  },
  {
    version: 3,
    name: 'nightly throughput of tree heads, and the change points already alerted',
    sql: `
CREATE TABLE perf_nightly (
  id bigserial PRIMARY KEY,
  job_id text NOT NULL,
  tree text NOT NULL,
  commit_id text NOT NULL,
  scenario text NOT NULL,
  value double precision NOT NULL,
  samples jsonb NOT NULL,
  env jsonb NOT NULL,
  measured_at timestamptz NOT NULL,
  UNIQUE (job_id, scenario)
);
CREATE INDEX perf_nightly_history ON perf_nightly (tree, scenario, measured_at);
CREATE TABLE perf_alerts (
  id bigserial PRIMARY KEY,
  tree text NOT NULL,
  scenario text NOT NULL,
  last_good text NOT NULL,
  first_changed text NOT NULL,
  direction text NOT NULL CHECK (direction IN ('regression', 'improvement')),
  change double precision NOT NULL,
  p double precision NOT NULL,
  report text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX perf_alerts_scenario ON perf_alerts (tree, scenario);
`,
  },
  {
    version: 4,
    name: 'series lineage (supersession), why a tree was chosen, lore polling state, email replies sent, runs of GitHub PRs',
    sql: `
ALTER TABLE series ADD COLUMN lineage text;
-- The lineage of series stored before (src/series/lineage.ts titleLineage), so they are superseded too.
UPDATE series SET lineage = 'title:' || lower(author_email) || ':' || array_to_string(ARRAY(SELECT lower(t) FROM unnest(tree_tags) t ORDER BY 1), ',')
  || ':' || CASE WHEN is_rfc THEN 'rfc' ELSE '' END || ':' || lower(regexp_replace(trim(title), 's+', ' ', 'g'));
ALTER TABLE runs ADD COLUMN tree_reason text;
CREATE INDEX series_lineage ON series (lineage);
CREATE TABLE lore_lists (
  list text PRIMARY KEY,
  newest_seen timestamptz,
  last_poll_at timestamptz,
  last_ok_at timestamptz,
  last_error text
);
CREATE TABLE lore_messages (
  list text NOT NULL,
  message_id text NOT NULL,
  title text NOT NULL,
  updated timestamptz,
  status text NOT NULL CHECK (status IN ('ignored', 'pending', 'submitted', 'incomplete', 'invalid')),
  detail text,
  run_id text,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  deadline timestamptz,
  settled_at timestamptz,
  PRIMARY KEY (list, message_id)
);
CREATE INDEX lore_messages_pending ON lore_messages (list, status);
CREATE TABLE email_replies (
  id bigserial PRIMARY KEY,
  series_id bigint NOT NULL REFERENCES series(id),
  run_id text NOT NULL REFERENCES runs(id),
  verdict text NOT NULL,
  message_id text NOT NULL UNIQUE,
  recipients text NOT NULL,
  status text NOT NULL CHECK (status IN ('sending', 'sent', 'failed', 'rejected', 'skipped')),
  error text,
  claimed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz
);
CREATE INDEX email_replies_series ON email_replies (series_id, id);
CREATE TABLE github_runs (
  run_id text NOT NULL REFERENCES runs(id),
  repo text NOT NULL,
  number integer NOT NULL,
  head_sha text NOT NULL,
  installation_id bigint,
  check_run_id bigint,
  published text,
  deferred text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, repo, number)
);
CREATE INDEX github_runs_pr ON github_runs (repo, number);
`,
  },
  {
    version: 5,
    name: 'dashboard: alert triage, indexes for its pages',
    sql: `
ALTER TABLE perf_alerts ADD COLUMN status text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'acknowledged', 'invalid', 'fixed'));
ALTER TABLE perf_alerts ADD COLUMN note text;
ALTER TABLE perf_alerts ADD COLUMN updated_by text;
ALTER TABLE perf_alerts ADD COLUMN updated_at timestamptz;
CREATE INDEX runs_series ON runs (series_id, created_at);
CREATE INDEX runs_tree_created ON runs (tree, created_at);
CREATE INDEX series_created ON series (created_at);
CREATE INDEX series_lineage_version ON series (lineage, version);
CREATE INDEX test_results_history ON test_results (suite, test, kernel, run_id);
CREATE INDEX perf_samples_run ON perf_samples (run_id);
`,
  },
  {
    version: 6,
    name: 'quarantined tests, bisections started from the dashboard, replies re-sent',
    sql: `
-- A quarantined test still runs; its failures are listed and not counted in a verdict.
CREATE TABLE quarantined_tests (
  tree text NOT NULL,
  suite text NOT NULL,
  test text NOT NULL,
  reason text NOT NULL,
  added_by text NOT NULL,
  added_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tree, suite, test)
);
ALTER TABLE perf_alerts ADD COLUMN bisect_status text CHECK (bisect_status IN ('queued', 'running', 'done', 'failed'));
ALTER TABLE perf_alerts ADD COLUMN bisect_result jsonb;
ALTER TABLE perf_alerts ADD COLUMN bisect_by text;
ALTER TABLE perf_alerts ADD COLUMN bisect_at timestamptz;
ALTER TABLE email_replies ADD COLUMN resent_by text;
ALTER TABLE email_replies ADD COLUMN resent_at timestamptz;
`,
  },
];

/** Applies pending migrations, each in its own transaction; safe to run concurrently on a server. */
export async function migrate(db: Db): Promise<{ applied: number[] }> {
  const known = Math.max(...MIGRATIONS.map((m) => m.version));
  return db.transaction(async (tx) => {
    if (tx.kind === 'postgres') await tx.query('SELECT pg_advisory_xact_lock(7261001)');
    await tx.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const rows = await tx.query<{ version: number }>('SELECT version FROM schema_migrations');
    const have = new Set(rows.map((r) => Number(r.version)));
    const newest = Math.max(0, ...have);
    if (newest > known)
      throw new InfraError(`database schema v${newest} is newer than this ksci (v${known})`, 'upgrade ksci');
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (have.has(m.version)) continue;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    return { applied };
  });
}
