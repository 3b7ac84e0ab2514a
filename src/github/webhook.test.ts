import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fixturePath } from '../testing/paths.js';
import {
  createWebhookHandler,
  type DeliveryLog,
  parseEvent,
  verifySignature,
  type CommentEvent,
  type GitHubEvent,
  type PullRequestEvent,
} from './webhook.js';

/**
 * An in-process DeliveryLog, for these tests (`ksci serve` uses RedisDeliveryLog). The default TTL matches how long GitHub keeps
 * deliveries for redelivery (3 days); `maxEntries` bounds memory under a
 * flood, dropping the oldest first.
 */
class MemoryDeliveryLog implements DeliveryLog {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly ttlMs = 72 * 3600_000,
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  async claim(id: string): Promise<boolean> {
    const t = this.now();
    // Map iteration is insertion order, so expired entries are at the front.
    for (const [k, expires] of this.seen) {
      if (expires > t && this.seen.size < this.maxEntries) break;
      this.seen.delete(k);
    }
    const expires = this.seen.get(id);
    if (expires !== undefined && expires > t) return false;
    this.seen.set(id, t + this.ttlMs);
    return true;
  }

  async release(id: string): Promise<void> {
    this.seen.delete(id);
  }
}

const SECRET = "It's a Secret to Everybody";
const example = (name: string) => readFileSync(fixturePath('github', 'webhooks', `${name}.json`));
const sign = (body: Buffer, secret = SECRET) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

