/**
 * Per-test-file isolation: each file gets its own freshly migrated database and Redis key
 * prefix, and drops the database when done, so files run in parallel.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ensureDatabase, migrate } from '../../src/infra/db';
import { browserRoleName } from '../../src/queries/admin-sql/role';

export const PG_BASE = process.env.TEST_DATABASE_BASE_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432';
export const REDIS_BASE = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(label = 't'): Promise<TestDatabase> {
  const name = `al_${label.replace(/[^a-z0-9]/gi, '').slice(0, 20).toLowerCase()}_${randomBytes(5).toString('hex')}`;
  const url = `${PG_BASE}/${name}`;
  await ensureDatabase(url);
  await migrate(url);
  return {
    url,
    name,
    async drop() {
      const client = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
        // The read-model browser's role is cluster-wide (migration 1732200130000): drop it too.
        await client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(browserRoleName(name))}`).catch(() => undefined);
      } finally {
        await client.end();
      }
    },
  };
}

export function testRedisPrefix(label = 't'): string {
  return `test:${label}:${randomBytes(4).toString('hex')}:`;
}
