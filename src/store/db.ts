import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { InfraError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { pidAlive } from '../pid.js';

export interface Db {
  readonly kind: 'pglite' | 'postgres';
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Several statements at once, no parameters (migrations). */
  exec(sql: string): Promise<void>;
  transaction<R>(fn: (tx: Db) => Promise<R>): Promise<R>;
  close(): Promise<void>;
}

/** PostgreSQL server when a URL is given, else PGlite in `<dataDir>/pglite`. */
export async function openDb(opts: { databaseUrl: string | null; dataDir: string; log?: Logger }): Promise<Db> {
  return opts.databaseUrl ? openPostgres(opts.databaseUrl) : openPglite(opts.dataDir);
}

async function openPostgres(url: string): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined);
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new InfraError(
      `cannot connect to PostgreSQL: ${errorMessage(err)}`,
      'check DATABASE_URL and that the server runs',
    );
  }
  const make = (q: { query: pg.Pool['query'] }): Omit<Db, 'transaction' | 'close'> => ({
    kind: 'postgres',
    async query<T>(sql: string, params?: unknown[]) {
      return (await q.query(sql, params as unknown[])).rows as T[];
    },
    async exec(sql: string) {
      await q.query(sql);
    },
  });
  return {
    ...make(pool),
    async transaction<R>(fn: (tx: Db) => Promise<R>): Promise<R> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const tx: Db = {
          ...make(client as unknown as { query: pg.Pool['query'] }),
          transaction: (f) => f(tx),
          close: async () => undefined,
        };
        const r = await fn(tx);
        await client.query('COMMIT');
        return r;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

/**
 * PGlite is one process's database: a second opener would corrupt it. An
 * O_EXCL lock file holding the pid keeps others out; a dead holder's lock is
 * taken over.
 */
function takeLock(lock: string, dir: string): void {
  for (let i = 0; i < 2; i++) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(lock, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) {
        throw new InfraError(
          `database ${dir} is in use by pid ${pid} (a running "ksci serve"?)`,
          'stop it, or set DATABASE_URL to share a PostgreSQL server',
        );
      }
      rmSync(lock, { force: true });
    }
  }
  throw new InfraError(`could not take the database lock ${lock}`);
}

async function openPglite(dataDir: string): Promise<Db> {
  mkdirSync(dataDir, { recursive: true });
  const dir = join(dataDir, 'pglite');
  const lock = join(dataDir, 'pglite.lock');
  takeLock(lock, dir);
  let pgl: PGlite;
  try {
    pgl = await PGlite.create(dir);
  } catch (err) {
    rmSync(lock, { force: true });
    throw new InfraError(`cannot open PGlite database ${dir}: ${errorMessage(err)}`);
  }
  type Q = { query: PGlite['query']; exec: PGlite['exec'] };
  const make = (q: Q) => ({
    kind: 'pglite' as const,
    async query<T>(sql: string, params?: unknown[]) {
      return (await q.query<T>(sql, params)).rows;
    },
    async exec(sql: string) {
      await q.exec(sql);
    },
  });
  let closed = false;
  return {
    ...make(pgl),
    transaction<R>(fn: (tx: Db) => Promise<R>): Promise<R> {
      return pgl.transaction(async (t) => {
        const tx: Db = { ...make(t as unknown as Q), transaction: (f) => f(tx), close: async () => undefined };
        return fn(tx);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      await pgl.close();
      rmSync(lock, { force: true });
    },
  };
}
