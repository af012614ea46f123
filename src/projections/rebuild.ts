/**
 * Blue/green rebuild of a PostgreSQL projection:
 * 1. fill generation N+1 from position 0 while the live runner keeps serving generation N;
 * 2. in one transaction holding the projection's state row, catch up the tail, move the
 *    checkpoint and generation, and repoint the views: readers switch atomically;
 * 3. drop generation N. A live runner whose compare-and-set then fails reloads and continues.
 * With dryRun the new generation is compared with the live one and dropped, nothing switched.
 */
import pg from 'pg';
import { START, type EventStore, type Position } from '../events/store';
import { loadPgState, readBatch } from './engine';
import { createGeneration, dropGeneration, physicalTable, pointViews } from './tables';
import type { PgProjection } from './types';

export interface RebuildReport {
  projection: string;
  events: number;
  fromGeneration: number;
  toGeneration: number;
  switched: boolean;
  /** Per table: rows in the live generation, rows rebuilt, rows that differ (either side). */
  tables: Record<string, { live: number; rebuilt: number; differing: number }>;
}

export async function rebuildProjection(
  pool: pg.Pool,
  store: EventStore,
  projection: PgProjection,
  opts: { dryRun?: boolean; batchSize?: number; onProgress?: (applied: number) => void } = {},
): Promise<RebuildReport> {
  const batchSize = opts.batchSize ?? 5000;
  const initial = await loadPgState(pool, projection.name);
  if (!initial) throw new Error(`unknown projection ${projection.name}`);
  const from = initial.generation;
  const to = from + 1;
  const setup = await pool.connect();
  try {
    await createGeneration(setup, projection, to);
  } finally {
    setup.release();
  }
  let position: Position = START;
  let applied = 0;
  const client = await pool.connect();
  const ctx = { client, table: (base: string) => physicalTable(base, to) };
  const catchUp = async () => {
    for (;;) {
      const batch = await readBatch(store, projection.handles, position, batchSize);
      if (!batch.last) return;
      if (batch.events.length) await projection.apply(batch.events, ctx);
      position = batch.last;
      applied += batch.count;
      opts.onProgress?.(applied);
    }
  };
  try {
    // Bulk phase: one transaction per batch, no lock on the live projection.
    for (;;) {
      const before = applied;
      await client.query('BEGIN');
      const batch = await readBatch(store, projection.handles, position, batchSize);
      if (batch.last) {
        if (batch.events.length) await projection.apply(batch.events, ctx);
        position = batch.last;
        applied += batch.count;
      }
      await client.query('COMMIT');
      opts.onProgress?.(applied);
      if (applied === before || batch.count < batchSize) break;
    }
    const tables: RebuildReport['tables'] = {};
    await client.query('BEGIN');
    const live = await loadPgState(client, projection.name, true);
    await catchUp();
    for (const base of Object.keys(projection.tables)) {
      const oldT = pg.escapeIdentifier(physicalTable(base, live!.generation));
      const newT = pg.escapeIdentifier(physicalTable(base, to));
      const { rows } = await client.query<{ live: number; rebuilt: number; differing: number }>(
        `SELECT (SELECT count(*) FROM ${oldT})::int AS live, (SELECT count(*) FROM ${newT})::int AS rebuilt,
                ((SELECT count(*) FROM (SELECT * FROM ${newT} EXCEPT SELECT * FROM ${oldT}) a) +
                 (SELECT count(*) FROM (SELECT * FROM ${oldT} EXCEPT SELECT * FROM ${newT}) b))::int AS differing`,
      ).catch(async () => ({ rows: [{ live: -1, rebuilt: -1, differing: -1 }] }));
      tables[base] = rows[0]!;
    }
    if (opts.dryRun) {
      await client.query('ROLLBACK');
      await dropGeneration(client, projection, to);
      return { projection: projection.name, events: applied, fromGeneration: from, toGeneration: to, switched: false, tables };
    }
    await client.query(
      `UPDATE projections SET generation = $2, schema_version = $3, commit_position = $4, prepare_position = $5, updated_at = now() WHERE name = $1`,
      [projection.name, to, projection.version, position.commit.toString(), position.prepare.toString()],
    );
    await pointViews(client, projection, to);
    await client.query('COMMIT');
    await dropGeneration(client, projection, live!.generation);
    return { projection: projection.name, events: applied, fromGeneration: from, toGeneration: to, switched: true, tables };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
