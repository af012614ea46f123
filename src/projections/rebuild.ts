/**
 * Blue/green rebuild of a PostgreSQL projection:
 * 1. fill generation N+1 from position 0 while the live runner keeps serving generation N
 *    (reads are prefetched one batch ahead; bulk batches commit without waiting for the WAL
 *    flush — the switch's own synchronous commit makes them durable);
 * 2. in one transaction holding the projection's state row, catch up the tail, move the
 *    checkpoint and generation, and repoint the views: readers switch atomically;
 * 3. drop generation N. A live runner's next compare-and-set fails (generation changed), so it
 *    reloads and continues on N+1.
 * With dryRun the new generation is built up to exactly the live checkpoint, compared row by
 * row with the live one, reported and dropped; nothing is switched.
 * One rebuild per projection at a time (advisory lock).
 */
import pg from 'pg';
import { START, type EventStore, type Position } from '../events/store';
import { loadPgState, readBatch, type Batch } from './engine';
import { createGeneration, dropGeneration, physicalTable, pointViews } from './tables';
import type { PgProjection } from './types';

const REBUILD_LOCK_NS = 1095582039;

export interface RebuildReport {
  projection: string;
  events: number;
  fromGeneration: number;
  toGeneration: number;
  switched: boolean;
  dryRun: boolean;
  /** Checkpoint of the new generation (the live one's, for a dry run). */
  position: Position;
  seconds: number;
  /**
   * Per table: rows in the live generation, rows rebuilt, and rows that differ counted on both
   * sides — compared on dry runs only (a real switch reports -1: the old rows are about to go).
   */
  tables: Record<string, { live: number; rebuilt: number; differing: number }>;
}

export class RebuildInProgressError extends Error {
  constructor(readonly projection: string) {
    super(`a rebuild of ${projection} is already running`);
    this.name = 'RebuildInProgressError';
  }
}

export async function rebuildProjection(
  pool: pg.Pool,
  store: EventStore,
  projection: PgProjection,
  opts: { dryRun?: boolean; batchSize?: number; onProgress?: (applied: number) => void; beforeSwitch?: () => Promise<void> } = {},
): Promise<RebuildReport> {
  const started = performance.now();
  const batchSize = opts.batchSize ?? 5000;
  const dryRun = opts.dryRun ?? false;
  const client = await pool.connect();
  let locked = false;
  try {
    const { rows: lock } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [REBUILD_LOCK_NS, projection.name]);
    if (!lock[0]?.ok) throw new RebuildInProgressError(projection.name);
    locked = true;
    const initial = await loadPgState(client, projection.name);
    if (!initial) throw new Error(`unknown projection ${projection.name}`);
    const from = initial.generation;
    const to = from + 1;
    await createGeneration(client, projection, to);
    // A dry run compares like with like: it never reads past the live checkpoint.
    const bound = dryRun ? initial.position : undefined;
    let position: Position = START;
    let applied = 0;
    const ctx = { client, table: (base: string) => physicalTable(base, to) };
    const apply = async (batch: Batch) => {
      if (batch.events.length) await projection.apply(batch.events, ctx);
      position = batch.last!;
      applied += batch.count;
    };

    // Bulk phase: one transaction per batch, no lock on the live projection, next read in flight.
    let next: Promise<Batch> | undefined = readBatch(store, projection.handles, position, batchSize, bound);
    while (next) {
      const batch: Batch = await next;
      next = undefined;
      if (!batch.last) break;
      if (batch.count === batchSize) next = readBatch(store, projection.handles, batch.last, batchSize, bound);
      await client.query('BEGIN');
      await client.query('SET LOCAL synchronous_commit = off');
      await apply(batch);
      await client.query('COMMIT');
      opts.onProgress?.(applied);
    }
    if (next) await (next as Promise<Batch>).catch(() => undefined);
    await opts.beforeSwitch?.();

    // Switch phase: hold the live state row, catch up the tail, switch (or compare and drop).
    await client.query('BEGIN');
    try {
      const live = (await loadPgState(client, projection.name, true))!;
      if (live.generation !== from) throw new Error(`projection ${projection.name} switched generation during the rebuild`);
      const tailBound = dryRun ? live.position : undefined;
      for (;;) {
        const batch = await readBatch(store, projection.handles, position, batchSize, tailBound);
        if (!batch.last) break;
        await apply(batch);
        opts.onProgress?.(applied);
      }
      const tables: RebuildReport['tables'] = {};
      for (const base of Object.keys(projection.tables)) {
        const oldT = pg.escapeIdentifier(physicalTable(base, from));
        const newT = pg.escapeIdentifier(physicalTable(base, to));
        const diff = dryRun
          ? `, ((SELECT count(*) FROM (SELECT * FROM ${newT} EXCEPT ALL SELECT * FROM ${oldT}) a) +
               (SELECT count(*) FROM (SELECT * FROM ${oldT} EXCEPT ALL SELECT * FROM ${newT}) b))::int AS differing`
          : ', -1 AS differing';
        const { rows } = await client.query<{ live: number; rebuilt: number; differing: number }>(
          `SELECT (SELECT count(*) FROM ${oldT})::int AS live, (SELECT count(*) FROM ${newT})::int AS rebuilt${diff}`,
        );
        tables[base] = rows[0]!;
      }
      const report = { projection: projection.name, events: applied, fromGeneration: from, toGeneration: to, dryRun, position, tables };
      if (dryRun) {
        await client.query('ROLLBACK');
        await dropGeneration(client, projection, to);
        return { ...report, switched: false, seconds: (performance.now() - started) / 1000 };
      }
      await client.query(
        `UPDATE projections SET generation = $2, schema_version = $3, commit_position = $4, prepare_position = $5, updated_at = now() WHERE name = $1`,
        [projection.name, to, projection.version, position.commit.toString(), position.prepare.toString()],
      );
      await pointViews(client, projection, to);
      await client.query('COMMIT');
      await dropGeneration(client, projection, from);
      return { ...report, switched: true, seconds: (performance.now() - started) / 1000 };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    if (locked) await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [REBUILD_LOCK_NS, projection.name]).catch(() => undefined);
    client.release();
  }
}
