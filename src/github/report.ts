import { z } from 'zod';
import type { Report } from '../stages/report/render.js';
import { VERDICT_LABEL, type Verdict } from '../stages/report/verdict.js';

/*
 * What ksci shows on a pull request, as request bodies: pure, so the exact
 * payloads are pinned by golden files and publish.ts only moves them.
 */

export const CHECK_NAME = 'ksci';
/** GitHub's limit on output.summary and output.text, and on a comment body (65536). */
const OUTPUT_LIMIT = 65535;
/** The Checks API takes at most 50 annotations per request. */
export const ANNOTATIONS_PER_REQUEST = 50;
/** Each batch after the first is one more write, spaced a second apart; past this, the summary says how many were left out. */
const MAX_ANNOTATIONS = 250;

export type CheckStatus = 'queued' | 'in_progress' | 'completed';
export type CheckConclusion = 'success' | 'failure' | 'neutral' | 'cancelled' | 'skipped';

/**
 * An infrastructure error maps to failure, not neutral: branch protection
 * counts neutral as passing, and a series that was never tested must not
 * look green. The title ("ERROR (infrastructure)") says whose problem it is.
 */
export const CONCLUSION: Record<Verdict, CheckConclusion> = {
  pass: 'success',
  fail: 'failure',
  error: 'failure',
  cancelled: 'cancelled',
  skipped: 'skipped',
};

/** A compiler error or warning at a line of the series' code. */
export interface BuildAnnotation {
  path: string;
  line: number;
  level: 'failure' | 'warning';
  message: string;
}

/** GitHub's annotation object. */
export interface CheckAnnotation {
  path: string;
  start_line: number;
  end_line: number;
  annotation_level: 'notice' | 'warning' | 'failure';
  message: string;
}

export interface CheckOutput {
  title: string;
  summary: string;
  annotations?: CheckAnnotation[];
}

/** The fields of "create a check run"; an update sends the same without head_sha. */
export interface CheckRunBody {
  name: string;
  head_sha: string;
  external_id: string;
  status: CheckStatus;
  details_url?: string;
  started_at?: string;
  conclusion?: CheckConclusion;
  completed_at?: string;
  output: CheckOutput;
}

export interface RunFacts {
  runId: string;
  headSha: string;
  /** A page with the whole run (artifacts, logs); GitHub links the check to it. */
  detailsUrl?: string;
  startedAt?: string;
}

export type CheckRunInput =
  | (RunFacts & { status: 'queued' | 'in_progress' })
  | (RunFacts & { status: 'completed'; report: Report; completedAt?: string; annotations?: BuildAnnotation[] });

export interface CheckRunPlan {
  /** The create or update request, with the first 50 annotations. */
  body: CheckRunBody;
  /** The rest, 50 per update request. */
  annotationBatches: CheckAnnotation[][];
}

export function buildCheckRun(input: CheckRunInput): CheckRunPlan {
  const sha = input.headSha.slice(0, 12);
  const common = {
    name: CHECK_NAME,
    head_sha: input.headSha,
    external_id: input.runId,
    ...(input.detailsUrl ? { details_url: input.detailsUrl } : {}),
    ...(input.startedAt ? { started_at: input.startedAt } : {}),
  };
  if (input.status !== 'completed') {
    const title = input.status === 'queued' ? 'Queued' : 'Running';
    return {
      body: {
        ...common,
        status: input.status,
        output: {
          title,
          summary: `ksci run \`${input.runId}\` is ${input.status === 'queued' ? 'queued' : 'running'} for ${sha}.`,
        },
      },
      annotationBatches: [],
    };
  }
  const all = dedupAnnotations(input.annotations ?? []);
  const shown = all.slice(0, MAX_ANNOTATIONS).map(toCheckAnnotation);
  const note =
    all.length > shown.length
      ? `\n\n${all.length - shown.length} more compiler diagnostics are not annotated; the build section lists them.\n`
      : '';
  const summary = truncate(input.report.markdown, OUTPUT_LIMIT - note.length, input.runId) + note;
  const batches: CheckAnnotation[][] = [];
  for (let i = 0; i < shown.length; i += ANNOTATIONS_PER_REQUEST)
    batches.push(shown.slice(i, i + ANNOTATIONS_PER_REQUEST));
  const [first, ...rest] = batches;
  return {
    body: {
      ...common,
      status: 'completed',
      conclusion: CONCLUSION[input.report.verdict],
      ...(input.completedAt ? { completed_at: input.completedAt } : {}),
      output: { title: oneLine(input.report.headline, 255), summary, ...(first ? { annotations: first } : {}) },
    },
    annotationBatches: rest,
  };
}

