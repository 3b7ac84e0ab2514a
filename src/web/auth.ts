import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { UsageError } from '../errors.js';

/**
 * Admin logins. A token is 32 random bytes shown once; the coordinator keeps
 * only its SHA-256 (a fast hash is enough for a random secret of that size)
 * in <dataDir>/secrets/web-tokens.json, so `ksci web token` works while
 * `ksci serve` runs and a revoked token stops working at the next request.
 * A login is a cookie signed with a key of the data dir; the CSRF token of
 * a form is derived from that cookie, so a page of another site can post
 * neither without reading ours.
 */

const TokenFile = z.object({
  tokens: z.array(z.object({ name: z.string(), sha256: z.string(), createdAt: z.string() })),
});
type TokenFile = z.infer<typeof TokenFile>;

export const SESSION_COOKIE = 'ksci_session';
const SESSION_HOURS = 12;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class AdminTokens {
  private cache: { mtimeMs: number; file: TokenFile } | null = null;

  constructor(private readonly file: string) {}

  static forDataDir(dataDir: string): AdminTokens {
    return new AdminTokens(join(dataDir, 'secrets', 'web-tokens.json'));
  }

  list(): TokenFile['tokens'] {
    if (!existsSync(this.file)) return [];
    const mtimeMs = statSync(this.file).mtimeMs;
    if (this.cache?.mtimeMs !== mtimeMs)
      this.cache = { mtimeMs, file: TokenFile.parse(JSON.parse(readFileSync(this.file, 'utf8'))) };
    return this.cache.file.tokens;
  }

  /** A new token for `name` (a person or a bot); returns the token, which is not stored. */
  add(name: string): string {
    if (!/^[\w.@-]{1,64}$/.test(name)) throw new UsageError(`token name "${name}" is not 1-64 of [A-Za-z0-9_.@-]`);
    const tokens = this.list();
    if (tokens.some((t) => t.name === name))
      throw new UsageError(`a token named ${name} exists`, `revoke it first: ksci web token revoke ${name}`);
    const token = `ksci_${randomBytes(32).toString('base64url')}`;
    this.write({ tokens: [...tokens, { name, sha256: sha256(token), createdAt: new Date().toISOString() }] });
    return token;
  }

  revoke(name: string): boolean {
    const tokens = this.list();
    const kept = tokens.filter((t) => t.name !== name);
    if (kept.length === tokens.length) return false;
    this.write({ tokens: kept });
    return true;
  }

  /** The name a token belongs to, or null. */
  check(token: string): string | null {
    const h = sha256(token);
    return this.list().find((t) => safeEqual(t.sha256, h))?.name ?? null;
  }

  has(name: string): boolean {
    return this.list().some((t) => t.name === name);
  }

  private write(f: TokenFile): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(f, null, 2), { mode: 0o600 });
    renameSync(tmp, this.file);
    this.cache = null;
  }
}

/** Signs and reads login cookies; the key is made once per data dir and never leaves it. */
export class Sessions {
  constructor(
    private readonly key: Buffer,
    private readonly tokens: AdminTokens,
  ) {}

  static forDataDir(dataDir: string, tokens: AdminTokens): Sessions {
    const file = join(dataDir, 'secrets', 'web-session.key');
    if (!existsSync(file)) {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
    }
    chmodSync(file, 0o600);
    return new Sessions(Buffer.from(readFileSync(file, 'utf8').trim(), 'hex'), tokens);
  }

  private mac(s: string): string {
    return createHmac('sha256', this.key).update(s).digest('base64url');
  }

  /** A cookie value for a logged-in user. */
  issue(user: string, now = Date.now()): string {
    const body = `${Buffer.from(user).toString('base64url')}.${now + SESSION_HOURS * 3600_000}`;
    return `${body}.${this.mac(body)}`;
  }

  /** The user of a cookie that is ours, unexpired, and whose token was not revoked since. */
  user(cookie: string | undefined, now = Date.now()): string | null {
    if (!cookie) return null;
    const i = cookie.lastIndexOf('.');
    if (i < 0) return null;
    const body = cookie.slice(0, i);
    if (!safeEqual(cookie.slice(i + 1), this.mac(body))) return null;
    const [user64, expires] = body.split('.');
    if (!user64 || !(Number(expires) > now)) return null;
    const user = Buffer.from(user64, 'base64url').toString();
    return this.tokens.has(user) ? user : null;
  }

  /** The CSRF token of a login: forms carry it, and a post without it is refused. */
  csrf(cookie: string): string {
    return this.mac(`csrf:${cookie}`);
  }

  checkCsrf(cookie: string | undefined, given: unknown): boolean {
    return typeof given === 'string' && cookie !== undefined && safeEqual(given, this.csrf(cookie));
  }

  static readonly maxAgeSeconds = SESSION_HOURS * 3600;
}
