import { readFile } from 'node:fs/promises';
import { App, Octokit, RequestError } from 'octokit';
import { z } from 'zod';
import { BadInputError, errorMessage, InfraError, KsciError, UsageError } from '../errors.js';
import { GITHUB_API, type GitHubConfig } from '../config/integrations.js';
import { silentLogger, type Logger } from '../log.js';

export type { Octokit };

export interface RepoRef {
  owner: string;
  repo: string;
}

/**
 * What the last responses said about the quota. The policy is deliberately
 * simple so a test can pin it: a deferrable call is made when nothing is
 * known yet, when the window has reset, or while at least `floor` requests
 * remain. Only the core quota counts; search and GraphQL have their own.
 */
export class RateBudget {
  remaining: number | null = null;
  /** Epoch ms when the window resets. */
  resetAt: number | null = null;

  constructor(
    readonly floor: number,
    private readonly now: () => number = Date.now,
  ) {}

  observe(headers: Record<string, string | number | undefined>): void {
    const resource = headers['x-ratelimit-resource'];
    if (resource !== undefined && resource !== 'core') return;
    const remaining = Number(headers['x-ratelimit-remaining']);
    const reset = Number(headers['x-ratelimit-reset']);
    if (headers['x-ratelimit-remaining'] === undefined || !Number.isFinite(remaining)) return;
    this.remaining = remaining;
    this.resetAt = Number.isFinite(reset) ? reset * 1000 : null;
  }

  allowsDeferrable(): boolean {
    if (this.remaining === null) return true;
    if (this.resetAt !== null && this.now() >= this.resetAt) return true;
    return this.remaining >= this.floor;
  }
}

/** An authenticated client for one repository. */
export interface RepoClient extends RepoRef {
  octokit: Octokit;
  /** Shared by every client of the same installation (or token): the quota is theirs. */
  budget: RateBudget;
  /** The login ksci's comments carry: "<app-slug>[bot]", or the token's user. */
  login(): Promise<string>;
}

export interface GitHubClient {
  /** installationId: from a webhook payload, which saves looking it up. */
  forRepo(ref: RepoRef, installationId?: number | null): Promise<RepoClient>;
}

export interface ClientOptions {
  log?: Logger;
  /** Retries of a 5xx, and of a rate-limited call, before it fails. */
  retries?: number;
  /** A rate limit that resets later than this fails the call (InfraError, the queue retries) instead of holding a worker. */
  maxRateLimitWaitSeconds?: number;
  /** The unit of GitHub's retry-after and reset times and of the retry backoff; tests shrink it so nothing sleeps. */
  msPerSecond?: number;
}

/** octokit logs (message, info); pino takes (info, message). */
function octokitLog(log: Logger) {
  return {
    debug: (msg: string, info?: object) => log.debug(info ?? {}, msg),
    info: (msg: string, info?: object) => log.info(info ?? {}, msg),
    warn: (msg: string, info?: object) => log.warn(info ?? {}, msg),
    error: (msg: string, info?: object) => log.error(info ?? {}, msg),
  };
}

/**
 * octokit with its retry (5xx, backoff 1 s, 4 s, 9 s) and throttling plugins
 * configured: a rate-limited call (403/429 with the quota at 0, or a
 * secondary limit) waits out the reset GitHub names and is retried a bounded
 * number of times. The throttling plugin also spaces writes a second apart,
 * as GitHub asks of integrations.
 */
function octokitClass(baseUrl: string, opts: ClientOptions): typeof Octokit {
  const log = opts.log ?? silentLogger;
  const retries = opts.retries ?? 3;
  const maxWait = opts.maxRateLimitWaitSeconds ?? 600;
  const msPerSecond = opts.msPerSecond ?? 1000;
  const onLimit =
    (kind: string) =>
    (retryAfter: number, options: { method: string; url: string }, _octokit: unknown, retryCount: number) => {
      const retry = retryCount < retries && retryAfter <= maxWait;
      log.warn(
        { method: options.method, url: options.url, retryAfter, retryCount, retry },
        `GitHub ${kind} rate limit`,
      );
      return retry;
    };
  return Octokit.defaults({
    baseUrl,
    // GitHub asks integrations to name themselves; octokit appends its own.
    userAgent: 'ksci',
    log: octokitLog(log),
    retry: { retries, retryAfterBaseValue: msPerSecond },
    throttle: {
      onRateLimit: onLimit('primary'),
      onSecondaryRateLimit: onLimit('secondary'),
      retryAfterBaseValue: msPerSecond,
    },
  });
}

function watchBudget(octokit: Octokit, budget: RateBudget): void {
  octokit.hook.after('request', (response) => budget.observe(response.headers));
  octokit.hook.error('request', (err) => {
    if (err instanceof RequestError && err.response) budget.observe(err.response.headers);
    throw err;
  });
}

const InstallationSchema = z.object({ id: z.number().int() });
const AppSchema = z.object({ slug: z.string().min(1) });
const UserSchema = z.object({ login: z.string().min(1) });

