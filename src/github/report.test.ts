import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Report } from '../stages/report/render.js';
import { sampleReport } from '../testing/github-server.js';
import {
  buildCheckRun,
  buildStickyComment,
  CONCLUSION,
  isStickyComment,
  STICKY_MARKER,
  truncate,
  verdictLabels,
  type BuildAnnotation,
  type CheckRunInput,
} from './report.js';

const SHA1 = '2aa57ba6234e034fc4f795040d3a178c66f4e828';
const SHA2 = '83e826e1bf826821422e1290f321a25b3c4f8e6e';
const done = (report: Report, extra: Partial<CheckRunInput> = {}): CheckRunInput =>
  ({ status: 'completed', runId: 'run-2', headSha: SHA2, report, ...extra }) as CheckRunInput;
const warnings = (n: number): BuildAnnotation[] =>
  Array.from({ length: n }, (_, i) => ({
    path: `net/core/f${i}.c`,
    line: i + 1,
    level: 'warning',
    message: `unused variable 'x${i}'`,
  }));

describe('buildCheckRun', () => {
  it('maps verdicts to conclusions; an infrastructure error is a failure, never a green neutral', () => {
    assert.deepEqual(CONCLUSION, {
      pass: 'success',
      fail: 'failure',
      error: 'failure',
      cancelled: 'cancelled',
      skipped: 'skipped',
    });
    const base = sampleReport('pass');
    for (const verdict of ['pass', 'fail', 'error', 'cancelled', 'skipped'] as const) {
      assert.equal(buildCheckRun(done({ ...base, verdict })).body.conclusion, CONCLUSION[verdict]);
    }
  });

  it('describes a queued and a running run without conclusion', () => {
    const q = buildCheckRun({
      status: 'queued',
      runId: 'run-2',
      headSha: SHA2,
      detailsUrl: 'https://ksci.example.org/runs/run-2',
    });
    assert.deepEqual(q.body, {
      name: 'ksci',
      head_sha: SHA2,
      external_id: 'run-2',
      details_url: 'https://ksci.example.org/runs/run-2',
      status: 'queued',
      output: { title: 'Queued', summary: 'ksci run `run-2` is queued for 83e826e1bf82.' },
    });
    assert.equal(buildCheckRun({ status: 'in_progress', runId: 'r', headSha: SHA2 }).body.output.title, 'Running');
  });

  it('puts the report in the summary and the headline in the title', () => {
    const report = sampleReport('fail');
    const { body } = buildCheckRun(done(report, { completedAt: '2025-02-10T10:25:00Z' }));
    assert.equal(body.output.title, report.headline);
    assert.equal(body.output.summary, report.markdown);
    assert.equal(body.completed_at, '2025-02-10T10:25:00Z');
    assert.equal(body.output.annotations, undefined);
  });

  it('sends annotations 50 per request, deduplicated, capped at 250 with a note', () => {
    const some = buildCheckRun(done(sampleReport('fail'), { annotations: [...warnings(120), ...warnings(3)] }));
    assert.equal(some.body.output.annotations?.length, 50);
    assert.deepEqual(
      some.annotationBatches.map((b) => b.length),
      [50, 20],
    );
    assert.deepEqual(some.body.output.annotations![0], {
      path: 'net/core/f0.c',
      start_line: 1,
      end_line: 1,
      annotation_level: 'warning',
      message: "unused variable 'x0'",
    });
    assert.doesNotMatch(some.body.output.summary, /not annotated/);

    const many = buildCheckRun(done(sampleReport('fail'), { annotations: warnings(260) }));
    assert.equal([many.body.output.annotations!, ...many.annotationBatches].flat().length, 250);
    assert.match(many.body.output.summary, /10 more compiler diagnostics are not annotated/);
  });

  it('keeps a huge summary under GitHub’s 65535 limit, closing an open code fence', () => {
    const report = sampleReport('fail');
    const huge = {
      ...report,
      markdown: `${report.markdown}\n### build\n\n\`\`\`\n${'net/core/skbuff.c:1: warning: ünused\n'.repeat(4000)}\`\`\`\n`,
    };
    const { summary } = buildCheckRun(done(huge)).body.output;
    assert.ok(Buffer.byteLength(summary) <= 65535);
    assert.match(summary, /\n```\n\n\*\*Truncated\*\* to GitHub's size limit; the full report: `ksci show run-2`\.\n$/);
    assert.ok(!summary.includes('\uFFFD'));
  });
});

describe('truncate', () => {
  it('leaves short text alone and cuts long text at a line boundary', () => {
    assert.equal(truncate('short', 10, null), 'short');
    const cut = truncate('line one\nline two\nline three\n'.repeat(10), 120, null);
    assert.ok(Buffer.byteLength(cut) <= 120);
    assert.match(cut, /^line one\nline two\n(line \w+\n)*line \w+\n\n\*\*Truncated\*\*/);
  });
});

describe('buildStickyComment', () => {
  const running: CheckRunInput = { status: 'in_progress', runId: 'run-1', headSha: SHA1 };

  it('starts with the marker and shows the latest push; no history at first', () => {
    const body = buildStickyComment(null, running);
    assert.ok(isStickyComment(body));
    assert.ok(body.startsWith(`${STICKY_MARKER}\n`));
    assert.match(body, /ksci ⏳ \*\*running\*\* on `2aa57ba` \(run `run-1`\)/);
    assert.doesNotMatch(body, /Earlier pushes/);
  });

  it('updates the same run in place, and moves an earlier run into the history line', () => {
    const first = buildStickyComment(
      buildStickyComment(null, running),
      done({ ...sampleReport('fail') }, { runId: 'run-1', headSha: SHA1 }),
    );
    assert.doesNotMatch(first, /Earlier pushes/);
    assert.match(first, /ksci ❌ \*\*FAIL\*\* on `2aa57ba`/);
    const second = buildStickyComment(
      first,
      done(sampleReport('pass'), { detailsUrl: 'https://ksci.example.org/runs/run-2' }),
    );
    assert.match(
      second,
      /ksci ✅ \*\*PASS\*\* on `83e826e` \(run `run-2`, \[details\]\(https:\/\/ksci.example.org\/runs\/run-2\)\)/,
    );
    assert.match(second, /<sub>Earlier pushes: `2aa57ba` ❌ FAIL<\/sub>\n$/);
    assert.ok(second.includes(sampleReport('pass').markdown));
    const third = buildStickyComment(second, { status: 'queued', runId: 'run-3', headSha: SHA1 });
    assert.match(third, /Earlier pushes: `83e826e` ✅ PASS · `2aa57ba` ❌ FAIL/);
  });

  it('starts the history afresh when the hidden state was edited into nonsense', () => {
    const tampered = buildStickyComment(null, running).replace('"runId":"run-1"', '"runId":"--> <script>"');
    assert.doesNotMatch(buildStickyComment(tampered, done(sampleReport('pass'))), /Earlier pushes/);
  });
});

describe('verdictLabels', () => {
  it('labels the current head pass or fail, and clears both otherwise', () => {
    assert.deepEqual(verdictLabels('completed', 'pass'), { add: ['ci-pass'], remove: ['ci-fail'] });
    assert.deepEqual(verdictLabels('completed', 'fail'), { add: ['ci-fail'], remove: ['ci-pass'] });
    for (const v of ['error', 'cancelled', 'skipped'] as const)
      assert.deepEqual(verdictLabels('completed', v), { add: [], remove: ['ci-pass', 'ci-fail'] });
    assert.deepEqual(verdictLabels('in_progress'), { add: [], remove: ['ci-pass', 'ci-fail'] });
  });
});
