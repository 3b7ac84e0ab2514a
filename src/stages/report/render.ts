import type { RunContext, StageOutcome } from '../../pipeline/payload.js';
import { decideVerdict, VERDICT_LABEL, type Verdict } from './verdict.js';

export interface Report {
  verdict: Verdict;
  /** One line: "FAIL: apply: patch 2/3 'net: foo' does not apply". */
  headline: string;
  markdown: string;
  /** Plain text, lines of at most 72 columns where the content allows: for mail. */
  text: string;
}

/** Stage-specific detail, as lines of plain text; keyed by stage name. */
export type DetailRenderer = (outcome: StageOutcome) => string[];

/**
 * Renders a run's report from its outcomes. Pure: the same outcomes give
 * the same report, so what was mailed can be reproduced from the database.
 */
export function renderReport(
  run: RunContext,
  outcomes: StageOutcome[],
  details: Record<string, DetailRenderer> = {},
): Report {
  const verdict = decideVerdict(outcomes);
  const s = run.series;
  const subject = `${s.isRfc ? 'RFC ' : ''}v${s.version} ${s.title}`;
  const first =
    outcomes.find((o) => o.status !== 'passed' && o.status !== 'skipped') ??
    outcomes.find((o) => o.status === 'skipped');
  const headline =
    verdict === 'pass'
      ? `${VERDICT_LABEL[verdict]}: all ${outcomes.filter((o) => o.status === 'passed').length} stage(s) passed${skippedNote(outcomes)}`
      : `${VERDICT_LABEL[verdict]}: ${first ? `${first.stage}: ${first.summary}` : 'no stage ran'}`;

  const facts: [string, string][] = [
    ['Series', `${subject} (${s.total} patch${s.total === 1 ? '' : 'es'})`],
    ['Author', `${s.author.name} <${s.author.address}>`],
    ['Message-ID', `<${s.messageId}>`],
    ['Tree', `${run.tree.name} (${run.tree.reason})`],
    ['Run', run.runId],
  ];

  const text: string[] = [`ksci ${headline}`, ''];
  for (const [k, v] of facts) text.push(`${(k + ':').padEnd(12)}${v}`);
  const review = reviewLines(run.series.review);
  if (review.length) text.push('', ...review);
  text.push('', 'Stages:');
  for (const o of outcomes) text.push(`  ${o.stage.padEnd(10)}${o.status.padEnd(10)}${o.summary}`);
  const md: string[] = [`## ksci: ${VERDICT_LABEL[verdict]}`, '', `**${escapeMd(headline)}**`, ''];
  for (const [k, v] of facts) md.push(`- **${k}:** ${escapeMd(v)}`);
  if (review.length) md.push('', '```', ...review, '```');
  md.push('', '| stage | result | summary |', '|---|---|---|');
  for (const o of outcomes)
    md.push(`| ${o.stage} | ${statusIcon(o.status)} ${o.status} | ${escapeMd(o.summary).replace(/\|/g, '\\|')} |`);

  for (const o of outcomes) {
    const lines = details[o.stage]?.(o) ?? [];
    if (lines.length === 0) continue;
    text.push('', `${o.stage}:`, ...lines.map((l) => `  ${l}`));
    md.push('', `### ${o.stage}`, '', '```', ...lines, '```');
  }
  return { verdict, headline, markdown: md.join('\n') + '\n', text: text.join('\n') + '\n' };
}

/** The trailers replies gave, where each came from, and those not applied because the sender is not the person named. */
function reviewLines(review: RunContext['series']['review']): string[] {
  if (!review) return [];
  const lines: string[] = [];
  if (review.partialReroll) lines.push(`Partial reroll: ${review.partialReroll}.`);
  if (review.given.length) {
    lines.push('Trailers from replies:');
    for (const g of review.given)
      lines.push(`  ${g.counter === null ? 'all' : `${g.counter}`}: ${g.trailer}`, `      from ${g.from}`);
  }
  if (review.mismatched.length) {
    lines.push('Mismatched, not applied (the sender is not the person named):');
    for (const m of review.mismatched) lines.push(`  ${m.target}: ${m.trailer}`, `      sent by ${m.sender}`);
  }
  return lines;
}

/** A stage not asked for (perf without --perf) is skipped; a PASS says so rather than count it. */
function skippedNote(outcomes: StageOutcome[]): string {
  const skipped = outcomes.filter((o) => o.status === 'skipped').map((o) => o.stage);
  return skipped.length ? ` (skipped: ${skipped.join(', ')})` : '';
}

function statusIcon(status: StageOutcome['status']): string {
  switch (status) {
    case 'passed':
      return '✅';
    case 'failed':
      return '❌';
    case 'error':
      return '⚠️';
    case 'cancelled':
      return '⏹';
    case 'skipped':
      return '➖';
  }
}

function escapeMd(s: string): string {
  return s.replace(/([\\`*_[\]<>])/g, '\\$1');
}
