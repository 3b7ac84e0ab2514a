import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LORE_FILES, type LoreFile, loreFixture, MSGID } from '../testing/lore-fixtures.js';
import { loadSeries, parseMbox } from './load.js';

const limits = { maxMboxBytes: 1 << 30, maxMessageBytes: 10 << 20, maxPatches: 500 };

describe('an mbox file read as a stream when a Message-ID picks the series', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ksci-load-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  // The real lore captures in the middle of 6 MiB of other mail, so the file takes the streaming path.
  const filler = (n: number) =>
    Array.from(
      { length: n },
      (_, i) =>
        `From mboxrd@z Thu Jan  1 00:00:00 1970\nFrom: Filler <filler@example.org>\nSubject: Re: [PATCH] other ${i}\nMessage-ID: <filler-${i}@example.org>\nIn-Reply-To: <filler-${i - 1}@example.org>\n\n${'>From a quoted line.\n'.repeat(3)}${'x'.repeat(3000)}\n`,
    ).join('\n');
  const path = join(dir, 'archive.mbox');
  writeFileSync(
    path,
    Buffer.concat([
      Buffer.from(`${filler(1000)}\n`),
      ...(Object.keys(LORE_FILES) as LoreFile[]).map((f) => Buffer.concat([loreFixture(f), Buffer.from('\n')])),
      Buffer.from(filler(1000).replace(/filler-/g, 'late-')),
    ]),
  );

  it('gives the series the whole file would give: same patches, bytes, trailers and review', async () => {
    for (const id of [MSGID.skbMetaV3.cover, MSGID.skbMetaV1.patches[1]!]) {
      const streamed = await loadSeries(path, { ...limits, messageId: id });
      const whole = await parseMbox(readFileSync(path), { ...limits, messageId: id });
      assert.deepEqual(streamed, whole, `<${id}>`);
      assert.ok(streamed.patches.length >= 2);
    }
  });

  it('refuses a Message-ID the file does not hold, naming it', async () => {
    await assert.rejects(
      loadSeries(path, { ...limits, messageId: 'absent@example.org' }),
      /<absent@example\.org> is not in the input/,
    );
  });

  it('refuses a thread message over the size limit without reading it', async () => {
    await assert.rejects(
      loadSeries(path, { ...limits, maxMessageBytes: 1000, messageId: MSGID.skbMetaV3.cover }),
      /larger than the 1000-byte limit/,
    );
  });
});
