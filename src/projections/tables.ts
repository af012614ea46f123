/**
 * Versioned read-model tables: each projection writes `<base>_v<generation>` and readers use the
 * view `<base>`. A rebuild fills generation N+1 beside N, then switches the views atomically.
 */
import pg from 'pg';
import type { PgProjection, PgProjectionContext } from './types';
import { inTransaction } from '../infra/db';

export const physicalTable = (base: string, generation: number) => `${base}_v${generation}`;

/** A projection's context whose writes run at once on `client` (rebuilds, one projection's batch, tests). */
export function pgContext(client: pg.ClientBase, generation: number): PgProjectionContext {
  return {
    client: client as pg.PoolClient,
    table: (base) => physicalTable(base, generation),
    write: async (text, values) => {
      await client.query(text, values as unknown[] | undefined);
    },
  };
}

export function tableDdl(projection: PgProjection, base: string, generation: number): string {
  return projection.tables[base]!.replaceAll('{{table}}', physicalTable(base, generation));
}

export async function createGeneration(client: pg.ClientBase, projection: PgProjection, generation: number): Promise<void> {
  for (const base of Object.keys(projection.tables)) {
    await client.query(`DROP TABLE IF EXISTS ${pg.escapeIdentifier(physicalTable(base, generation))} CASCADE`);
    await client.query(tableDdl(projection, base, generation));
  }
}

export async function pointViews(client: pg.ClientBase, projection: PgProjection, generation: number): Promise<void> {
  for (const base of Object.keys(projection.tables)) {
    await client.query(`DROP VIEW IF EXISTS ${pg.escapeIdentifier(base)}`);
    await client.query(`CREATE VIEW ${pg.escapeIdentifier(base)} AS SELECT * FROM ${pg.escapeIdentifier(physicalTable(base, generation))}`);
  }
}

export async function dropGeneration(client: pg.ClientBase, projection: PgProjection, generation: number): Promise<void> {
  for (const base of Object.keys(projection.tables)) {
    await client.query(`DROP TABLE IF EXISTS ${pg.escapeIdentifier(physicalTable(base, generation))} CASCADE`);
  }
}

const SETUP_LOCK = [1095582037, 1];

/**
 * Makes sure every projection has its state row, its current tables and views. Runs at start in
 * every role (queries need the views even where no projector runs), under an advisory lock.
 */
export async function ensureProjections(pool: pg.Pool, projections: readonly PgProjection[]): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', SETUP_LOCK);
    for (const p of projections) {
      await client.query(
        `INSERT INTO projections (name, generation, schema_version) VALUES ($1, 1, $2) ON CONFLICT (name) DO NOTHING`,
        [p.name, p.version],
      );
      const { rows } = await client.query<{ generation: number }>('SELECT generation FROM projections WHERE name = $1', [p.name]);
      const generation = rows[0]!.generation;
      for (const base of Object.keys(p.tables)) {
        const { rowCount } = await client.query('SELECT 1 FROM pg_class WHERE relname = $1', [physicalTable(base, generation)]);
        if (!rowCount) await client.query(tableDdl(p, base, generation));
        const view = await client.query('SELECT 1 FROM pg_views WHERE viewname = $1', [base]);
        if (!view.rowCount) await pointViews(client, { ...p, tables: { [base]: p.tables[base]! } }, generation);
      }
    }
  });
}
