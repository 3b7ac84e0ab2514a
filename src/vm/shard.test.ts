import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SuiteTest } from '../suite/suite.js';
import { shardTests } from './kernel-run.js';

const tests = (...names: string[]): SuiteTest[] => names.map((name) => ({ name, run: 'true', timeoutSeconds: 60 }));
const names = (shards: SuiteTest[][]) => shards.map((s) => s.map((t) => t.name));

describe('shardTests', () => {
  it('longest first onto the least loaded VM', () => {
    const d = new Map([
      ['a', 10],
      ['b', 7],
      ['c', 5],
      ['d', 4],
      ['e', 2],
    ]);
    assert.deepEqual(
      names(shardTests(tests('e', 'd', 'c', 'b', 'a'), d, 2)),
      [
        ['d', 'a'],
        ['e', 'c', 'b'],
      ],
      'balanced 14/14, each in suite order',
    );
  });

  it('untimed tests cost the average; never more VMs than tests; one VM runs the suite as written', () => {
    const d = new Map([
      ['slow', 30],
      ['fast', 2],
    ]);
    assert.deepEqual(names(shardTests(tests('new', 'fast', 'slow'), d, 2)), [['slow'], ['new', 'fast']]);
    assert.equal(shardTests(tests('only'), new Map(), 4).length, 1);
    assert.deepEqual(
      names(shardTests(tests('fast', 'slow'), d, 1)),
      [['fast', 'slow']],
      'one VM: the suite as written',
    );
  });
});
