import type { Series } from '../series/types.js';

/**
 * The series as one mboxrd: each message gets a From_ line, and body lines
 * that look like one are escaped, so `git am --patch-format=mboxrd` splits
 * exactly where we did.
 */
export function seriesMbox(series: Series): Buffer {
  const parts = series.patches.map((p) => {
    const text = Buffer.from(p.rawBase64, 'base64')
      .toString('latin1')
      .replace(/^(>*From )/gm, '>$1');
    return `From ksci Mon Sep 17 00:00:00 2001\n${text}${text.endsWith('\n') ? '' : '\n'}`;
  });
  return Buffer.from(parts.join('\n'), 'latin1');
}
