import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { selectThread, threadIds } from './thread.js';

const mail = (id: string | null, headers: string[] = []) =>
  Buffer.from(
    [
      ...(id ? [`Message-ID: <${id}>`] : []),
      'Subject: x',
      ...headers,
      '',
      'body\nMessage-ID: <not-a-header@x>',
      '',
    ].join('\r\n'),
    'latin1',
  );

describe('thread selection from threading headers only', () => {
  it('reads Message-ID, In-Reply-To and folded References from the header block, not the body', () => {
    assert.deepEqual(threadIds(mail('b@x', ['In-Reply-To: <a@x>', 'References: <r@x>', ' <a@x>'])), {
      messageId: 'b@x',
      parents: ['a@x', 'r@x', 'a@x'],
    });
    assert.deepEqual(threadIds(mail(null)), { messageId: null, parents: [] });
  });

  it("takes the thread a message is in, from its root down, and nothing of the archive's other threads", () => {
    const raws = [
      mail('a0@x'),
      mail('a1@x', ['In-Reply-To: <a0@x>', 'References: <a0@x>']),
      mail('a1-r@x', ['In-Reply-To: <a1@x>', 'References: <a0@x> <a1@x>']),
      mail(null, ['In-Reply-To: <a1-r@x>']),
      mail('b0@x'),
      mail('b1@x', ['In-Reply-To: <b0@x>']),
      mail('loop@x', ['In-Reply-To: <loop@x>']),
    ];
    const ids = (bs: Buffer[] | null) => bs?.map((b) => threadIds(b).messageId);
    assert.deepEqual(ids(selectThread(raws, 'a1-r@x')), ['a0@x', 'a1@x', 'a1-r@x', null]);
    assert.deepEqual(ids(selectThread(raws, 'b0@x')), ['b0@x', 'b1@x']);
    assert.deepEqual(ids(selectThread(raws, 'loop@x')), ['loop@x']);
    assert.equal(selectThread(raws, 'absent@x'), null);
  });
});
