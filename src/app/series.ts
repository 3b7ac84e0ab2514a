import { writeFileSync } from 'node:fs';
import { seriesMbox } from '../apply/mbox.js';
import { EXIT, type ExitCode } from '../errors.js';
import type { Series, Trailer } from '../series/types.js';
import type { Context } from './context.js';
import { loadInput } from './input.js';

export interface SeriesShowOptions {
  version?: number;
  messageId?: string;
  /** Write the mbox `git am` is given here. */
  output?: string;
  json?: boolean;
}

/**
 * `ksci series`: what `ksci run` would test, without running anything (the
 * counterpart of `b4 am`): the series assembled from the input, each
 * patch's trailers with where they came from, the trailers refused, and
 * optionally the mbox the apply stage hands to `git am`.
 */
export async function showSeries(ctx: Context, arg: string, opts: SeriesShowOptions): Promise<ExitCode> {
  const { series, source } = await loadInput(arg, ctx.config, opts);
  if (opts.output) writeFileSync(opts.output, seriesMbox(series));
  process.stdout.write(opts.json ? `${JSON.stringify(seriesSummary(series), null, 2)}\n` : describeSeries(series));
  if (opts.output) process.stderr.write(`ksci: wrote ${series.patches.length} patches for git am to ${opts.output}\n`);
  ctx.log.debug({ source, fingerprint: series.fingerprint }, 'series shown');
  return EXIT.ok;
}

/** The series without its raw mail: what a script reading `--json` needs. */
export function seriesSummary(series: Series) {
  return {
    title: series.title,
    version: series.version,
    total: series.total,
    messageId: series.messageId,
    author: series.author,
    baseCommit: series.baseCommit,
    changeId: series.changeId,
    treeTags: series.treeTags,
    fingerprint: series.fingerprint,
    cover: series.cover && {
      messageId: series.cover.messageId,
      subject: series.cover.subject.raw,
      trailers: series.cover.trailers,
    },
    patches: series.patches.map((p) => ({
      counter: p.counter,
      messageId: p.messageId,
      subject: p.subject.raw,
      title: p.subject.title,
      author: p.author,
      trailers: p.trailers,
    })),
    mismatchedTrailers: series.mismatchedTrailers ?? [],
    ...(series.partialReroll ? { partialReroll: series.partialReroll } : {}),
  };
}

function person(p: Series['author']): string {
  return p.name ? `${p.name} <${p.address}>` : p.address;
}

function origin(t: Trailer): string {
  switch (t.via) {
    case 'reply':
      return `reply <${t.fromMessageId}>`;
    case 'cover':
      return `cover letter reply <${t.fromMessageId}>`;
    case 'earlier-version':
      return `v${t.fromVersion} of this patch, reply <${t.fromMessageId}>`;
    default:
      return t.fromMessageId ? `<${t.fromMessageId}>` : 'in the patch';
  }
}

/** Plain text, one patch per line with its trailers under it, as `b4 am` lists what it took. */
export function describeSeries(series: Series): string {
  const out: string[] = [
    `v${series.version}: ${series.title}`,
    `  from ${person(series.author)}, <${series.messageId}>`,
    `  base: ${series.baseCommit ?? 'not given (base-commit:)'}`,
  ];
  if (series.partialReroll)
    out.push(
      `  partial reroll: ${series.partialReroll.reused.join(', ')} taken from v${series.partialReroll.fromVersion}`,
    );
  for (const p of series.patches) {
    out.push(`  [${p.counter}/${series.total}] ${p.subject.title}`);
    for (const t of p.trailers) {
      if (t.via === 'patch' || (!t.via && !t.fromMessageId)) continue;
      out.push(`    + ${t.key}: ${t.value} (${origin(t)})`);
    }
  }
  const mismatched = series.mismatchedTrailers ?? [];
  if (mismatched.length > 0) {
    out.push('  not applied, sent by someone other than the person named:');
    for (const m of mismatched)
      out.push(
        `    ${m.target === 'cover' ? 'cover' : `${m.target}/${series.total}`}: ${m.key}: ${m.value}, sent by ${m.sender}`,
      );
  }
  return `${out.join('\n')}\n`;
}