/** Several configs report the same warning; GitHub would show each copy. */
function dedupAnnotations(list: BuildAnnotation[]): BuildAnnotation[] {
  const seen = new Set<string>();
  return list.filter((a) => {
    const k = `${a.path}\0${a.line}\0${a.level}\0${a.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function toCheckAnnotation(a: BuildAnnotation): CheckAnnotation {
  const line = Math.max(1, Math.floor(a.line));
  return {
    path: a.path.replace(/^\.?\//, ''),
    start_line: line,
    end_line: line,
    annotation_level: a.level,
    message: truncate(a.message, 4096, null),
  };
}

function oneLine(s: string, max: number): string {
  const line = s.replace(/\s+/g, ' ').trim();
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

/**
 * Markdown cut to at most `limit` UTF-8 bytes (so the limit holds however
 * GitHub counts characters), at a line boundary, an open code fence closed,
 * with a note saying where the rest is.
 */
export function truncate(md: string, limit: number, runId: string | null): string {
  if (Buffer.byteLength(md) <= limit) return md;
  const note = `\n\n**Truncated** to GitHub's size limit${runId ? `; the full report: \`ksci show ${runId}\`` : ''}.\n`;
  const fenceClose = '\n```';
  let cut = Buffer.from(md)
    .subarray(0, Math.max(0, limit - Buffer.byteLength(note) - fenceClose.length))
    .toString('utf8');
  // A cut inside a multi-byte character decodes to U+FFFD; drop it with the partial line.
  const nl = cut.lastIndexOf('\n');
  cut = nl > 0 ? cut.slice(0, nl) : cut.replace(/\uFFFD$/, '');
  const fences = cut.split('\n').filter((l) => /^ {0,3}```/.test(l)).length;
  return cut + (fences % 2 === 1 ? fenceClose : '') + note;
}

/* ------------------------------------------------------------------ */

export const STICKY_MARKER = '<!-- ksci:sticky -->';
const STATE_RE = /<!-- ksci:state (\{.*?\}) -->/;
const MAX_HISTORY = 10;

const PushSchema = z.object({
  sha: z.string().regex(/^[0-9a-f]{7,40}$/),
  runId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/),
  verdict: z.enum(['pass', 'fail', 'error', 'cancelled', 'skipped', 'queued', 'in_progress']),
});
type Push = z.infer<typeof PushSchema>;
/** Kept in the comment itself so no database is needed to edit it; anyone with write access can edit it, so it is validated. */
const StateSchema = z.object({ latest: PushSchema, earlier: z.array(PushSchema).max(MAX_HISTORY) });

export function isStickyComment(body: string): boolean {
  return body.startsWith(STICKY_MARKER);
}

const ICON: Record<Push['verdict'], string> = {
  pass: '✅',
  fail: '❌',
  error: '⚠️',
  cancelled: '⏹',
  skipped: '➖',
  queued: '⏳',
  in_progress: '⏳',
};

function label(v: Push['verdict']): string {
  return v === 'queued' ? 'queued' : v === 'in_progress' ? 'running' : VERDICT_LABEL[v];
}

function readState(previous: string | null): z.infer<typeof StateSchema> | null {
  const json = previous === null ? undefined : STATE_RE.exec(previous)?.[1];
  if (json === undefined) return null;
  try {
    return StateSchema.parse(JSON.parse(json));
  } catch {
    return null;
  }
}

/**
 * The one comment ksci keeps on a PR: the latest push's verdict and report,
 * and a line with the verdicts of earlier pushes. A new run of any push
 * moves the previous one into that line; an update of the same run (queued,
 * running, done) replaces it in place.
 */
export function buildStickyComment(previous: string | null, input: CheckRunInput): string {
  const latest: Push = {
    sha: input.headSha.slice(0, 12),
    runId: input.runId,
    verdict: input.status === 'completed' ? input.report.verdict : input.status,
  };
  const state = readState(previous);
  const earlier = state ? (state.latest.runId === latest.runId ? state.earlier : [state.latest, ...state.earlier]) : [];
  const next = { latest, earlier: earlier.slice(0, MAX_HISTORY) };

  const head = `ksci ${ICON[latest.verdict]} **${label(latest.verdict)}** on \`${latest.sha.slice(0, 7)}\` (run \`${latest.runId}\`${input.detailsUrl ? `, [details](${input.detailsUrl})` : ''})`;
  const history = next.earlier.length
    ? `<sub>Earlier pushes: ${next.earlier.map((p) => `\`${p.sha.slice(0, 7)}\` ${ICON[p.verdict]} ${label(p.verdict)}`).join(' · ')}</sub>\n`
    : '';
  const top = `${STICKY_MARKER}\n<!-- ksci:state ${JSON.stringify(next)} -->\n${head}\n\n`;
  const report =
    input.status === 'completed'
      ? input.report.markdown
      : `The run is ${label(latest.verdict)}; this comment is updated when it ends.\n`;
  const room = OUTPUT_LIMIT - Buffer.byteLength(top) - Buffer.byteLength(history) - 2;
  return `${top}${truncate(report, room, latest.runId)}${history ? `\n${history}` : ''}`;
}

/* ------------------------------------------------------------------ */

export const LABELS = { pass: 'ci-pass', fail: 'ci-fail' } as const;

/**
 * The labels describe the current head only: pass or fail once its run is
 * done; while it runs, or when the run could not decide (error, cancelled,
 * skipped), neither, so a label never speaks for an older push.
 */
export function verdictLabels(status: CheckStatus, verdict?: Verdict): { add: string[]; remove: string[] } {
  if (status === 'completed' && verdict === 'pass') return { add: [LABELS.pass], remove: [LABELS.fail] };
  if (status === 'completed' && verdict === 'fail') return { add: [LABELS.fail], remove: [LABELS.pass] };
  return { add: [], remove: [LABELS.pass, LABELS.fail] };
}
