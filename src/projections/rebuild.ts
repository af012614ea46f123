/**
 * Blue/green rebuild of a PostgreSQL projection:
 * 1. fill generation N+1 from position 0 while the live runner keeps serving generation N
 *    (up to 3 pages are read concurrently ahead of the writes; bulk batches commit without
 *    waiting for the WAL flush — the switch's own synchronous commit makes them durable);
 * 2. in one transaction holding the projection's state row, catch up the tail, move the
 *    checkpoint and generation, and repoint the views: readers switch atomically;
 * 3. drop generation N. A live runner's next compare-and-set fails (generation changed), so it
 *    reloads and continues on N+1.
 * With dryRun the new generation is built up to exactly the live checkpoint, compared row by
 * row with the live one, reported and dropped; nothing is switched.
 * One rebuild per projection at a time (advisory lock).
 * `rebuildProjections` does this for several projections in one pass over the log (each page
 * read and decoded once, applied to every new generation in one transaction); each projection
 * still takes its own lock and switches on its own.
 */
import pg from 'pg';
import { START, comparePositions, hasPagedLog, type EventStore, type Position } from '../events/store';
import { loadPgState, readBatch, type Batch } from './checkpoints';
import { createGeneration, dropGeneration, pgContext, physicalTable, pointViews } from './tables';
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

export interface RebuildOptions {
  dryRun?: boolean;
  batchSize?: number;
  /** Events read so far (handled or not), after each page. */
  onProgress?: (applied: number) => void;
  /** Awaited between the bulk phase and the switches (tests). */
  beforeSwitch?: () => Promise<void>;
}

export async function rebuildProjection(pool: pg.Pool, store: EventStore, projection: PgProjection, opts: RebuildOptions = {}): Promise<RebuildReport> {
  return (await rebuildProjections(pool, store, [projection], opts))[0]!;
}

/**
 * Rebuilds several projections blue/green in one pass over the log: every page is read (and
 * decoded) once, then applied to each projection's new generation in one transaction. Each
 * projection keeps its own rebuild lock, and switches (or, dry, compares) on its own, in one
 * transaction holding its state row, after catching up its own tail; a dry run builds each up
 * to its own live checkpoint. Uses one connection for the writes plus the read-ahead's.
 */
export async function rebuildProjections(pool: pg.Pool, store: EventStore, projections: readonly PgProjection[], opts: RebuildOptions = {}): Promise<RebuildReport[]> {
  const started = performance.now();
  const batchSize = opts.batchSize ?? 5000;
  const dryRun = opts.dryRun ?? false;
  if (new Set(projections.map((p) => p.name)).size !== projections.length) throw new Error('rebuildProjections: a projection is named twice');
  if (!projections.length) return [];
  const client = await pool.connect();
  const locked: string[] = [];
  try {
    for (const p of projections) {
      const { rows: lock } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [REBUILD_LOCK_NS, p.name]);
      if (!lock[0]?.ok) throw new RebuildInProgressError(p.name);
      locked.push(p.name);
    }
    const jobs = [];
    for (const projection of projections) {
      const initial = await loadPgState(client, projection.name);
      if (!initial) throw new Error(`unknown projection ${projection.name}`);
      const from = initial.generation;
      const to = from + 1;
      await createGeneration(client, projection, to);
      const handles = new Set(projection.handles);
      jobs.push({ projection, initial, from, to, handles, ctx: pgContext(client, to) });
    }
    // A dry run compares like with like: it never reads past a live checkpoint (the bulk phase
    // stops at the lowest; each one's tail goes on to its own).
    let bound: Position | undefined;
    if (dryRun) for (const j of jobs) if (!bound || comparePositions(j.initial.position, bound) < 0) bound = j.initial.position;
    const allHandles = [...new Set(projections.flatMap((p) => p.handles))];

    let position: Position = START;
    let applied = 0;
    // Bulk phase: one transaction per page for all projections, no lock on the live ones, reads
    // in flight ahead of the writes (PostgreSQL: several consecutive pages at once, on their own
    // connections).
    for await (const batch of prefetchedBatches(store, allHandles, batchSize, bound)) {
      await client.query('BEGIN');
      await client.query('SET LOCAL synchronous_commit = off');
      for (const j of jobs) {
        const events = jobs.length === 1 ? batch.events : batch.events.filter((e) => j.handles.has(e.type));
        if (events.length) await j.projection.apply(events, j.ctx);
      }
      await client.query('COMMIT');
      position = batch.last!;
      applied += batch.count;
      opts.onProgress?.(applied);
    }
    await opts.beforeSwitch?.();

    // Switch phase, one projection at a time: hold its live state row, catch up its tail,
    // switch (or compare and drop).
    const reports: RebuildReport[] = [];
    for (const { projection, from, to, ctx } of jobs) {
      let at = position;
      let events = applied;
      await client.query('BEGIN');
      try {
        const live = (await loadPgState(client, projection.name, true))!;
        if (live.generation !== from) throw new Error(`projection ${projection.name} switched generation during the rebuild`);
        const tailBound = dryRun ? live.position : undefined;
        for (;;) {
          if (tailBound && comparePositions(at, tailBound) >= 0) break;
          const batch = await readBatch(store, projection.handles, at, batchSize, tailBound);
          if (!batch.last) break;
          if (batch.events.length) await projection.apply(batch.events, ctx);
          at = batch.last;
          events += batch.count;
          if (jobs.length === 1) opts.onProgress?.(events);
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
        const report = { projection: projection.name, events, fromGeneration: from, toGeneration: to, dryRun, position: at, tables };
        if (dryRun) {
          await client.query('ROLLBACK');
          await dropGeneration(client, projection, to);
          reports.push({ ...report, switched: false, seconds: (performance.now() - started) / 1000 });
          continue;
        }
        await client.query(
          `UPDATE projections SET generation = $2, schema_version = $3, commit_position = $4, prepare_position = $5, updated_at = now() WHERE name = $1`,
          [projection.name, to, projection.version, at.commit.toString(), at.prepare.toString()],
        );
        await pointViews(client, projection, to);
        await client.query('COMMIT');
        await dropGeneration(client, projection, from);
        reports.push({ ...report, switched: true, seconds: (performance.now() - started) / 1000 });
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    }
    return reports;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    for (const name of locked) await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [REBUILD_LOCK_NS, name]).catch(() => undefined);
    client.release();
  }
}