describe('verifySignature', () => {
  const body = Buffer.from('Hello, World!');
  it('accepts the HMAC of the exact bytes (GitHub’s documented test vector)', () => {
    // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
    assert.equal(
      verifySignature(SECRET, body, 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'),
      true,
    );
  });
  it('refuses a missing, malformed, truncated or wrong signature', () => {
    assert.equal(verifySignature(SECRET, body, undefined), false);
    assert.equal(
      verifySignature(SECRET, body, '757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'),
      false,
    );
    assert.equal(verifySignature(SECRET, body, 'sha256=757107ea'), false);
    assert.equal(verifySignature(SECRET, body, sign(body, 'another secret')), false);
    assert.equal(verifySignature(SECRET, Buffer.from('Hello, World?'), sign(body)), false);
  });
});

describe('MemoryDeliveryLog', () => {
  it('claims an id once until its TTL passes, and forgets a released one', async () => {
    let now = 0;
    const log = new MemoryDeliveryLog(1000, 100, () => now);
    assert.equal(await log.claim('a'), true);
    assert.equal(await log.claim('a'), false);
    now = 999;
    assert.equal(await log.claim('a'), false);
    now = 1000;
    assert.equal(await log.claim('a'), true);
    await log.release('a');
    assert.equal(await log.claim('a'), true);
  });

  it('drops the oldest ids beyond maxEntries', async () => {
    const log = new MemoryDeliveryLog(60_000, 3, () => 0);
    for (const id of ['a', 'b', 'c', 'd']) assert.equal(await log.claim(id), true);
    assert.equal(await log.claim('a'), true, 'a was evicted');
    assert.equal(await log.claim('d'), false);
  });
});

describe('parseEvent on GitHub’s payload examples', () => {
  it('reads every handled pull_request action', () => {
    for (const action of [
      'opened',
      'synchronize',
      'reopened',
      'closed',
      'labeled',
      'ready_for_review.with-installation',
    ]) {
      const e = parseEvent(
        'pull_request',
        'd1',
        JSON.parse(example(`pull_request.${action}`).toString()),
      ) as PullRequestEvent;
      assert.equal(e.kind, 'pull_request');
      assert.equal(e.action, action.split('.')[0]);
      assert.deepEqual(e.repo, { owner: 'Codertocat', repo: 'Hello-World' });
      assert.equal(e.installationId, 1);
      assert.equal(e.pr.number, 2);
      assert.equal(e.pr.head.sha, 'ec26c3e57ca3a959ca5aad62de7213c562f8c821');
      assert.equal(e.pr.base.sha, 'f95f852bd8fca8fcc58a9a2d6c842781e32a215e');
      assert.equal(e.pr.base.ref, 'master');
      assert.equal(e.pr.fromFork, false);
      assert.deepEqual(e.pr.labels, ['bug']);
      assert.equal(e.label, action === 'labeled' ? 'bug' : null);
    }
  });

  it('gives a PR without description an empty body', () => {
    const e = parseEvent(
      'pull_request',
      'd1',
      JSON.parse(example('pull_request.opened.with-null-body').toString()),
    ) as PullRequestEvent;
    assert.equal(e.pr.body, '');
  });

  it('ignores other actions and events', () => {
    assert.equal(
      parseEvent('pull_request', 'd', JSON.parse(example('pull_request.converted_to_draft').toString())),
      null,
    );
    assert.equal(parseEvent('issue_comment', 'd', JSON.parse(example('issue_comment.edited').toString())), null);
    assert.equal(parseEvent('ping', 'd', { zen: 'Keep it logically awesome.', hook_id: 1 }), null);
  });

  it('reads a comment on a PR, and ignores comments on issues and by bots', () => {
    const onIssue = JSON.parse(example('issue_comment.created.with-installation').toString());
    assert.equal(parseEvent('issue_comment', 'd', onIssue), null);
    const onPr = prComment('/ksci retest');
    const e = parseEvent('issue_comment', 'd', onPr) as CommentEvent;
    assert.deepEqual(
      {
        kind: e.kind,
        number: e.number,
        body: e.body,
        author: e.author,
        installationId: e.installationId,
        repo: e.repo,
      },
      {
        kind: 'comment',
        number: 1,
        body: '/ksci retest',
        author: 'Codertocat',
        installationId: 1,
        repo: { owner: 'Codertocat', repo: 'Hello-World' },
      },
    );
    onPr.comment.user.type = 'Bot';
    assert.equal(parseEvent('issue_comment', 'd', onPr), null);
  });
});

/** GitHub's issue_comment example, on a pull request (issue.pull_request set, as GitHub sends it for PRs). */
function prComment(body: string) {
  const p = JSON.parse(example('issue_comment.created.with-installation').toString());
  p.issue.pull_request = {
    url: 'https://api.github.com/repos/Codertocat/Hello-World/pulls/1',
    html_url: 'https://github.com/Codertocat/Hello-World/pull/1',
    diff_url: 'https://github.com/Codertocat/Hello-World/pull/1.diff',
    patch_url: 'https://github.com/Codertocat/Hello-World/pull/1.patch',
    merged_at: null,
  };
  p.comment.body = body;
  return p;
}

describe('createWebhookHandler over HTTP', () => {
  let server: Server;
  let url: string;
  let events: GitHubEvent[];
  let fail = false;

  before(async () => {
    const handler = createWebhookHandler({
      secret: SECRET,
      deliveries: new MemoryDeliveryLog(),
      onEvent: (e) => {
        if (fail) throw new Error('queue down');
        events.push(e);
      },
    });
    server = createServer((req, res) => void handler(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => {
    events = [];
    fail = false;
  });

  async function deliver(
    event: string,
    body: Buffer,
    opts: { id?: string; signature?: string | null; contentType?: string } = {},
  ) {
    const headers: Record<string, string> = {
      'content-type': opts.contentType ?? 'application/json',
      'user-agent': 'GitHub-Hookshot/9ea0a2e',
      'x-github-event': event,
      'x-github-delivery': opts.id ?? randomUUID(),
      'x-github-hook-id': '292430182',
      'x-github-hook-installation-target-type': 'integration',
    };
    const signature = opts.signature === undefined ? sign(body) : opts.signature;
    if (signature !== null) headers['x-hub-signature-256'] = signature;
    const res = await fetch(url, { method: 'POST', headers, body });
    return { status: res.status, text: await res.text() };
  }

  it('hands a signed pull_request delivery to the callback and answers 202', async () => {
    const res = await deliver('pull_request', example('pull_request.synchronize'), {
      id: 'f3b1c2d0-0000-11ef-8000-000000000001',
    });
    assert.equal(res.status, 202);
    assert.equal(events.length, 1);
    const e = events[0] as PullRequestEvent;
    assert.equal(e.action, 'synchronize');
    assert.equal(e.deliveryId, 'f3b1c2d0-0000-11ef-8000-000000000001');
    assert.equal(e.pr.head.sha, 'ec26c3e57ca3a959ca5aad62de7213c562f8c821');
  });

  it('hands a /ksci comment on a PR over', async () => {
    const res = await deliver('issue_comment', Buffer.from(JSON.stringify(prComment('/ksci perf'))));
    assert.equal(res.status, 202);
    assert.equal((events[0] as CommentEvent).body, '/ksci perf');
  });

  it('refuses a forged, a missing and a stale (other body) signature with 401, calling nothing', async () => {
    const body = example('pull_request.opened');
    assert.equal((await deliver('pull_request', body, { signature: sign(body, 'guessed') })).status, 401);
    assert.equal((await deliver('pull_request', body, { signature: null })).status, 401);
    const tampered = Buffer.from(body.toString().replace('"number": 2', '"number": 3'));
    assert.equal((await deliver('pull_request', tampered, { signature: sign(body) })).status, 401);
    assert.equal(events.length, 0);
  });

  it('refuses a replayed delivery id with 409', async () => {
    const body = example('pull_request.opened');
    const id = randomUUID();
    assert.equal((await deliver('pull_request', body, { id })).status, 202);
    const again = await deliver('pull_request', body, { id });
    assert.equal(again.status, 409);
    assert.match(again.text, /already handled/);
    assert.equal(events.length, 1);
  });

  it('answers 500 when the callback fails, and accepts GitHub’s redelivery of the same id', async () => {
    const body = example('pull_request.reopened');
    const id = randomUUID();
    fail = true;
    assert.equal((await deliver('pull_request', body, { id })).status, 500);
    fail = false;
    assert.equal((await deliver('pull_request', body, { id })).status, 202);
    assert.equal(events.length, 1);
  });

  it('answers 400 to bad JSON and to a payload ksci cannot read', async () => {
    const bad = await deliver('pull_request', Buffer.from('{"action": "opened",'));
    assert.equal(bad.status, 400);
    assert.match(bad.text, /not JSON/);
    const form = await deliver('pull_request', Buffer.from('payload=%7B%7D'), {
      contentType: 'application/x-www-form-urlencoded',
    });
    assert.equal(form.status, 400);
    assert.match(form.text, /content type to application\/json/);
    const p = JSON.parse(example('pull_request.opened').toString());
    delete p.pull_request.head;
    const shape = await deliver('pull_request', Buffer.from(JSON.stringify(p)));
    assert.equal(shape.status, 400);
    assert.match(shape.text, /pull_request\.head/);
    assert.equal(events.length, 0);
  });

  it('answers 204 to events and actions ksci ignores, without claiming their ids', async () => {
    const ping = Buffer.from(
      JSON.stringify({ zen: 'Design for failure.', hook_id: 292430182, hook: { type: 'App', id: 292430182 } }),
    );
    assert.equal((await deliver('ping', ping)).status, 204);
    const id = randomUUID();
    assert.equal((await deliver('pull_request', example('pull_request.converted_to_draft'), { id })).status, 204);
    assert.equal((await deliver('issue_comment', example('issue_comment.created.with-installation'))).status, 204);
    assert.equal(events.length, 0);
    assert.equal(
      (await deliver('pull_request', example('pull_request.opened'), { id })).status,
      202,
      'the ignored delivery did not claim its id',
    );
  });

  it('answers 405 to anything but POST', async () => {
    assert.equal((await fetch(url)).status, 405);
  });
});
