import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeHtml, html, jsonScript } from './html.js';
import { compareResults, stability } from './stability.js';

describe('stability', () => {
  const at = (day: number, h = 0) => new Date(Date.UTC(2026, 10, day, h)).toISOString();
  const days = ['2026-11-01', '2026-11-02', '2026-11-03'];

  it('counts flips and the current failing streak, and grids days', () => {
    const obs = [
      { suite: 'bpf', test: 'flappy', at: at(1), status: 'pass' },
      { suite: 'bpf', test: 'flappy', at: at(1, 5), status: 'fail' },
      { suite: 'bpf', test: 'flappy', at: at(2), status: 'pass' },
      { suite: 'bpf', test: 'broken', at: at(1), status: 'pass' },
      { suite: 'bpf', test: 'broken', at: at(2), status: 'fail' },
      { suite: 'bpf', test: 'broken', at: at(3), status: 'fail' },
      { suite: 'bpf', test: 'steady', at: at(3), status: 'pass' },
    ];
    const [first, second, third] = stability(obs, days);
    assert.deepEqual(
      [first!.test, first!.flips, first!.failingFor, first!.cells],
      ['flappy', 2, 0, ['flaky', 'pass', 'none']],
    );
    assert.equal(first!.firstFlakyAt, at(1, 5));
    assert.deepEqual(
      [second!.test, second!.flips, second!.failingFor, second!.cells],
      ['broken', 1, 2, ['pass', 'fail', 'fail']],
    );
    assert.deepEqual([third!.test, third!.flips, third!.failingFor], ['steady', 0, 0]);
  });

  it("sorts two runs' results into KernelCI's categories", () => {
    const before = new Map([
      ['a', 'pass'],
      ['b', 'fail'],
      ['c', 'fail'],
      ['d', 'skip'],
      ['gone', 'pass'],
      ['same', 'pass'],
    ]);
    const after = new Map([
      ['a', 'fail'],
      ['b', 'fail'],
      ['c', 'pass'],
      ['d', 'pass'],
      ['new', 'pass'],
      ['same', 'pass'],
    ]);
    assert.deepEqual(Object.fromEntries(compareResults(before, after).map((r) => [r.test, r.category])), {
      a: 'new failure',
      b: 'still failing',
      c: 'fixed',
      d: 'new pass',
      gone: 'disappeared',
      new: 'appeared',
      same: 'unchanged',
    });
  });
});

describe('html', () => {
  it('escapes every interpolated value, keeps built Html, joins arrays', () => {
    const title = '<script>alert(1)</script> & "x"';
    const out = html`<p title="${title}">${title}${[html`<b>${'<i>'}</b>`, null, false]}</p>`.value;
    assert.equal(
      out,
      `<p title="${escapeHtml(title)}">&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;<b>&lt;i&gt;</b></p>`,
    );
  });

  it('keeps a JSON block from closing its script element', () => {
    const out = jsonScript('d', { s: '</script><script>alert(1)</script>' }).value;
    assert.equal(out.indexOf('</script>'), out.length - '</script>'.length);
    assert.deepEqual(JSON.parse(out.slice(out.indexOf('>') + 1, -'</script>'.length)), {
      s: '</script><script>alert(1)</script>',
    });
  });
});