/** Pages in flight at once during a PostgreSQL rebuild. */
const READ_AHEAD = 3;

/**
 * The log from START in batches (up to `bound`, inclusive), read ahead. PostgreSQL: page ends
 * come from a cheap index-only scan, so up to READ_AHEAD pages are fetched concurrently and
 * yielded in order. Other stores: one page ahead.
 */
async function* prefetchedBatches(store: EventStore, handles: readonly string[], batchSize: number, bound?: Position): AsyncGenerator<Batch> {
  if (!hasPagedLog(store)) {
    let next: Promise<Batch> | undefined = readBatch(store, handles, START, batchSize, bound);
    while (next) {
      const batch: Batch = await next;
      next = batch.last && batch.count === batchSize ? readBatch(store, handles, batch.last, batchSize, bound) : undefined;
      if (!batch.last) return;
      yield batch;
    }
    return;
  }
  // A producer finds page ends (index-only scans) and starts page reads, at most READ_AHEAD
  // ahead of the consumer; the consumer yields them in order.
  const queue: Promise<Batch>[] = [];
  let done = false;
  let failure: unknown;
  let signal: (() => void) | undefined;
  const notify = () => {
    const s = signal;
    signal = undefined;
    s?.();
  };
  const waitSignal = () => new Promise<void>((r) => (signal = r));
  let stop = false;
  const producer = (async () => {
    let cursor: Position = START;
    try {
      while (!stop) {
        while (queue.length >= READ_AHEAD && !stop) await waitSignal();
        if (stop) break;
        let end = await store.pageEnd(cursor, batchSize);
        if (end && bound && comparePositions(end, bound) >= 0) end = comparePositions(bound, cursor) > 0 ? bound : undefined;
        if (!end) break;
        const read = readBatch(store, handles, cursor, batchSize, end);
        read.catch(() => undefined); // observed by the consumer
        queue.push(read);
        notify();
        cursor = end;
        if (bound && comparePositions(end, bound) >= 0) break;
      }
    } catch (err) {
      failure = err;
    } finally {
      done = true;
      notify();
    }
  })();
  try {
    for (;;) {
      if (!queue.length) {
        if (done) break;
        await waitSignal();
        continue;
      }
      const batch = await queue.shift()!;
      notify();
      if (batch.last) yield batch;
    }
    if (failure) throw failure;
  } finally {
    stop = true;
    notify();
    await producer;
    await Promise.allSettled(queue);
  }
}
