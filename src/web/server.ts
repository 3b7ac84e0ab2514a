import { createReadStream, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import cookie from '@fastify/cookie';
import etag from '@fastify/etag';
import formbody from '@fastify/formbody';
import fastifyStatic from '@fastify/static';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ArtifactStore } from '../artifacts/store.js';
import { UsageError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { packageRoot } from '../paths.js';
import { StageOutcomeSchema } from '../pipeline/payload.js';
import { TestStageDataSchema } from '../stages/test/result.js';
import { ResultsStore } from '../store/results.js';
import { type AdminTokens, SESSION_COOKIE, Sessions } from './auth.js';
import { escapeHtml, html } from './html.js';
import { layout } from './layout.js';
import { openApiDocument } from './openapi.js';
import type { PageDef, ReadDeps, View } from './page.js';
import { ALERT_STATUSES } from './pages/ops.js';
import { PAGES } from './pages/index.js';
import { QuarantineKey, QuarantineRequest } from './pages/quarantine.js';
import { fileSize } from './pages/run.js';
import { json } from './pages/sql.js';

/** What an admin can ask the coordinator to do; the dashboard itself only reads. */
export interface AdminActions {
  cancel(runId: string, by: string): Promise<void>;
  /** Queues the run's series again (forced, the same options); returns the new run's id. */
  retest(runId: string, by: string): Promise<string>;
  /** Sends the run's reply on the list again; a UsageError says why policy would not. */
  resendReply(runId: string, by: string): Promise<void>;
  /** Queues the bisection of a nightly alert's range on the perf hosts. */
  bisectAlert(alertId: number, by: string): Promise<void>;
}

export interface WebDeps extends ReadDeps {
  log: Logger;
  tokens: AdminTokens;
  actions: AdminActions | null;
  /** Shown under /admin/queues (bull-board) to admins; none: no bull-board. */
  queues?: Queue[];
}

const NAV = PAGES.filter((p) => p.nav).map((p) => ({ label: p.nav!, path: p.path }));
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/** The dashboard and its JSON API as a Fastify app, not yet listening. */
export async function buildWebServer(deps: WebDeps): Promise<FastifyInstance> {
  const { config, log } = deps;
  const sessions = Sessions.forDataDir(config.dataDir, deps.tokens);
  const app = Fastify({ logger: false, trustProxy: false, bodyLimit: 1 << 20 });
  await app.register(cookie);
  await app.register(formbody);
  await app.register(etag);
  await app.register(fastifyStatic, {
    root: join(packageRoot, 'src', 'web', 'assets'),
    prefix: '/assets/',
    maxAge: '1h',
  });
  await app.register(fastifyStatic, {
    root: join(packageRoot, 'node_modules', 'uplot', 'dist'),
    prefix: '/assets/uplot/',
    decorateReply: false,
    maxAge: '1d',
  });

  const userOf = (req: FastifyRequest) => sessions.user(req.cookies[SESSION_COOKIE]);
  const bearer = (req: FastifyRequest) => {
    const h = req.headers.authorization;
    return h?.startsWith('Bearer ') ? deps.tokens.check(h.slice(7).trim()) : null;
  };
  const viewOf = (req: FastifyRequest): View => {
    const c = req.cookies[SESSION_COOKIE];
    const user = userOf(req);
    return { user, csrf: user && c ? sessions.csrf(c) : null, url: req.url };
  };

  app.addHook('onRequest', async (req, reply) => {
    (req as { started?: number }).started = performance.now();
    if (!req.url.startsWith('/admin/queues')) reply.header('content-security-policy', CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'same-origin');
  });
  app.addHook('onSend', async (req, reply, payload) => {
    const started = (req as { started?: number }).started;
    if (started !== undefined) reply.header('server-timing', `app;dur=${(performance.now() - started).toFixed(1)}`);
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    log.debug({ method: req.method, url: req.url, status: reply.statusCode, ms: reply.elapsedTime }, 'web request');
  });
  app.setErrorHandler(async (err, req, reply) => {
    // A refused request (no such run, nothing to retest) says why; anything else is ours.
    const status = err instanceof UsageError ? 400 : ((err as { statusCode?: number }).statusCode ?? 500);
    const message = errorMessage(err);
    if (status >= 500) log.error({ url: req.url, err: message }, 'web page failed');
    return sendError(req, reply, status, status >= 500 ? 'internal error (see the coordinator log)' : message);
  });
  app.setNotFoundHandler(async (req, reply) => sendError(req, reply, 404, 'no such page'));

  /** Reading needs a login unless web.publicRead; a browser is sent to the login page. */
  const mayRead = (req: FastifyRequest, reply: FastifyReply): boolean => {
    if (config.web.publicRead || userOf(req) || bearer(req)) return true;
    if (req.url.startsWith('/api/')) void sendError(req, reply, 401, 'log in or send Authorization: Bearer <token>');
    else void reply.redirect(`/login?next=${encodeURIComponent(req.url)}`);
    return false;
  };

  for (const page of PAGES) registerPage(app, page, deps, viewOf, mayRead);
  app.get('/', async (_req, reply) => reply.redirect('/series'));
  app.get('/api/openapi.json', async () => openApiDocument(PAGES));

  // Build outputs by artifact key, and the console logs a run's stage result names.
  const artifacts = new ArtifactStore(join(config.dataDir, 'artifacts'));
  app.get('/artifacts/:key/*', async (req, reply) => {
    if (!mayRead(req, reply)) return reply;
    const { key, '*': name } = req.params as { key: string; '*': string };
    let set: ReturnType<ArtifactStore['get']> = null;
    try {
      set = artifacts.get(key);
    } catch {
      set = null;
    }
    const entry = set?.manifest.files[name];
    if (!set || !entry) return sendError(req, reply, 404, 'no such artifact here');
    return sendFile(reply, set.path(name), name);
  });
  app.get('/runs/:id/console/:suite/:kernel/:boot', async (req, reply) => {
    if (!mayRead(req, reply)) return reply;
    const p = z
      .object({
        id: z.string().uuid(),
        suite: z.string(),
        kernel: z.enum(['base', 'series']),
        boot: z.coerce.number().int().min(0),
      })
      .safeParse(req.params);
    if (!p.success) return sendError(req, reply, 400, p.error.issues.map((i) => i.message).join('; '));
    const [row] = await deps.db.query<{ result: unknown }>(
      `SELECT result FROM stages WHERE run_id = $1 AND name = 'test'`,
      [p.data.id],
    );
    const outcome = StageOutcomeSchema.safeParse(json(row?.result ?? null));
    const data = outcome.success ? TestStageDataSchema.safeParse(outcome.data.data) : null;
    const boot = data?.success
      ? data.data.suites.find((s) => s.suite === p.data.suite)?.[p.data.kernel].boots[p.data.boot]
      : undefined;
    if (!boot || fileSize(boot.consoleFile, config.dataDir) === null)
      return sendError(req, reply, 404, 'that console log is not on this host');
    return sendFile(reply, boot.consoleFile, `console-${p.data.kernel}-${p.data.boot}.log`);
  });

  // Logging in and out.
  app.get('/login', async (req, reply) => {
    const next = safeNext((req.query as { next?: string }).next);
    return reply.type('text/html').send(
      layout({
        title: 'Log in',
        nav: NAV,
        view: viewOf(req),
        body: html`<h1>Log in</h1>
<form method="post" action="/login" class="login-form">
  <input type="hidden" name="next" value="${next}" />
  <label>admin token <input type="password" name="token" autocomplete="current-password" size="50" /></label>
  <button type="submit">log in</button>
</form>
<p class="muted">A token comes from <code>ksci web token add NAME</code> on the coordinator.</p>`,
      }).value,
    );
  });
  app.post('/login', async (req, reply) => {
    const body = z.object({ token: z.string().max(200), next: z.string().optional() }).safeParse(req.body);
    const user = body.success ? deps.tokens.check(body.data.token) : null;
    if (!user) {
      log.warn({ ip: req.ip }, 'web login refused: unknown token');
      return sendError(req, reply, 403, 'that token is not known (ksci web token list)');
    }
    log.info({ user, ip: req.ip }, 'web login');
    reply.setCookie(SESSION_COOKIE, sessions.issue(user), {
      httpOnly: true,
      sameSite: 'strict',
      path: '/',
      secure: config.web.baseUrl?.startsWith('https://') ?? false,
      maxAge: Sessions.maxAgeSeconds,
    });
    return reply.redirect(safeNext(body.success ? body.data.next : undefined), 303);
  });

  /** An admin's post: a login cookie with its CSRF token, or a bearer token (no cookie, so no CSRF). */
  const admin = (req: FastifyRequest, reply: FastifyReply): string | null => {
    const viaBearer = bearer(req);
    if (viaBearer) return viaBearer;
    const c = req.cookies[SESSION_COOKIE];
    const user = sessions.user(c);
    if (!user) {
      void sendError(req, reply, 401, 'log in first');
      return null;
    }
    if (!sessions.checkCsrf(c, (req.body as { csrf?: unknown } | undefined)?.csrf)) {
      void sendError(req, reply, 403, 'the form is stale or not from this site (CSRF check); reload the page');
      return null;
    }
    return user;
  };
  const done = (req: FastifyRequest, reply: FastifyReply, to: string, body: unknown) =>
    req.headers.authorization ? reply.send(body) : reply.redirect(to, 303);

  app.post('/logout', async (req, reply) => {
    if (!admin(req, reply)) return reply;
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/series', 303);
  });
  for (const prefix of ['', '/api']) {
    app.post(`${prefix}/runs/:id/cancel`, async (req, reply) => {
      const user = admin(req, reply);
      if (!user) return reply;
      if (!deps.actions) return sendError(req, reply, 503, 'no coordinator in this process');
      const { id } = req.params as { id: string };
      await deps.actions.cancel(id, user);
      log.info({ runId: id, user }, 'run cancelled from the dashboard');
      return done(req, reply, `/runs/${id}`, { cancelled: id });
    });
    app.post(`${prefix}/runs/:id/retest`, async (req, reply) => {
      const user = admin(req, reply);
      if (!user) return reply;
      if (!deps.actions) return sendError(req, reply, 503, 'no coordinator in this process');
      const { id } = req.params as { id: string };
      const runId = await deps.actions.retest(id, user);
      log.info({ runId: id, newRunId: runId, user }, 'retest from the dashboard');
      return done(req, reply, `/runs/${runId}`, { runId });
    });
    app.post(`${prefix}/runs/:id/resend`, async (req, reply) => {
      const user = admin(req, reply);
      if (!user) return reply;
      if (!deps.actions) return sendError(req, reply, 503, 'no coordinator in this process');
      const { id } = req.params as { id: string };
      await deps.actions.resendReply(id, user);
      log.info({ runId: id, user }, 'reply re-send queued from the dashboard');
      return done(req, reply, `/runs/${id}#reply`, { resend: id });
    });
    app.post(`${prefix}/alerts/:id/bisect`, async (req, reply) => {
      const user = admin(req, reply);
      if (!user) return reply;
      if (!deps.actions) return sendError(req, reply, 503, 'no coordinator in this process');
      const id = Number((req.params as { id: string }).id);
      if (!Number.isSafeInteger(id) || id <= 0) return sendError(req, reply, 400, 'an alert id is a number');
      await deps.actions.bisectAlert(id, user);
      log.info({ alertId: id, user }, 'bisection queued from the dashboard');
      return done(req, reply, `/alerts#alert-${id}`, { bisect: id });
    });
    app.post(`${prefix}/quarantine`, async (req, reply) => {
      const user = admin(req, reply);
      if (!user) return reply;
      const p = QuarantineRequest.safeParse(req.body);
      if (!p.success) return sendError(req, reply, 400, p.error.issues.map((i) => i.message).join('; '));
      const q = await new ResultsStore(deps.db).quarantine({ ...p.data, addedBy: user });
      log.info({ ...p.data, user }, 'test quarantined from the dashboard');
      return done(req, reply, '/quarantine', q);
    });
    app.post(`${prefix}/quarantine/release`, async (req, reply) => {
      const user = admin(req, reply);
      if (!user) return reply;
      const p = QuarantineKey.safeParse(req.body);
      if (!p.success) return sendError(req, reply, 400, p.error.issues.map((i) => i.message).join('; '));
      if (!(await new ResultsStore(deps.db).unquarantine(p.data)))
        return sendError(req, reply, 404, `${p.data.suite}/${p.data.test} is not quarantined on ${p.data.tree}`);
      log.info({ ...p.data, user }, 'test released from quarantine from the dashboard');
      return done(req, reply, '/quarantine', { released: p.data });
    });
    app.post(`${prefix}/alerts/:id`, async (req, reply) => {
      const user = admin(req, reply);
      if (!user) return reply;
      const p = z.object({ status: z.enum(ALERT_STATUSES), note: z.string().max(2000).optional() }).safeParse(req.body);
      if (!p.success) return sendError(req, reply, 400, p.error.issues.map((i) => i.message).join('; '));
      const id = Number((req.params as { id: string }).id);
      const rows = await deps.db.query(
        'UPDATE perf_alerts SET status = $2, note = $3, updated_by = $4, updated_at = now() WHERE id = $1 RETURNING id',
        [id, p.data.status, p.data.note?.trim() || null, user],
      );
      if (rows.length === 0) return sendError(req, reply, 404, `no alert ${id}`);
      return done(req, reply, `/alerts#alert-${id}`, { id, status: p.data.status });
    });
  }

  if (deps.queues?.length) {
    const board = new FastifyAdapter();
    createBullBoard({ queues: deps.queues.map((q) => new BullMQAdapter(q)), serverAdapter: board });
    board.setBasePath('/admin/queues');
    await app.register(
      async (scope) => {
        scope.addHook('onRequest', async (req, reply) => {
          if (!userOf(req)) return reply.redirect(`/login?next=${encodeURIComponent('/admin/queues')}`);
        });
        await scope.register(board.registerPlugin());
      },
      { prefix: '/admin/queues' },
    );
  }
  return app;
}

function registerPage(
  app: FastifyInstance,
  page: PageDef,
  deps: WebDeps,
  viewOf: (req: FastifyRequest) => View,
  mayRead: (req: FastifyRequest, reply: FastifyReply) => boolean,
): void {
  const load = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!mayRead(req, reply)) return undefined;
    const input = page.input.safeParse({ ...(req.query as object), ...(req.params as object) });
    if (!input.success) {
      await sendError(req, reply, 400, input.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      return undefined;
    }
    const data = await page.load(deps, input.data);
    if (data === null) {
      await sendError(req, reply, 404, `no such ${page.id}`);
      return undefined;
    }
    // Revalidate every time: @fastify/etag answers 304 when nothing changed.
    reply.header('cache-control', 'no-cache');
    return data;
  };
  app.get(`/api${page.path}`, async (req, reply) => {
    const data = await load(req, reply);
    return data === undefined ? reply : reply.send(data);
  });
  app.get(page.path, async (req, reply) => {
    const data = await load(req, reply);
    if (data === undefined) return reply;
    const view = viewOf(req);
    const body = page.render(data, view);
    return reply
      .type('text/html; charset=utf-8')
      .send(
        layout({ title: page.title(data), nav: NAV, view, body, ...(page.scripts ? { scripts: page.scripts } : {}) })
          .value,
      );
  });
}

/** Where to go after logging in: only a path of this site. */
function safeNext(next: string | undefined): string {
  return next && /^\/(?!\/)[^\s\\]*$/.test(next) ? next : '/series';
}

function sendError(req: FastifyRequest, reply: FastifyReply, status: number, message: string) {
  if (req.url.startsWith('/api/') || req.headers.authorization)
    return reply.code(status).send({ error: message, status });
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .send(`<!doctype html><title>${status}</title><link rel="stylesheet" href="/assets/style.css" />
<main><h1>${status}</h1><p>${escapeHtml(message)}</p><p><a href="/series">series</a></p></main>`);
}

function sendFile(reply: FastifyReply, path: string, name: string) {
  const real = realpathSync(path);
  const text = /\.(log|txt|json|config)$|^\.config$/.test(name);
  return reply
    .type(text ? 'text/plain; charset=utf-8' : 'application/octet-stream')
    .header('content-disposition', `${text ? 'inline' : 'attachment'}; filename="${name.replace(/[^\w.-]/g, '_')}"`)
    .send(createReadStream(real));
}
