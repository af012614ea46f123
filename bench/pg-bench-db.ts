/** A private, migrated PostgreSQL database per benchmark run, dropped at the end. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ensureDatabase, migrate } from '../src/infra/db';

const BASE = process.env.BENCH_DATABASE_BASE_URL ?? process.env.TEST_DATABASE_BASE_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432';

export async function benchDatabase(label: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `al_bench_${label}_${randomBytes(4).toString('hex')}`;
  const url = `${BASE}/${name}`;
  await ensureDatabase(url);
  await migrate(url);
  return {
    url,
    async drop() {
      const c = new pg.Client({ connectionString: `${BASE}/postgres` });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
