import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { messageIdFromUrl } from './atom.js';
import { escapeMessageId, parseLoreRef } from './ref.js';

describe('parseLoreRef', () => {
  const mid = '20261130120000.1234-1-author@example.org';
  const cases: [string, ReturnType<typeof parseLoreRef>][] = [
    [`https://lore.kernel.org/bpf/${mid}/`, { messageId: mid, listUrl: 'https://lore.kernel.org/bpf/' }],
    [`https://lore.kernel.org/bpf/${mid}/T/#u`, { messageId: mid, listUrl: 'https://lore.kernel.org/bpf/' }],
    [`https://lore.kernel.org/netdev/${mid}/t.mbox.gz`, { messageId: mid, listUrl: 'https://lore.kernel.org/netdev/' }],
    [`http://127.0.0.1:8080/bpf/${mid}/raw`, { messageId: mid, listUrl: 'http://127.0.0.1:8080/bpf/' }],
    [`https://lore.kernel.org/r/${mid}`, { messageId: mid, listUrl: 'https://lore.kernel.org/r/' }],
    [`https://lore.kernel.org/${mid}`, { messageId: mid, listUrl: null }],
    // public-inbox escapes "/" in ids; the id comes back unescaped.
    ['https://lore.kernel.org/bpf/a%2Fb@host/', { messageId: 'a/b@host', listUrl: 'https://lore.kernel.org/bpf/' }],
    [`<${mid}>`, { messageId: mid, listUrl: null }],
    [mid, { messageId: mid, listUrl: null }],
    [`id:${mid}`, { messageId: mid, listUrl: null }],
    ['patches/0001-foo.patch', null],
    ['no-at-sign', null],
  ];
  for (const [arg, want] of cases) it(arg, () => assert.deepEqual(parseLoreRef(arg), want));

  it('a URL that names no message is a usage error with a hint', () => {
    assert.throws(() => parseLoreRef('https://lore.kernel.org/bpf/'), /names no message/);
  });
});

describe('message ids in URLs', () => {
  it('escaping for a URL and reading back from one round-trip', () => {
    for (const id of ['simple@host', 'a/b+c%d@host', 'x?y#z@example.org', '<odd>@x']) {
      assert.equal(messageIdFromUrl(`https://lore.kernel.org/bpf/${escapeMessageId(id)}/`), id);
    }
  });
});
