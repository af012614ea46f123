/**
 * Migrations: idempotent, and safe when several processes start together (node-pg-migrate's
 * advisory lock; database creation tolerates a concurrent CREATE DATABASE).
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureDatabase, migrate, MIGRATIONS_DIR } from '../../src/infra/db';
import { PG_BASE } from '../helpers/db';
import { ROOT, TSX, run } from './helpers';

const created: string[] = [];
const freshName = (label: string) => {
  const name = `al_skmig_${label}_${randomBytes(4).toString('hex')}`;
  created.push(name);
  return name;
};

async function query<T extends pg.QueryResultRow>(db: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: `${PG_BASE}/${db}` });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

afterAll(async () => {
  for (const name of created) await query('postgres', `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`).catch(() => undefined);
});

const migrationFiles = () => fs.readdirSync(MIGRATIONS_DIR).filter((f) => /\.(sql|ts|js)$/.test(f)).map((f) => f.replace(/\.(sql|ts|js)$/, '')).sort();

describe('migrations', () => {
  it('create the database when missing, apply every migration once, and are idempotent', async () => {
    const name = freshName('idem');
    const url = `${PG_BASE}/${name}`;
    await ensureDatabase(url);
    await ensureDatabase(url); // already there: no error
    const first = await migrate(url);
    expect(first.sort()).toEqual(migrationFiles());
    expect(await migrate(url)).toEqual([]);
    const rows = await query<{ name: string }>(name, 'SELECT name FROM pgmigrations ORDER BY name');
    expect(rows.map((r) => r.name)).toEqual(migrationFiles());
    const tables = await query<{ t: string }>(name, "SELECT to_regclass('public.events')::text AS t");
    expect(tables[0]!.t).toBe('events');
  });

  it('concurrent migrations in one process apply each migration exactly once', async () => {
    const name = freshName('conc');
    const url = `${PG_BASE}/${name}`;
    await Promise.all([ensureDatabase(url), ensureDatabase(url), ensureDatabase(url)]);
    const results = await Promise.all([migrate(url), migrate(url), migrate(url)]);
    expect(results.flat().sort()).toEqual(migrationFiles());
    const rows = await query<{ name: string; n: string }>(name, 'SELECT name, count(*)::text AS n FROM pgmigrations GROUP BY name');
    expect(rows.every((r) => r.n === '1')).toBe(true);
    expect(rows.length).toBe(migrationFiles().length);
  });

  it('two processes running `npm run migrate` together on a missing database both succeed', async () => {
    const name = freshName('proc');
    const env = { DATABASE_URL: `${PG_BASE}/${name}`, LOG_LEVEL: 'warn' };
    const a = run(TSX, [path.join(ROOT, 'src/cli.ts'), 'migrate'], env);
    const b = run(TSX, [path.join(ROOT, 'src/cli.ts'), 'migrate'], env);
    const [ea, eb] = await Promise.all([a.exited, b.exited]);
    expect(ea.code, a.output()).toBe(0);
    expect(eb.code, b.output()).toBe(0);
    // one applied everything, the other found nothing to do
    expect([a.output(), b.output()].some((o) => /nothing to migrate/.test(o))).toBe(true);
    const rows = await query<{ name: string }>(name, 'SELECT name FROM pgmigrations ORDER BY name');
    expect(rows.map((r) => r.name)).toEqual(migrationFiles());
  }, 90_000);
});