/** A GitHub App: an installation token per repository, fetched and refreshed by octokit. */
export async function createAppClient(config: GitHubConfig, opts: ClientOptions = {}): Promise<GitHubClient> {
  const privateKey = config.privateKey ?? (await readKeyFile(config.privateKeyFile!));
  if (!/-----BEGIN (RSA )?PRIVATE KEY-----/.test(privateKey)) {
    throw new UsageError(
      'the GitHub App private key is not a PEM private key',
      "use the .pem file downloaded from the app's settings page",
    );
  }
  const app = new App({
    appId: config.appId,
    privateKey,
    Octokit: octokitClass(config.baseUrl, opts),
    log: octokitLog(opts.log ?? silentLogger),
  });
  // An installation id changes only when the app is reinstalled; webhook events carry the current one.
  const installationOf = new Map<string, number>();
  const installations = new Map<number, Promise<{ octokit: Octokit; budget: RateBudget }>>();
  let login: Promise<string> | null = null;
  const appLogin = async () => {
    try {
      const { data } = await app.octokit.request('GET /app');
      return `${AppSchema.parse(data).slug}[bot]`;
    } catch (err) {
      login = null;
      throw githubFailure(err, 'reading the GitHub App');
    }
  };

  const lookup = async (ref: RepoRef): Promise<number> => {
    const key = `${ref.owner}/${ref.repo}`.toLowerCase();
    const known = installationOf.get(key);
    if (known !== undefined) return known;
    try {
      const { data } = await app.octokit.request('GET /repos/{owner}/{repo}/installation', {
        owner: ref.owner,
        repo: ref.repo,
      });
      const id = InstallationSchema.parse(data).id;
      installationOf.set(key, id);
      return id;
    } catch (err) {
      if (err instanceof RequestError && err.status === 404) {
        throw new UsageError(
          `the GitHub App ${config.appId} is not installed on ${ref.owner}/${ref.repo}`,
          'install the app on the repository, or run with a token',
        );
      }
      throw githubFailure(err, `looking up the app installation of ${ref.owner}/${ref.repo}`);
    }
  };

  return {
    async forRepo(ref, installationId) {
      const id = installationId ?? (await lookup(ref));
      let inst = installations.get(id);
      if (!inst) {
        inst = app.getInstallationOctokit(id).then((octokit) => {
          const budget = new RateBudget(config.rateLimitFloor);
          watchBudget(octokit, budget);
          return { octokit, budget };
        });
        installations.set(id, inst);
        inst.catch(() => installations.delete(id));
      }
      const { octokit, budget } = await inst;
      return { ...ref, octokit, budget, login: () => (login ??= appLogin()) };
    },
  };
}

async function readKeyFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(
      `cannot read the GitHub App private key ${path}: ${errorMessage(err)}`,
      "download it (.pem) from the app's settings page and set github.privateKeyFile",
    );
  }
}

/** A personal access token, for `ksci run <PR URL>` without an app. */
export function createTokenClient(
  opts: { token: string; baseUrl?: string; rateLimitFloor?: number },
  clientOpts: ClientOptions = {},
): GitHubClient {
  const KsciOctokit = octokitClass(opts.baseUrl ?? GITHUB_API, clientOpts);
  const octokit = new KsciOctokit({ auth: opts.token });
  const budget = new RateBudget(opts.rateLimitFloor ?? 500);
  watchBudget(octokit, budget);
  let login: Promise<string> | null = null;
  const userLogin = async () => {
    try {
      const { data } = await octokit.request('GET /user');
      return UserSchema.parse(data).login;
    } catch (err) {
      login = null;
      throw githubFailure(err, 'reading the token’s user');
    }
  };
  return {
    async forRepo(ref) {
      return { ...ref, octokit, budget, login: () => (login ??= userLogin()) };
    },
  };
}

function isRateLimited(err: RequestError): boolean {
  return err.response?.headers['x-ratelimit-remaining'] === '0' || /secondary rate limit/i.test(err.message);
}

/**
 * A failed GitHub call as the error kind ksci acts on: a missing PR is the
 * submitter's (bad input); credentials, permissions, rate limits and 5xx are
 * infrastructure, which the queue retries.
 */
export function githubFailure(err: unknown, what: string): KsciError {
  if (err instanceof KsciError) return err;
  if (err instanceof z.ZodError) {
    return new InfraError(
      `${what}: GitHub's answer does not have the documented shape: ${z.prettifyError(err)}`,
      'a GitHub API change or a proxy in the way; report it',
      { cause: err },
    );
  }
  if (!(err instanceof RequestError))
    return new InfraError(`${what}: ${errorMessage(err)}`, 'check the network path to GitHub', { cause: err });
  const msg = `${what}: GitHub answered ${err.status}: ${err.message}`;
  if (err.status === 404) {
    return new BadInputError(
      msg,
      'check the owner, repository and number; a private repository needs the app installed or a token that can read it',
      { cause: err },
    );
  }
  if (err.status === 401)
    return new InfraError(msg, 'GitHub refused the credentials: check github.appId and the private key, or the token', {
      cause: err,
    });
  if ((err.status === 403 || err.status === 429) && isRateLimited(err)) {
    const reset = Number(err.response?.headers['x-ratelimit-reset']);
    return new InfraError(
      msg,
      `rate limited${Number.isFinite(reset) ? ` until ${new Date(reset * 1000).toISOString()}` : ''}; the job is retried later`,
      { cause: err },
    );
  }
  if (err.status === 403) {
    return new InfraError(
      msg,
      'the app or token lacks a permission: ksci needs Checks and Issues (write), Pull requests and Contents (read), Metadata (read)',
      { cause: err },
    );
  }
  return new InfraError(msg, 'GitHub failed; the job is retried', { cause: err });
}
