import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConnectionOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { InfraError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

/** Connection settings for ioredis and BullMQ, plus the server's lifetime if ksci started it. */
export interface RedisHandle {
  /** Options for `new Redis(...)`. */
  readonly options: RedisOptions;
  /** The same, typed for BullMQ's `connection` (its option type is its own declaration of ioredis'). */
  readonly connection: ConnectionOptions;
  /** Human-readable location: a URL or the unix socket path. */
  readonly where: string;
  /** True when this process started the server and will stop it. */
  readonly owned: boolean;
  client(extra?: RedisOptions): Redis;
  stop(): Promise<void>;
}

// Workers block on Redis, so BullMQ requires maxRetriesPerRequest: null.
const BASE_OPTIONS: RedisOptions = { maxRetriesPerRequest: null, lazyConnect: false };

/** Unix socket paths are limited to 108 bytes including the terminator (sun_path). */
const MAX_SOCKET_PATH = 107;

/**
 * Connect to REDIS_URL when given; otherwise to the private redis-server of
 * this data directory, starting it when nobody has. The private server keeps
 * an append-only file, so queued runs survive a restart of ksci.
 */
export async function openRedis(opts: { redisUrl: string | null; dataDir: string; log: Logger }): Promise<RedisHandle> {
  if (opts.redisUrl) return external(opts.redisUrl, opts.log);
  return embedded(opts.dataDir, opts.log);
}

async function external(url: string, log: Logger): Promise<RedisHandle> {
  const parsed = new URL(url);
  const options: RedisOptions = {
    ...BASE_OPTIONS,
    host: parsed.hostname,
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.pathname.length > 1 ? { db: Number(parsed.pathname.slice(1)) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  const where = `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  await ping(options, where, 'check that the server runs and REDIS_URL is right');
  log.debug({ redis: where }, 'using external redis');
  return handle(options, where, null);
}

async function embedded(dataDir: string, log: Logger): Promise<RedisHandle> {
  const dir = join(dataDir, 'redis');
  const socket = join(dir, 'redis.sock');
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    throw new InfraError(
      `the embedded redis socket path ${socket} is longer than ${MAX_SOCKET_PATH} bytes`,
      'use a shorter data directory (KSCI_DATA_DIR) or set REDIS_URL',
    );
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const options: RedisOptions = { ...BASE_OPTIONS, path: socket };

  // Another ksci process (a `ksci serve`, say) may already run this data dir's server: share it.
  if (existsSync(socket) && (await canPing(options))) {
    log.debug({ redis: socket }, 'using running embedded redis');
    return handle(options, socket, null);
  }
  rmSync(socket, { force: true });

  const args = [
    '--port',
    '0',
    '--unixsocket',
    socket,
    '--unixsocketperm',
    '700',
    '--dir',
    dir,
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--save',
    '',
    '--logfile',
    join(dir, 'redis.log'),
    '--daemonize',
    'no',
    // BullMQ needs keys to stay until it removes them; never evict.
    '--maxmemory-policy',
    'noeviction',
  ];
  let child: ChildProcess;
  try {
    child = spawn('redis-server', args, { stdio: 'ignore', detached: false });
  } catch (err) {
    throw new InfraError(
      `could not start redis-server: ${errorMessage(err)}`,
      'install it (apt-get install redis-server) or set REDIS_URL',
    );
  }
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));

  const deadline = Date.now() + 15_000;
  for (;;) {
    const early = await Promise.race([spawnError, exited, sleep(50).then(() => undefined)]);
    if (early instanceof Error) {
      const hint =
        (early as NodeJS.ErrnoException).code === 'ENOENT'
          ? 'install it (apt-get install redis-server) or set REDIS_URL'
          : undefined;
      throw new InfraError(`could not start redis-server: ${early.message}`, hint);
    }
    if (early !== undefined) {
      throw new InfraError(`redis-server exited with status ${early} during start-up`, `see ${join(dir, 'redis.log')}`);
    }
    if (existsSync(socket) && (await canPing(options))) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new InfraError('redis-server did not answer within 15 s', `see ${join(dir, 'redis.log')}`);
    }
  }
  log.info({ redis: socket, pid: child.pid }, 'started embedded redis');
  return handle(options, socket, child);
}

function handle(options: RedisOptions, where: string, child: ChildProcess | null): RedisHandle {
  return {
    options,
    connection: options as ConnectionOptions,
    where,
    owned: child !== null,
    client: (extra) => new Redis({ ...options, ...extra }),
    async stop() {
      if (!child || child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      // SIGTERM makes redis flush the append-only file before it exits.
      child.kill('SIGTERM');
      const timedOut = await Promise.race([exited.then(() => false), sleep(10_000).then(() => true)]);
      if (timedOut) child.kill('SIGKILL');
    },
  };
}

async function canPing(options: RedisOptions): Promise<boolean> {
  const c = new Redis({ ...options, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return (await c.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

async function ping(options: RedisOptions, where: string, hint: string): Promise<void> {
  if (!(await canPing(options))) throw new InfraError(`cannot reach redis at ${where}`, hint);
}

/** Every key matching a pattern, by SCAN (KEYS would block Redis on a big keyspace). */
export async function scanKeys(client: Pick<Redis, 'scan'>, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 200);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}
