import type { Redis } from 'ioredis';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { errorMessage } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import type { RepoRef } from './client.js';
import { PullRequestObject, toPullRequestInfo, type PullRequestInfo } from './schemas.js';

/** GitHub caps a delivery at 25 MB; anything larger is not from GitHub. */
const MAX_BODY_BYTES = 25 << 20;

/** Whether `header` (X-Hub-Signature-256) is the HMAC-SHA256 of the exact bytes received. */
export function verifySignature(secret: string, body: Buffer, header: string | undefined): boolean {
  if (!header?.startsWith('sha256=')) return false;
  const got = Buffer.from(header.slice('sha256='.length), 'hex');
  const want = createHmac('sha256', secret).update(body).digest();
  return got.length === want.length && timingSafeEqual(got, want);
}

/**
 * Delivery ids already acted on. A signature never expires, so a captured
 * delivery could be sent again; claiming its X-GitHub-Delivery id first
 * makes the second copy a no-op. `claim` must be atomic (Redis: SET NX EX)
 * when several receivers share the log.
 */
export interface DeliveryLog {
  /** True when the id was not seen before (and is now recorded). */
  claim(id: string): Promise<boolean>;
  /** Forget an id whose handling failed, so GitHub's redelivery (same id) is accepted. */
  release(id: string): Promise<void>;
}

/** The DeliveryLog `ksci serve` uses: in Redis, so a replay is refused after a restart and by every receiver. */
export class RedisDeliveryLog implements DeliveryLog {
  constructor(
    private readonly redis: Pick<Redis, 'set' | 'del'>,
    private readonly ttlSeconds = 72 * 3600,
  ) {}

  async claim(id: string): Promise<boolean> {
    return (await this.redis.set(`ksci:gh-delivery:${id}`, '1', 'EX', this.ttlSeconds, 'NX')) === 'OK';
  }

  async release(id: string): Promise<void> {
    await this.redis.del(`ksci:gh-delivery:${id}`);
  }
}

export const PULL_REQUEST_ACTIONS = [
  'opened',
  'synchronize',
  'reopened',
  'closed',
  'labeled',
  'ready_for_review',
] as const;
export type PullRequestAction = (typeof PULL_REQUEST_ACTIONS)[number];

interface EventBase {
  deliveryId: string;
  /** Present when delivered to a GitHub App; saves looking the installation up. */
  installationId: number | null;
  repo: RepoRef;
  sender: string;
}

export interface PullRequestEvent extends EventBase {
  kind: 'pull_request';
  action: PullRequestAction;
  pr: PullRequestInfo;
  /** The label added, for `labeled`. */
  label: string | null;
}

export interface CommentEvent extends EventBase {
  kind: 'comment';
  /** The pull request commented on. */
  number: number;
  commentId: number;
  body: string;
  author: string;
}

export type GitHubEvent = PullRequestEvent | CommentEvent;

const Common = z.object({
  installation: z.object({ id: z.number().int() }).optional(),
  repository: z.object({ name: z.string().min(1), owner: z.object({ login: z.string().min(1) }) }),
  sender: z.object({ login: z.string().min(1) }),
});

const PullRequestPayload = Common.extend({
  action: z.enum(PULL_REQUEST_ACTIONS),
  pull_request: PullRequestObject,
  label: z.object({ name: z.string() }).optional(),
});

const CommentPayload = Common.extend({
  action: z.literal('created'),
  issue: z.object({ number: z.number().int().positive(), pull_request: z.object({ url: z.string() }).optional() }),
  comment: z.object({
    id: z.number().int(),
    body: z.string(),
    user: z.object({ login: z.string().min(1), type: z.string() }),
  }),
});

export class PayloadError extends Error {
  override name = 'PayloadError';
}

function base(p: z.infer<typeof Common>, deliveryId: string): EventBase {
  return {
    deliveryId,
    installationId: p.installation?.id ?? null,
    repo: { owner: p.repository.owner.login, repo: p.repository.name },
    sender: p.sender.login,
  };
}

/**
 * A delivery as a typed event, or null for one ksci does not act on: other
 * events and actions, comments on issues, and comments by bots (ksci's own
 * help replies quote commands; reading them back would loop). Throws
 * PayloadError when a handled event lacks what ksci needs.
 */
