/**
 * PostgreSQL plumbing shared by every role: database creation, migrations, pools.
 * Rules: an idle client's `error` never crashes the process; migrations run under a blocking
 * advisory lock (plus node-pg-migrate's own), so processes starting together are safe.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { runner } from 'node-pg-migrate';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

export function createPool(connectionString: string, max = 20, onError?: (err: Error) => void): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, connectionTimeoutMillis: 3000, idleTimeoutMillis: 30_000 });
  // An idle client losing its server emits 'error' on the pool; unhandled, it would kill the process.
  pool.on('error', (err) => onError?.(err));
  return pool;
}

/** Creates the database named in `url` when it does not exist (connecting to `postgres`). */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!name) throw new Error('DATABASE_URL names no database');
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`).catch((err: { code?: string }) => {
        if (err.code !== '42P04' && err.code !== '23505') throw err; // created concurrently: fine
      });
    }
  } finally {
    await client.end();
  }
}

/** Our own session-level advisory lock key for migrations (node-pg-migrate's lock only *tries*). */
const MIGRATION_LOCK_KEY = 0x61_6c_6d_67; // 'almg'

/**
 * Applies pending migrations. Concurrent callers (processes starting together) queue on a
 * blocking advisory lock, so the first migrates and the others then find nothing to do —
 * node-pg-migrate's own lock would make them fail with "Another migration is already running".
 */
export async function migrate(url: string, log: (msg: string) => void = () => undefined, direction: 'up' | 'down' = 'up', lockTimeoutMs = 120_000): Promise<string[]> {
  const lock = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  lock.on('error', () => undefined);
  await lock.connect();
  try {
    await lock.query(`SET lock_timeout = ${Math.max(1, Math.floor(lockTimeoutMs))}`);
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const applied = await runner({
      databaseUrl: url,
      dir: MIGRATIONS_DIR,
      migrationsTable: 'pgmigrations',
      direction,
      count: direction === 'down' ? 1 : Infinity,
      singleTransaction: true,
      log,
      logger: { debug: () => undefined, info: log, warn: log, error: log },
    });
    return applied.map((m) => m.name);
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await lock.end().catch(() => undefined);
  }
}

/** Runs `fn` in a transaction on one client from the pool. */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * A dedicated connection holding the session advisory lock `(ns, hashtext(name))`, or undefined
 * when another process holds it (or the server is unreachable). The lock lives as long as the
 * connection: `onEnd` runs when that connection ends, i.e. when the lock is lost.
 */
export async function holdAdvisoryLock(pool: pg.Pool, ns: number, name: string, onEnd: (client: pg.Client) => void): Promise<pg.Client | undefined> {
  const cfg = (pool as unknown as { options: pg.ClientConfig }).options;
  const client = new pg.Client(cfg);
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [ns, name]);
    if (!rows[0]?.ok) {
      await client.end();
      return undefined;
    }
    client.on('end', () => onEnd(client));
    return client;
  } catch {
    await client.end().catch(() => undefined);
    return undefined;
  }
}
