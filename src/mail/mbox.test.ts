import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LORE_FILES, type LoreFile, loreFixture } from '../testing/lore-fixtures.js';
import { MboxScanner, type MboxSpan, splitMbox } from './mbox.js';

const limits = { maxMessageBytes: 10 << 20 };

/** The spans of `data` fed to a scanner `size` bytes at a time. */
function scan(data: Buffer, size: number): MboxSpan[] {
  const scanner = new MboxScanner();
  const spans: MboxSpan[] = [];
  for (let at = 0; at < data.length; at += size) spans.push(...scanner.push(data.subarray(at, at + size)));
  return [...spans, ...scanner.end(data.length)];
}

describe('mbox scanning in chunks', () => {
  // Every real lore capture, one after another, plus a git format-patch message whose body has a From line.
  const formatPatch = Buffer.from(
    [
      'From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001',
      'From: Ann Author <ann@example.org>',
      'Subject: [PATCH] x: y',
      'Message-ID: <fp@example.org>',
      '',
      'Fix it.',
      '',
      '>From the start it was wrong.',
      '---',
      '',
    ].join('\r\n'),
  );
  const data = Buffer.concat([
    ...(Object.keys(LORE_FILES) as LoreFile[]).map((f) => Buffer.concat([loreFixture(f), Buffer.from('\n')])),
    formatPatch,
  ]);

  it('finds the same messages whatever the chunk size, as splitMbox does', () => {
    const whole = scan(data, data.length);
    const messages = splitMbox(data, limits);
    assert.equal(whole.length, messages.length);
    assert.ok(whole.length > 20);
    for (const size of [1, 7, 4096, 65536]) assert.deepEqual(scan(data, size), whole, `chunks of ${size} bytes`);
  });

  it('keeps each header block for threading and marks git format-patch output, which is not unescaped', () => {
    const spans = scan(data, 4096);
    const last = spans.at(-1)!;
    assert.equal(last.formatPatch, true);
    assert.match(last.head.toString('latin1'), /^From: Ann Author.*\r\nMessage-ID: <fp@example\.org>\r\n$/s);
    assert.equal(spans.filter((s) => s.formatPatch).length, 1);
    assert.match(splitMbox(data, limits).at(-1)!.toString('latin1'), /\r\n>From the start/);
    for (const s of spans.slice(0, -1)) assert.match(s.head.toString('latin1'), /^Message-ID: <|\nMessage-ID: </im);
  });
});