export function parseEvent(event: string, deliveryId: string, payload: unknown): GitHubEvent | null {
  const action = z.object({ action: z.string() }).safeParse(payload).data?.action;
  if (event === 'pull_request' && (PULL_REQUEST_ACTIONS as readonly string[]).includes(action ?? '')) {
    const p = parse(PullRequestPayload, payload, event);
    return {
      kind: 'pull_request',
      ...base(p, deliveryId),
      action: p.action,
      pr: toPullRequestInfo(p.pull_request),
      label: p.label?.name ?? null,
    };
  }
  if (event === 'issue_comment' && action === 'created') {
    const p = parse(CommentPayload, payload, event);
    if (!p.issue.pull_request || p.comment.user.type === 'Bot') return null;
    return {
      kind: 'comment',
      ...base(p, deliveryId),
      number: p.issue.number,
      commentId: p.comment.id,
      body: p.comment.body,
      author: p.comment.user.login,
    };
  }
  return null;
}

function parse<T extends z.ZodType>(schema: T, payload: unknown, event: string): z.infer<T> {
  const r = schema.safeParse(payload);
  if (!r.success) throw new PayloadError(`${event} payload: ${z.prettifyError(r.error)}`);
  return r.data;
}

export interface WebhookHandlerOptions {
  secret: string;
  deliveries: DeliveryLog;
  /**
   * Gets each verified, new, typed event; the delivery is answered when it
   * resolves. GitHub gives up after 10 s, so enqueue here, do not test.
   */
  onEvent: (event: GitHubEvent) => Promise<void> | void;
  log?: Logger;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `payload larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The webhook endpoint for node:http: verify the signature over the raw
 * bytes, parse, refuse replays, hand the event on, answer 202. 401 for a
 * missing or wrong signature, 400 for bad JSON or a payload ksci cannot
 * read, 409 for a delivery already handled, 204 for events ksci ignores.
 */
export function createWebhookHandler(
  opts: WebhookHandlerOptions,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const log = opts.log ?? silentLogger;
  const answer = (res: ServerResponse, status: number, message: string) => {
    if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(status === 204 ? undefined : `${message}\n`);
  };

  return async (req, res) => {
    const deliveryId = header(req, 'x-github-delivery');
    const event = header(req, 'x-github-event');
    try {
      if (req.method !== 'POST') throw new HttpError(405, 'webhook deliveries are POSTs');
      const body = await readBody(req);
      if (!verifySignature(opts.secret, body, header(req, 'x-hub-signature-256'))) {
        log.warn({ deliveryId, event }, 'webhook delivery with a missing or wrong signature refused');
        throw new HttpError(401, 'missing or wrong X-Hub-Signature-256');
      }
      if (!deliveryId || !event) throw new HttpError(400, 'X-GitHub-Event and X-GitHub-Delivery are required');
      let payload: unknown;
      try {
        payload = JSON.parse(body.toString('utf8'));
      } catch {
        const form = header(req, 'content-type')?.startsWith('application/x-www-form-urlencoded');
        throw new HttpError(
          400,
          form
            ? "the payload is form-encoded: set the webhook's content type to application/json"
            : 'the payload is not JSON',
        );
      }
      let parsed: GitHubEvent | null;
      try {
        parsed = parseEvent(event, deliveryId, payload);
      } catch (err) {
        if (err instanceof PayloadError) throw new HttpError(400, err.message);
        throw err;
      }
      if (!parsed) return answer(res, 204, '');
      if (!(await opts.deliveries.claim(deliveryId))) {
        log.warn({ deliveryId, event }, 'webhook delivery replayed; ignored');
        throw new HttpError(409, `delivery ${deliveryId} was already handled`);
      }
      try {
        await opts.onEvent(parsed);
      } catch (err) {
        await opts.deliveries.release(deliveryId);
        throw err;
      }
      answer(res, 202, 'accepted');
    } catch (err) {
      if (err instanceof HttpError) return answer(res, err.status, err.message);
      log.error({ deliveryId, event, err: errorMessage(err) }, 'webhook delivery failed');
      answer(res, 500, 'internal error; redeliver later');
    }
  };
}
