import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCancelMessage } from './cancel.js';

describe('the cancellation message', () => {
  it('names a run or a job, with a reason', () => {
    assert.deepEqual(parseCancelMessage('{"run":"r1","reason":"superseded by v3"}'), {
      target: { run: 'r1' },
      reason: 'superseded by v3',
    });
    assert.deepEqual(parseCancelMessage('{"job":"r1.vm.2"}'), { target: { job: 'r1.vm.2' }, reason: 'cancelled' });
  });
  it('ignores what is not one (a foreign publisher on the channel)', () => {
    for (const m of ['not json', '42', 'null', '{"runId":"r1"}', '{"run":7}'])
      assert.equal(parseCancelMessage(m), null, m);
  });
});
