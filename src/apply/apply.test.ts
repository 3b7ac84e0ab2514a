import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAmFailure } from './apply.js';

// Captured from `git am -3` (git 2.39) on the example series, on the Debian 6.12 tree and a test repo.
const NO_ANCESTOR = `Applying: net: skbuff: comment why VLAN untagging moves the metadata
Applying: net: skbuff: drop the metadata owner in skb_metadata_clear()
error: sha1 information is lacking or useless (include/linux/skbuff.h).
error: could not build fake ancestor
hint: Use 'git am --show-current-patch=diff' to see the failed patch
Patch failed at 0002 net: skbuff: drop the metadata owner in skb_metadata_clear()
When you have resolved this problem, run "git am --continue".
If you prefer to skip this patch, run "git am --skip" instead.
To restore the original branch and stop patching, run "git am --abort".`;

const CONTENT_CONFLICT = `Applying: net: skbuff: return 1 from skb_alloc
Applying: net: skbuff: document skb_alloc
error: patch failed: include/linux/skbuff.h:1
error: include/linux/skbuff.h: patch does not apply
Using index info to reconstruct a base tree...
M\tinclude/linux/skbuff.h
Falling back to patching base and 3-way merge...
Auto-merging include/linux/skbuff.h
CONFLICT (content): Merge conflict in include/linux/skbuff.h
error: Failed to merge in the changes.
Patch failed at 0002 net: skbuff: document skb_alloc`;

describe('parseAmFailure', () => {
  it('names the patch and the file when 3-way has no ancestor', () => {
    const f = parseAmFailure(NO_ANCESTOR);
    assert.equal(f.index, 2);
    assert.deepEqual(f.files, ['include/linux/skbuff.h']);
    assert.doesNotMatch(f.message, /hint:|git am --skip|--abort/);
    assert.match(f.message, /could not build fake ancestor/);
  });

  it('names the patch and the file of a content conflict', () => {
    const f = parseAmFailure(CONTENT_CONFLICT);
    assert.equal(f.index, 2);
    assert.deepEqual(f.files, ['include/linux/skbuff.h']);
  });

  it('returns no patch when git did not name one', () => {
    assert.equal(parseAmFailure('fatal: not a git repository').index, null);
  });
});
