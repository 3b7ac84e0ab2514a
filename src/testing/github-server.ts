import assert from 'node:assert/strict';
import { GitHubConfigSchema } from '../config/integrations.js';
import { createAppClient, type RepoClient } from '../github/client.js';
import { generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { components } from '@octokit/openapi-types';
import type { RunContext, StageOutcome } from '../pipeline/payload.js';
import { renderReport, type Report } from '../stages/report/render.js';
import { fixturePath } from './paths.js';

/*
 * A local stand-in for api.github.com, for exactly the endpoints ksci's
 * GitHub layer calls. Responses have GitHub's documented shapes (typed
 * against GitHub's own OpenAPI description), state is kept (comments, check
 * runs, labels) so a second publish sees the first, every request is
 * recorded, and failures can be injected: 5xx, and primary and secondary
 * rate limits with the headers GitHub sends, for octokit's retry and
 * throttling to act on. Production code only gets this server's baseUrl.
 */

type S = components['schemas'];

export interface RecordedRequest {
  method: string;
  /** Without the query string. */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Parsed JSON, or null when there was no body. */
  body: unknown;
  /** Epoch ms when it arrived. */
  at: number;
}

export interface PrFixture {
  owner: string;
  repo: string;
  number: number;
  title: string;
  body: string | null;
  user: { login: string; id: number };
  base: { ref: string; sha: string };
  head: { ref: string; owner?: string };
  draft: boolean;
  labels: string[];
  createdAt: string;
  commits: S['commit'][];
  /** sha -> format-patch text, as GitHub's patch media type serves it. */
  patches: Map<string, Buffer>;
}

/** test/fixtures/github/pr: a 3-commit PR made with git format-patch (see the README there). */
export function loadPrFixture(): PrFixture {
  const dir = fixturePath('github', 'pr');
  const spec = JSON.parse(readFileSync(`${dir}/pull.json`, 'utf8')) as Omit<PrFixture, 'commits' | 'patches'>;
  const commits = JSON.parse(readFileSync(`${dir}/commits.json`, 'utf8')) as S['commit'][];
  const patches = new Map<string, Buffer>();
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.patch')))
    patches.set(name.replace(/\.patch$/, ''), readFileSync(`${dir}/${name}`));
  return { ...spec, commits, patches };
}

/** A GitHub App key pair as GitHub issues it (PKCS#1 PEM private key). */
export function appKeys(): { privateKey: string; publicKey: string } {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
}

/**
 * The local GitHub holding the PR fixture (kdev/linux#7), and the production
 * App client for that repository pointed at it; writes are not spaced out
 * (msPerSecond 1), everything else is as against api.github.com.
 */
export async function startGitHubWithApp(
  opts: Omit<FakeGitHubOptions, 'appPublicKey'> = {},
): Promise<{ gh: FakeGitHub; fx: PrFixture; client: RepoClient }> {
  const keys = appKeys();
  const gh = await FakeGitHub.start({ ...opts, appPublicKey: keys.publicKey });
  const fx = loadPrFixture();
  gh.addPullRequest(fx);
  const config = GitHubConfigSchema.parse({
    appId: gh.appId,
    privateKey: keys.privateKey,
    webhookSecret: 'x',
    baseUrl: gh.baseUrl,
  });
  const client = await (await createAppClient(config, { msPerSecond: 1 })).forRepo({ owner: 'kdev', repo: 'linux' });
  return { gh, fx, client };
}

/** Compares with test/fixtures/github/golden/<name>; UPDATE_GOLDEN=1 writes it instead. */
export function assertGolden(name: string, actual: string): void {
  const path = fixturePath('github', 'golden', name);
  if (process.env['UPDATE_GOLDEN'] === '1') {
    mkdirSync(fixturePath('github', 'golden'), { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  assert.equal(
    actual,
    readFileSync(path, 'utf8'),
    `${name} differs from the golden file; if the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff`,
  );
}

/** A real rendered report for the fixture PR: a build failure, or a pass. */
export function sampleReport(verdict: 'pass' | 'fail'): Report {
  const run: RunContext = {
    runId: '7b0c6a52-3f1e-4d2a-9b8e-1c2d3e4f5a6b',
    stages: ['apply', 'build'],
    tree: { name: 'net-next', reason: 'pull request base master' },
    build: {
      configs: ['vm'],
      arch: 'x86_64',
      toolchain: 'gcc',
      perPatch: false,
      suites: [],
      perfSuites: [],
      perfBisect: false,
      perfClock: null,
    },
    series: {
      title: 'net: skbuff: make skb_alloc() report success – and say so',
      version: 1,
      total: 3,
      isRfc: false,
      author: { name: 'janedev', address: '5501+janedev@users.noreply.github.com' },
      messageId: 'ksci.kdev.linux.pr7.83e826e1bf82.0@github',
      patches: [
        { counter: 1, title: 'net: skbuff: return 1 from skb_alloc' },
        {
          counter: 2,
          title: 'net: skbuff: document the return value of skb_alloc so that callers stop guessing what it means',
        },
        { counter: 3, title: 'net: skbuff: add skb_headroom()' },
      ],
    },
  };
  const at = (s: number) => `2025-02-10T10:2${s}:00.000Z`;
  const outcomes: StageOutcome[] = [
    {
      stage: 'apply',
      status: 'passed',
      summary: '3 patches apply on 318dacb2a24a',
      data: null,
      attempts: 1,
      startedAt: at(0),
      finishedAt: at(1),
    },
    verdict === 'pass'
      ? {
          stage: 'build',
          status: 'passed',
          summary: 'vm: built, no new warnings',
          data: null,
          attempts: 1,
          startedAt: at(1),
          finishedAt: at(5),
        }
      : {
          stage: 'build',
          status: 'failed',
          summary: "vm: net/core/skbuff.c:8:9: error: 'headroom' undeclared",
          data: null,
          attempts: 1,
          startedAt: at(1),
          finishedAt: at(5),
        },
  ];
  return renderReport(run, outcomes);
}

export type Role = 'admin' | 'maintain' | 'write' | 'triage' | 'read' | 'none';

interface CheckRunState {
  run: S['check-run'];
  annotations: S['check-annotation'][];
}

interface RepoState {
  id: number;
  owner: string;
  name: string;
  installationId: number;
  pulls: Map<number, PrFixture>;
  comments: Map<number, S['issue-comment'][]>;
  issueLabels: Map<number, string[]>;
  labels: Map<string, S['label']>;
  roles: Map<string, Role>;
  /** Plain issues (not PRs), numbered from 100: the tracking issues of nightly change points. */
  issues: Map<
    number,
    {
      number: number;
      title: string;
      body: string;
      state: 'open' | 'closed';
      labels: string[];
      user: S['simple-user'];
      createdAt: string;
      updatedAt: string;
    }
  >;
}

type Auth =
  | { kind: 'app' }
  | { kind: 'installation'; installationId: number }
  | { kind: 'user'; login: string }
  | { kind: 'none' };

interface Fault {
  remaining: number;
  match: string | undefined;
  status: number;
  headers: (now: number) => Record<string, string>;
  body: object;
}

export interface FakeGitHubOptions {
  appId?: number;
  appSlug?: string;
  /** When given, app JWTs must be RS256-signed with its private key (as GitHub checks). */
  appPublicKey?: KeyObject | string;
  /** Personal access tokens the server accepts, and whose they are. */
  tokens?: Record<string, string>;
  /** Caps page sizes below GitHub's 100, so pagination shows with small fixtures. */
  maxPerPage?: number;
}

class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly contentType = 'application/json; charset=utf-8',
    readonly headers: Record<string, string> = {},
  ) {}
}

const error = (status: number, message: string, documentation = 'https://docs.github.com/rest') =>
  new Reply(status, { message, documentation_url: documentation, status: String(status) });

type Handler = (
  ctx: { auth: Auth; query: Record<string, string>; body: Record<string, unknown>; accept: string },
  m: string[],
) => Reply;

export class FakeGitHub {
  readonly requests: RecordedRequest[] = [];
  readonly checkRuns = new Map<number, CheckRunState>();
  readonly appId: number;
  readonly appSlug: string;
  baseUrl = '';
  private readonly repos = new Map<string, RepoState>();
  private readonly installationTokens = new Map<string, number>();
  private readonly faults: Fault[] = [];
  private readonly routes: [string, RegExp, Handler][];
  private nextId = 1000;
  private remaining = 5000;
  private resetAt = Math.floor(Date.now() / 1000) + 3600;
  private server: Server | null = null;

  private constructor(private readonly opts: FakeGitHubOptions) {
    this.appId = opts.appId ?? 4242;
    this.appSlug = opts.appSlug ?? 'ksci-test';
    this.routes = this.buildRoutes();
  }

  static async start(opts: FakeGitHubOptions = {}): Promise<FakeGitHub> {
    const gh = new FakeGitHub(opts);
    const server = createServer((req, res) => void gh.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    gh.server = server;
    gh.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return gh;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  addPullRequest(fx: PrFixture): void {
    const repo = this.repoState(fx.owner, fx.repo);
    repo.pulls.set(fx.number, fx);
    repo.issueLabels.set(fx.number, [...fx.labels]);
  }

  setRole(owner: string, repo: string, login: string, role: Role): void {
    this.repoState(owner, repo).roles.set(login, role);
  }

  /** A comment as someone else wrote it (a user quoting ksci's marker, say). */
  addComment(owner: string, repo: string, number: number, login: string, body: string): S['issue-comment'] {
    return this.createComment(this.repoState(owner, repo), number, this.user(login), body);
  }

  comments(owner: string, repo: string, number: number): S['issue-comment'][] {
    return this.repoState(owner, repo).comments.get(number) ?? [];
  }

  labelsOf(owner: string, repo: string, number: number): string[] {
    return this.repoState(owner, repo).issueLabels.get(number) ?? [];
  }

  /** The quota the next responses report. */
  setRateLimit(remaining: number, resetInSeconds = 3600): void {
    this.remaining = remaining;
    this.resetAt = Math.floor(Date.now() / 1000) + resetInSeconds;
  }

  /** The next `count` requests (whose "METHOD /path" starts with `match`, if given) fail with `status`. */
  failNext(count: number, status = 502, match?: string): void {
    this.faults.push({
      remaining: count,
      match,
      status,
      headers: () => ({}),
      body: { message: status >= 500 ? 'Server Error' : 'Injected failure' },
    });
  }

  /**
   * The next matching request is refused as GitHub refuses over-quota calls:
   * primary, 403 with x-ratelimit-remaining 0 and the reset time; secondary,
   * 403 with retry-after.
   */
  rateLimitNext(kind: 'primary' | 'secondary', opts: { match?: string; waitSeconds?: number } = {}): void {
    const wait = opts.waitSeconds ?? 0;
    if (kind === 'primary') {
      this.faults.push({
        remaining: 1,
        match: opts.match,
        status: 403,
        headers: (now) => ({
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(Math.floor(now / 1000) + wait),
        }),
        body: {
          message: 'API rate limit exceeded for installation ID 1.',
          documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api',
        },
      });
    } else {
      this.faults.push({
        remaining: 1,
        match: opts.match,
        status: 403,
        headers: () => ({ 'retry-after': String(wait) }),
        body: {
          message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
          documentation_url:
            'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits',
        },
      });
    }
  }

  /* ------------------------------------------------------------------ */

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown = null;
    let reply: Reply;
    try {
      body = raw ? JSON.parse(raw) : null;
      reply = this.dispatch(req, url, body);
    } catch (err) {
      reply = err instanceof SyntaxError ? error(400, 'Problems parsing JSON') : error(500, String(err));
    }
    this.requests.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body,
      at,
    });
    const payload = Buffer.isBuffer(reply.body)
      ? reply.body
      : reply.status === 204
        ? Buffer.alloc(0)
        : Buffer.from(JSON.stringify(reply.body));
    res.writeHead(reply.status, {
      'content-type': reply.contentType,
      'x-github-media-type': 'github.v3; format=json',
      'x-github-request-id': randomBytes(8).toString('hex').toUpperCase(),
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': String(this.remaining),
      'x-ratelimit-reset': String(this.resetAt),
      'x-ratelimit-used': String(5000 - this.remaining),
      'x-ratelimit-resource': 'core',
      ...reply.headers,
    });
    res.end(payload);
  }

  private dispatch(req: IncomingMessage, url: URL, body: unknown): Reply {
    const method = req.method ?? 'GET';
    const line = `${method} ${url.pathname}`;
    const fault = this.faults.find((f) => f.remaining > 0 && (f.match === undefined || line.startsWith(f.match)));
    if (fault) {
      fault.remaining--;
      return new Reply(fault.status, fault.body, undefined, fault.headers(Date.now()));
    }
    const auth = this.authenticate(req.headers.authorization);
    if (auth.kind === 'installation' || auth.kind === 'user') this.remaining = Math.max(0, this.remaining - 1);
    for (const [m, re, handler] of this.routes) {
      const match = m === method ? re.exec(url.pathname) : null;
      if (!match) continue;
      const ctx = {
        auth,
        query: Object.fromEntries(url.searchParams),
        body: (body ?? {}) as Record<string, unknown>,
        accept: req.headers.accept ?? '',
      };
      return handler(ctx, match.slice(1).map(decodeURIComponent));
    }
    return error(404, 'Not Found');
  }

  private authenticate(header: string | undefined): Auth {
    const [scheme, token] = (header ?? '').split(' ');
    if (!token || !/^(bearer|token)$/i.test(scheme ?? '')) return { kind: 'none' };
    const inst = this.installationTokens.get(token);
    if (inst !== undefined) return { kind: 'installation', installationId: inst };
    const user = this.opts.tokens?.[token];
    if (user) return { kind: 'user', login: user };
    if (/^bearer$/i.test(scheme!) && this.validJwt(token)) return { kind: 'app' };
    return { kind: 'none' };
  }

  private validJwt(jwt: string): boolean {
    const [h, p, sig] = jwt.split('.');
    if (!h || !p || !sig) return false;
    try {
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as { iss?: unknown; exp?: unknown };
      if (String(claims.iss) !== String(this.appId) || typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now())
        return false;
      return (
        this.opts.appPublicKey === undefined ||
        verify('RSA-SHA256', Buffer.from(`${h}.${p}`), this.opts.appPublicKey, Buffer.from(sig, 'base64url'))
      );
    } catch {
      return false;
    }
  }

  private buildRoutes(): [string, RegExp, Handler][] {
    const R = '/repos/([^/]+)/([^/]+)';
    return [
      ['GET', /^\/app$/, ({ auth }) => (auth.kind === 'app' ? new Reply(200, this.integration()) : jwtRequired())],
      [
        'GET',
        new RegExp(`^${R}/installation$`),
        ({ auth }, [o, r]) =>
          auth.kind !== 'app'
            ? jwtRequired()
            : this.withRepo(o!, r!, (repo) => new Reply(200, this.installation(repo))),
      ],
      [
        'POST',
        /^\/app\/installations\/(\d+)\/access_tokens$/,
        ({ auth }, [id]) => (auth.kind !== 'app' ? jwtRequired() : this.accessToken(Number(id))),
      ],
      [
        'GET',
        /^\/user$/,
        ({ auth }) =>
          auth.kind === 'user'
            ? new Reply(200, this.privateUser(auth.login))
            : error(
                auth.kind === 'installation' ? 403 : 401,
                auth.kind === 'installation' ? 'Resource not accessible by integration' : 'Requires authentication',
              ),
      ],
      [
        'GET',
        new RegExp(`^${R}/issues$`),
        (c, [o, r]) => this.onRepo(c.auth, o!, r!, (repo) => this.listIssues(repo, c.query, `/repos/${o}/${r}/issues`)),
      ],
      [
        'POST',
        new RegExp(`^${R}/issues$`),
        (c, [o, r]) => this.onRepo(c.auth, o!, r!, (repo) => this.createIssue(repo, c.auth, c.body)),
      ],
      [
        'PATCH',
        new RegExp(`^${R}/issues/(\\d+)$`),
        (c, [o, r, n]) => this.onRepo(c.auth, o!, r!, (repo) => this.editIssue(repo, Number(n), c.body)),
      ],
      // The simple listing GitHub answers with the same pull-request object (open ones, the default state).
      [
        'GET',
        new RegExp(`^${R}/pulls$`),
        (c, [o, r]) =>
          this.onRepo(c.auth, o!, r!, (repo) =>
            this.page(
              c.query,
              [...repo.pulls.values()].map((pr) => this.pullRequest(repo, pr)),
              `/repos/${o}/${r}/pulls`,
            ),
          ),
      ],
      [
        'GET',
        new RegExp(`^${R}/pulls/(\\d+)$`),
        (c, [o, r, n]) =>
          this.onRepo(c.auth, o!, r!, (repo) =>
            this.withPull(repo, Number(n), (pr) => new Reply(200, this.pullRequest(repo, pr))),
          ),
      ],
      [
        'GET',
        new RegExp(`^${R}/pulls/(\\d+)/commits$`),
        (c, [o, r, n]) =>
          this.onRepo(c.auth, o!, r!, (repo) =>
            this.withPull(repo, Number(n), (pr) =>
              this.page(c.query, pr.commits, `/repos/${o}/${r}/pulls/${n}/commits`),
            ),
          ),
      ],
      [
        'GET',
        new RegExp(`^${R}/commits/([^/]+)$`),
        (c, [o, r, ref]) => this.onRepo(c.auth, o!, r!, (repo) => this.commit(repo, ref!, c.accept)),
      ],
      [
        'GET',
        new RegExp(`^${R}/collaborators/([^/]+)/permission$`),
        (c, [o, r, u]) => this.onRepo(c.auth, o!, r!, (repo) => this.permission(repo, u!)),
      ],
      [
        'POST',
        new RegExp(`^${R}/check-runs$`),
        (c, [o, r]) => this.onRepo(c.auth, o!, r!, (repo) => this.createCheckRun(repo, c.auth, c.body)),
      ],
      [
        'PATCH',
        new RegExp(`^${R}/check-runs/(\\d+)$`),
        (c, [o, r, id]) => this.onRepo(c.auth, o!, r!, () => this.updateCheckRun(Number(id), c.body)),
      ],
      [
        'GET',
        new RegExp(`^${R}/issues/(\\d+)/comments$`),
        (c, [o, r, n]) =>
          this.onRepo(c.auth, o!, r!, (repo) =>
            this.page(c.query, repo.comments.get(Number(n)) ?? [], `/repos/${o}/${r}/issues/${n}/comments`),
          ),
      ],
      [
        'POST',
        new RegExp(`^${R}/issues/(\\d+)/comments$`),
        (c, [o, r, n]) => this.onRepo(c.auth, o!, r!, (repo) => this.postComment(repo, Number(n), c.auth, c.body)),
      ],
      [
        'PATCH',
        new RegExp(`^${R}/issues/comments/(\\d+)$`),
        (c, [o, r, id]) => this.onRepo(c.auth, o!, r!, (repo) => this.editComment(repo, Number(id), c.body)),
      ],
      [
        'GET',
        new RegExp(`^${R}/issues/(\\d+)/labels$`),
        (c, [o, r, n]) =>
          this.onRepo(c.auth, o!, r!, (repo) =>
            this.page(c.query, this.issueLabelObjects(repo, Number(n)), `/repos/${o}/${r}/issues/${n}/labels`),
          ),
      ],
      [
        'POST',
        new RegExp(`^${R}/issues/(\\d+)/labels$`),
        (c, [o, r, n]) => this.onRepo(c.auth, o!, r!, (repo) => this.addLabels(repo, Number(n), c.body)),
      ],
      [
        'DELETE',
        new RegExp(`^${R}/issues/(\\d+)/labels/([^/]+)$`),
        (c, [o, r, n, name]) => this.onRepo(c.auth, o!, r!, (repo) => this.removeLabel(repo, Number(n), name!)),
      ],
    ];
  }

  /* state ------------------------------------------------------------ */

  private repoState(owner: string, name: string): RepoState {
    const key = `${owner}/${name}`.toLowerCase();
    let repo = this.repos.get(key);
    if (!repo) {
      repo = {
        id: 700000 + this.repos.size,
        owner,
        name,
        installationId: 1,
        pulls: new Map(),
        comments: new Map(),
        issueLabels: new Map(),
        labels: new Map(),
        roles: new Map(),
        issues: new Map(),
      };
      this.repos.set(key, repo);
    }
    return repo;
  }

  private withRepo(owner: string, name: string, f: (repo: RepoState) => Reply): Reply {
    const repo = this.repos.get(`${owner}/${name}`.toLowerCase());
    return repo ? f(repo) : error(404, 'Not Found');
  }

  /** A repository call: needs a token of the repository's installation, or a known personal token. */
  private onRepo(auth: Auth, owner: string, name: string, f: (repo: RepoState) => Reply): Reply {
    if (auth.kind === 'none') return error(401, 'Requires authentication');
    if (auth.kind === 'app')
      return error(403, 'A JSON web token cannot be used to access this resource; use an installation access token');
    return this.withRepo(owner, name, (repo) =>
      auth.kind === 'installation' && auth.installationId !== repo.installationId ? error(404, 'Not Found') : f(repo),
    );
  }

  private withPull(repo: RepoState, number: number, f: (pr: PrFixture) => Reply): Reply {
    const pr = repo.pulls.get(number);
    return pr ? f(pr) : error(404, 'Not Found');
  }

  private page<T>(query: Record<string, string>, all: T[], path: string): Reply {
    const perPage = Math.min(Number(query['per_page'] ?? 30) || 30, 100, this.opts.maxPerPage ?? 100);
    const page = Math.max(1, Number(query['page'] ?? 1) || 1);
    const last = Math.max(1, Math.ceil(all.length / perPage));
    const link = (p: number) => `<${this.baseUrl}${path}?per_page=${perPage}&page=${p}>`;
    const rels: string[] = [];
    if (page < last) rels.push(`${link(page + 1)}; rel="next"`, `${link(last)}; rel="last"`);
    if (page > 1) rels.push(`${link(page - 1)}; rel="prev"`, `${link(1)}; rel="first"`);
    return new Reply(
      200,
      all.slice((page - 1) * perPage, page * perPage),
      undefined,
      rels.length ? { link: rels.join(', ') } : {},
    );
  }

  /* endpoints ---------------------------------------------------------- */

  private accessToken(installationId: number): Reply {
    if (![...this.repos.values()].some((r) => r.installationId === installationId)) return error(404, 'Not Found');
    const token = `ghs_${randomBytes(18).toString('base64url')}`;
    this.installationTokens.set(token, installationId);
    const body: S['installation-token'] = {
      token,
      expires_at: new Date(Date.now() + 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      permissions: { checks: 'write', issues: 'write', pull_requests: 'read', contents: 'read', metadata: 'read' },
      repository_selection: 'selected',
    };
    return new Reply(201, body);
  }

  private commit(repo: RepoState, ref: string, accept: string): Reply {
    for (const pr of repo.pulls.values()) {
      const c = pr.commits.find((x) => x.sha === ref);
      if (!c) continue;
      if (accept.includes('application/vnd.github.patch'))
        return new Reply(200, pr.patches.get(ref) ?? Buffer.alloc(0), 'application/vnd.github.patch; charset=utf-8');
      return new Reply(200, c);
    }
    return error(422, `No commit found for SHA: ${ref}`);
  }

  private knownSha(repo: RepoState, sha: string): boolean {
    return [...repo.pulls.values()].some((pr) => pr.base.sha === sha || pr.commits.some((c) => c.sha === sha));
  }

  private permission(repo: RepoState, login: string): Reply {
    const role = repo.roles.get(login) ?? 'read';
    const permission = role === 'maintain' ? 'write' : role === 'triage' ? 'read' : role;
    const u = this.user(login);
    const body: S['repository-collaborator-permission'] = {
      permission,
      role_name: role,
      user: {
        ...u,
        permissions: {
          admin: role === 'admin',
          maintain: role === 'admin' || role === 'maintain',
          push: permission === 'admin' || permission === 'write',
          triage: role !== 'none' && role !== 'read',
          pull: role !== 'none',
        },
        role_name: role,
      },
    };
    return new Reply(200, body);
  }

  private createCheckRun(repo: RepoState, auth: Auth, body: Record<string, unknown>): Reply {
    if (typeof body['name'] !== 'string' || typeof body['head_sha'] !== 'string')
      return error(422, 'Invalid request.\n\n"name" and "head_sha" are required.');
    if (!this.knownSha(repo, body['head_sha'])) return error(422, 'No commit found for SHA: ' + body['head_sha']);
    const id = this.nextId++;
    const url = `https://api.github.com/repos/${repo.owner}/${repo.name}/check-runs/${id}`;
    const run: S['check-run'] = {
      id,
      head_sha: body['head_sha'],
      node_id: `CR_kwDO${id}`,
      external_id: null,
      url,
      html_url: `https://github.com/${repo.owner}/${repo.name}/runs/${id}`,
      details_url: null,
      status: 'queued',
      conclusion: null,
      started_at: new Date().toISOString(),
      completed_at: null,
      output: { title: null, summary: null, text: null, annotations_count: 0, annotations_url: `${url}/annotations` },
      name: body['name'],
      check_suite: { id: 5000 + repo.id },
      app: auth.kind === 'installation' ? this.integration() : null,
      pull_requests: [...repo.pulls.values()]
        .filter((pr) => pr.commits.at(-1)?.sha === body['head_sha'])
        .map((pr) => {
          const repoRef = {
            id: repo.id,
            url: `https://api.github.com/repos/${repo.owner}/${repo.name}`,
            name: repo.name,
          };
          return {
            id: 90000 + pr.number,
            number: pr.number,
            url: `${repoRef.url}/pulls/${pr.number}`,
            head: { ref: pr.head.ref, sha: pr.commits.at(-1)!.sha, repo: repoRef },
            base: { ref: pr.base.ref, sha: pr.base.sha, repo: repoRef },
          };
        }),
    };
    const state = { run, annotations: [] };
    const invalid = this.applyCheckRunUpdate(state, body);
    if (invalid) return invalid;
    this.checkRuns.set(id, state);
    return new Reply(201, run);
  }

  private updateCheckRun(id: number, body: Record<string, unknown>): Reply {
    const state = this.checkRuns.get(id);
    if (!state) return error(404, 'Not Found');
    const copy = { run: structuredClone(state.run), annotations: [...state.annotations] };
    const invalid = this.applyCheckRunUpdate(copy, body);
    if (invalid) return invalid;
    this.checkRuns.set(id, copy);
    return new Reply(200, copy.run);
  }

  /** The Checks API's rules, as far as ksci could break them. */
  private applyCheckRunUpdate(state: CheckRunState, body: Record<string, unknown>): Reply | null {
    const run = state.run;
    const output = body['output'] as
      | { title?: unknown; summary?: unknown; text?: unknown; annotations?: S['check-annotation'][] }
      | undefined;
    if (output !== undefined) {
      if (typeof output.title !== 'string' || typeof output.summary !== 'string')
        return error(422, 'Invalid request.\n\n"title" and "summary" are required keys of "output".');
      if (output.summary.length > 65535 || (typeof output.text === 'string' && output.text.length > 65535))
        return error(422, 'Invalid request.\n\nOnly 65535 characters are allowed in output.summary and output.text.');
      if ((output.annotations?.length ?? 0) > 50)
        return error(422, 'Invalid request.\n\nOnly 50 annotations are allowed per request.');
      run.output = {
        ...run.output,
        title: output.title,
        summary: output.summary,
        text: typeof output.text === 'string' ? output.text : run.output.text,
      };
      state.annotations.push(...(output.annotations ?? []));
      run.output.annotations_count = state.annotations.length;
    }
    for (const k of ['external_id', 'details_url', 'started_at', 'completed_at', 'name'] as const) {
      if (typeof body[k] === 'string') (run as Record<string, unknown>)[k] = body[k];
    }
    const conclusion = body['conclusion'] as S['check-run']['conclusion'] | undefined;
    const status = body['status'] as S['check-run']['status'] | undefined;
    if (status === 'completed' && !conclusion)
      return error(422, 'Invalid request.\n\n"conclusion" is required when "status" is "completed".');
    if (conclusion) {
      run.status = 'completed';
      run.conclusion = conclusion;
      run.completed_at ??= new Date().toISOString();
    } else if (status) {
      run.status = status;
    }
    return null;
  }

  private postComment(repo: RepoState, number: number, auth: Auth, body: Record<string, unknown>): Reply {
    const text = body['body'];
    if (typeof text !== 'string' || text.length === 0)
      return error(422, 'Invalid request.\n\n"body" wasn\'t supplied.');
    if (text.length > 65536) return error(422, 'Validation Failed: body is too long (maximum is 65536 characters)');
    if (!repo.pulls.has(number)) return error(404, 'Not Found');
    return new Reply(201, this.createComment(repo, number, this.caller(auth), text));
  }

  /** Issues as GET /repos/{o}/{r}/issues lists them (state=open by default, labels= all of them). */
  issuesOf(owner: string, repo: string): ReturnType<FakeGitHub['issueObject']>[] {
    const r = this.repoState(owner, repo);
    return [...r.issues.values()].map((i) => this.issueObject(r, i));
  }

  private issueObject(repo: RepoState, i: RepoState['issues'] extends Map<number, infer V> ? V : never) {
    const api = `https://api.github.com/repos/${repo.owner}/${repo.name}`;
    return {
      id: 500000 + i.number,
      node_id: `I_kwDO${i.number}`,
      url: `${api}/issues/${i.number}`,
      repository_url: api,
      labels_url: `${api}/issues/${i.number}/labels{/name}`,
      comments_url: `${api}/issues/${i.number}/comments`,
      events_url: `${api}/issues/${i.number}/events`,
      html_url: `https://github.com/${repo.owner}/${repo.name}/issues/${i.number}`,
      number: i.number,
      state: i.state,
      title: i.title,
      body: i.body,
      user: i.user,
      labels: i.labels.map((name, k) => ({
        id: 900 + k,
        node_id: `LA_${k}`,
        url: `${api}/labels/${encodeURIComponent(name)}`,
        name,
        color: 'ededed',
        default: false,
        description: null,
      })),
      assignee: null,
      assignees: [],
      locked: false,
      comments: 0,
      created_at: i.createdAt,
      updated_at: i.updatedAt,
      closed_at: i.state === 'closed' ? i.updatedAt : null,
      author_association: 'NONE',
    };
  }

  private listIssues(repo: RepoState, query: Record<string, string>, path: string): Reply {
    const state = query['state'] ?? 'open';
    const wanted = (query['labels'] ?? '').split(',').filter(Boolean);
    const list = [...repo.issues.values()].filter(
      (i) => (state === 'all' || i.state === state) && wanted.every((l) => i.labels.includes(l)),
    );
    return this.page(
      query,
      list.map((i) => this.issueObject(repo, i)),
      path,
    );
  }

  private createIssue(repo: RepoState, auth: Auth, body: Record<string, unknown>): Reply {
    if (typeof body['title'] !== 'string' || body['title'].length === 0)
      return error(422, 'Validation Failed: title is missing');
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const number = 100 + repo.issues.size;
    const issue = {
      number,
      title: body['title'],
      body: typeof body['body'] === 'string' ? body['body'] : '',
      state: 'open' as const,
      labels: Array.isArray(body['labels']) ? body['labels'].map(String) : [],
      user: this.caller(auth),
      createdAt: now,
      updatedAt: now,
    };
    repo.issues.set(number, issue);
    return new Reply(201, this.issueObject(repo, issue));
  }

  private editIssue(repo: RepoState, number: number, body: Record<string, unknown>): Reply {
    const issue = repo.issues.get(number);
    if (!issue) return error(404, 'Not Found');
    if (typeof body['title'] === 'string') issue.title = body['title'];
    if (typeof body['body'] === 'string') issue.body = body['body'];
    if (body['state'] === 'open' || body['state'] === 'closed') issue.state = body['state'];
    issue.updatedAt = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    return new Reply(200, this.issueObject(repo, issue));
  }

  private createComment(repo: RepoState, number: number, user: S['simple-user'], text: string): S['issue-comment'] {
    const id = this.nextId++;
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const comment: S['issue-comment'] = {
      id,
      node_id: `IC_kwDO${id}`,
      url: `https://api.github.com/repos/${repo.owner}/${repo.name}/issues/comments/${id}`,
      html_url: `https://github.com/${repo.owner}/${repo.name}/pull/${number}#issuecomment-${id}`,
      body: text,
      user,
      created_at: now,
      updated_at: now,
      issue_url: `https://api.github.com/repos/${repo.owner}/${repo.name}/issues/${number}`,
      author_association: user.type === 'Bot' ? 'NONE' : 'CONTRIBUTOR',
      performed_via_github_app: user.type === 'Bot' ? this.integration() : null,
    };
    repo.comments.set(number, [...(repo.comments.get(number) ?? []), comment]);
    return comment;
  }

  private editComment(repo: RepoState, id: number, body: Record<string, unknown>): Reply {
    const text = body['body'];
    if (typeof text !== 'string' || text.length === 0)
      return error(422, 'Invalid request.\n\n"body" wasn\'t supplied.');
    if (text.length > 65536) return error(422, 'Validation Failed: body is too long (maximum is 65536 characters)');
    for (const list of repo.comments.values()) {
      const c = list.find((x) => x.id === id);
      if (!c) continue;
      c.body = text;
      c.updated_at = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      return new Reply(200, c);
    }
    return error(404, 'Not Found');
  }

  private label(repo: RepoState, name: string): S['label'] {
    let l = repo.labels.get(name);
    if (!l) {
      const id = this.nextId++;
      l = {
        id,
        node_id: `LA_kwDO${id}`,
        url: `https://api.github.com/repos/${repo.owner}/${repo.name}/labels/${encodeURIComponent(name)}`,
        name,
        description: null,
        color: 'ededed',
        default: false,
      };
      repo.labels.set(name, l);
    }
    return l;
  }

  private issueLabelObjects(repo: RepoState, number: number): S['label'][] {
    return (repo.issueLabels.get(number) ?? []).map((n) => this.label(repo, n));
  }

  /** Like GitHub, adding a label the repository lacks creates it. */
  private addLabels(repo: RepoState, number: number, body: Record<string, unknown>): Reply {
    const names = body['labels'];
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string'))
      return error(422, 'Invalid request.\n\n"labels" must be an array of strings.');
    const have = repo.issueLabels.get(number) ?? [];
    repo.issueLabels.set(number, [...have, ...names.filter((n) => !have.includes(n))]);
    return new Reply(200, this.issueLabelObjects(repo, number));
  }

  private removeLabel(repo: RepoState, number: number, name: string): Reply {
    const have = repo.issueLabels.get(number) ?? [];
    if (!have.includes(name)) return error(404, 'Label does not exist');
    repo.issueLabels.set(
      number,
      have.filter((n) => n !== name),
    );
    return new Reply(200, this.issueLabelObjects(repo, number));
  }

  /* objects ------------------------------------------------------------ */

  private caller(auth: Auth): S['simple-user'] {
    return auth.kind === 'user' ? this.user(auth.login) : this.user(`${this.appSlug}[bot]`, 'Bot');
  }

  user(
    login: string,
    type: 'User' | 'Bot' | 'Organization' = login.endsWith('[bot]') ? 'Bot' : 'User',
  ): S['simple-user'] {
    const id = 10000 + [...login].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) % 1_000_000, 7);
    const u = `https://api.github.com/users/${encodeURIComponent(login)}`;
    return {
      login,
      id,
      node_id: `U_kgDO${id}`,
      avatar_url: `https://avatars.githubusercontent.com/u/${id}?v=4`,
      gravatar_id: '',
      url: u,
      html_url: `https://github.com/${login}`,
      followers_url: `${u}/followers`,
      following_url: `${u}/following{/other_user}`,
      gists_url: `${u}/gists{/gist_id}`,
      starred_url: `${u}/starred{/owner}{/repo}`,
      subscriptions_url: `${u}/subscriptions`,
      organizations_url: `${u}/orgs`,
      repos_url: `${u}/repos`,
      events_url: `${u}/events{/privacy}`,
      received_events_url: `${u}/received_events`,
      type,
      user_view_type: 'public',
      site_admin: false,
    };
  }

  private privateUser(login: string): S['private-user'] {
    return {
      ...this.user(login),
      name: null,
      company: null,
      blog: '',
      location: null,
      email: null,
      hireable: null,
      bio: null,
      public_repos: 1,
      public_gists: 0,
      followers: 0,
      following: 0,
      created_at: '2020-01-01T00:00:00Z',
      updated_at: '2025-01-01T00:00:00Z',
      private_gists: 0,
      total_private_repos: 0,
      owned_private_repos: 0,
      disk_usage: 0,
      collaborators: 0,
      two_factor_authentication: true,
    };
  }

  private integration(): NonNullable<S['integration']> {
    return {
      id: this.appId,
      slug: this.appSlug,
      node_id: `A_kwDO${this.appId}`,
      client_id: `Iv23li${this.appId}`,
      owner: this.user('ksci-org', 'Organization'),
      name: this.appSlug,
      description: 'kernel patch-series CI',
      external_url: 'https://ksci.example.org',
      html_url: `https://github.com/apps/${this.appSlug}`,
      created_at: '2025-01-01T00:00:00Z',
      updated_at: '2025-01-01T00:00:00Z',
      permissions: { checks: 'write', issues: 'write', pull_requests: 'read', contents: 'read', metadata: 'read' },
      events: ['issue_comment', 'pull_request'],
    };
  }

  private installation(repo: RepoState): S['installation'] {
    return {
      id: repo.installationId,
      account: this.user(repo.owner),
      repository_selection: 'selected',
      access_tokens_url: `https://api.github.com/app/installations/${repo.installationId}/access_tokens`,
      repositories_url: 'https://api.github.com/installation/repositories',
      html_url: `https://github.com/settings/installations/${repo.installationId}`,
      app_id: this.appId,
      client_id: `Iv23li${this.appId}`,
      target_id: this.user(repo.owner).id,
      target_type: 'User',
      permissions: { checks: 'write', issues: 'write', pull_requests: 'read', contents: 'read', metadata: 'read' },
      events: ['issue_comment', 'pull_request'],
      created_at: '2025-01-01T00:00:00Z',
      updated_at: '2025-01-01T00:00:00Z',
      single_file_name: null,
      app_slug: this.appSlug,
      suspended_by: null,
      suspended_at: null,
    };
  }

  private repository(owner: string, name: string, id: number, fork: boolean): S['repository'] {
    const api = `https://api.github.com/repos/${owner}/${name}`;
    const html = `https://github.com/${owner}/${name}`;
    return {
      id,
      node_id: `R_kgDO${id}`,
      name,
      full_name: `${owner}/${name}`,
      license: { key: 'other', name: 'Other', url: null, spdx_id: 'NOASSERTION', node_id: 'MDc6TGljZW5zZTA=' },
      forks: 0,
      owner: this.user(owner),
      private: false,
      html_url: html,
      description: 'Linux kernel source tree',
      fork,
      url: api,
      archive_url: `${api}/{archive_format}{/ref}`,
      assignees_url: `${api}/assignees{/user}`,
      blobs_url: `${api}/git/blobs{/sha}`,
      branches_url: `${api}/branches{/branch}`,
      collaborators_url: `${api}/collaborators{/collaborator}`,
      comments_url: `${api}/comments{/number}`,
      commits_url: `${api}/commits{/sha}`,
      compare_url: `${api}/compare/{base}...{head}`,
      contents_url: `${api}/contents/{+path}`,
      contributors_url: `${api}/contributors`,
      deployments_url: `${api}/deployments`,
      downloads_url: `${api}/downloads`,
      events_url: `${api}/events`,
      forks_url: `${api}/forks`,
      git_commits_url: `${api}/git/commits{/sha}`,
      git_refs_url: `${api}/git/refs{/sha}`,
      git_tags_url: `${api}/git/tags{/sha}`,
      git_url: `git://github.com/${owner}/${name}.git`,
      issue_comment_url: `${api}/issues/comments{/number}`,
      issue_events_url: `${api}/issues/events{/number}`,
      issues_url: `${api}/issues{/number}`,
      keys_url: `${api}/keys{/key_id}`,
      labels_url: `${api}/labels{/name}`,
      languages_url: `${api}/languages`,
      merges_url: `${api}/merges`,
      milestones_url: `${api}/milestones{/number}`,
      notifications_url: `${api}/notifications{?since,all,participating}`,
      pulls_url: `${api}/pulls{/number}`,
      releases_url: `${api}/releases{/id}`,
      ssh_url: `git@github.com:${owner}/${name}.git`,
      stargazers_url: `${api}/stargazers`,
      statuses_url: `${api}/statuses/{sha}`,
      subscribers_url: `${api}/subscribers`,
      subscription_url: `${api}/subscription`,
      tags_url: `${api}/tags`,
      teams_url: `${api}/teams`,
      trees_url: `${api}/git/trees{/sha}`,
      clone_url: `${html}.git`,
      mirror_url: null,
      hooks_url: `${api}/hooks`,
      svn_url: html,
      homepage: null,
      language: 'C',
      forks_count: 0,
      stargazers_count: 0,
      watchers_count: 0,
      size: 1024,
      default_branch: 'master',
      open_issues_count: 1,
      is_template: false,
      topics: [],
      has_issues: true,
      has_projects: false,
      has_wiki: false,
      has_pages: false,
      has_downloads: true,
      has_discussions: false,
      archived: false,
      disabled: false,
      visibility: 'public',
      pushed_at: '2025-02-10T10:10:00Z',
      created_at: '2025-01-01T00:00:00Z',
      updated_at: '2025-02-10T10:10:00Z',
      allow_forking: true,
      web_commit_signoff_required: false,
      open_issues: 1,
      watchers: 0,
    };
  }

  private pullRequest(repo: RepoState, pr: PrFixture): S['pull-request'] {
    const api = `https://api.github.com/repos/${repo.owner}/${repo.name}`;
    const html = `https://github.com/${repo.owner}/${repo.name}/pull/${pr.number}`;
    const headOwner = pr.head.owner ?? repo.owner;
    const head = pr.commits.at(-1)!.sha;
    const user = this.user(pr.user.login);
    user.id = pr.user.id;
    const labels = this.issueLabelObjects(repo, pr.number);
    return {
      url: `${api}/pulls/${pr.number}`,
      id: 90000 + pr.number,
      node_id: `PR_kwDO${pr.number}`,
      html_url: html,
      diff_url: `${html}.diff`,
      patch_url: `${html}.patch`,
      issue_url: `${api}/issues/${pr.number}`,
      commits_url: `${api}/pulls/${pr.number}/commits`,
      review_comments_url: `${api}/pulls/${pr.number}/comments`,
      review_comment_url: `${api}/pulls/comments{/number}`,
      comments_url: `${api}/issues/${pr.number}/comments`,
      statuses_url: `${api}/statuses/${head}`,
      number: pr.number,
      state: 'open',
      locked: false,
      title: pr.title,
      user,
      body: pr.body,
      labels,
      milestone: null,
      active_lock_reason: null,
      created_at: pr.createdAt,
      updated_at: pr.createdAt,
      closed_at: null,
      merged_at: null,
      merge_commit_sha: null,
      assignee: null,
      assignees: [],
      requested_reviewers: [],
      requested_teams: [],
      head: {
        label: `${headOwner}:${pr.head.ref}`,
        ref: pr.head.ref,
        repo: this.repository(
          headOwner,
          repo.name,
          headOwner === repo.owner ? repo.id : repo.id + 1,
          headOwner !== repo.owner,
        ),
        sha: head,
        user: this.user(headOwner),
      },
      base: {
        label: `${repo.owner}:${pr.base.ref}`,
        ref: pr.base.ref,
        repo: this.repository(repo.owner, repo.name, repo.id, false),
        sha: pr.base.sha,
        user: this.user(repo.owner),
      },
      _links: {
        self: { href: `${api}/pulls/${pr.number}` },
        html: { href: html },
        issue: { href: `${api}/issues/${pr.number}` },
        comments: { href: `${api}/issues/${pr.number}/comments` },
        review_comments: { href: `${api}/pulls/${pr.number}/comments` },
        review_comment: { href: `${api}/pulls/comments{/number}` },
        commits: { href: `${api}/pulls/${pr.number}/commits` },
        statuses: { href: `${api}/statuses/${head}` },
      },
      author_association: 'CONTRIBUTOR',
      auto_merge: null,
      draft: pr.draft,
      merged: false,
      mergeable: true,
      rebaseable: true,
      mergeable_state: 'clean',
      merged_by: null,
      comments: (repo.comments.get(pr.number) ?? []).length,
      review_comments: 0,
      maintainer_can_modify: true,
      commits: pr.commits.length,
      additions: 0,
      deletions: 0,
      changed_files: 0,
    };
  }
}

function jwtRequired(): Reply {
  return error(
    401,
    'A JSON web token could not be decoded',
    'https://docs.github.com/rest/apps/apps#get-the-authenticated-app',
  );
}
