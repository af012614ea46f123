/** A projection's checkpoint row and the batches it reads (shared by the runner and rebuilds). */
import type pg from 'pg';
import { comparePositions, hasPagedLog, type EventStore, type Position, type RecordedEvent } from '../events/store';

export interface PgState {
  generation: number;
  schemaVersion: number;
  position: Position;
}

export async function loadPgState(db: pg.Pool | pg.ClientBase, name: string, forUpdate = false): Promise<PgState | undefined> {
  const { rows } = await db.query<{ generation: number; schema_version: number; commit_position: string; prepare_position: string }>(
    `SELECT generation, schema_version, commit_position::text, prepare_position::text FROM projections WHERE name = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [name],
  );
  const r = rows[0];
  return r && { generation: r.generation, schemaVersion: r.schema_version, position: { commit: BigInt(r.commit_position), prepare: BigInt(r.prepare_position) } };
}

export interface Batch {
  /** Decoded events the projection handles, in log order. */
  events: RecordedEvent[];
  /** Position of the last event read (handled or not): the checkpoint after this batch. */
  last?: Position;
  /** Events read (handled or not). */
  count: number;
}

/**
 * Reads the next batch after `from` (up to `to`, inclusive, when given), decoding only the
 * events the projection handles. PostgreSQL: one index scan; unhandled rows come without payload.
 */
export async function readBatch(store: EventStore, handles: readonly string[], from: Position, maxCount: number, to?: Position): Promise<Batch> {
  if (hasPagedLog(store)) return store.readHandledBatch(from, maxCount, handles, to);
  // Other adapters filter on the server; the checkpoint then moves with the handled events only.
  let events = await store.readAll({ fromPosition: from, maxCount, filter: { eventTypes: handles } });
  if (to) events = events.filter((e) => comparePositions(e.position, to) <= 0);
  return { events, count: events.length, last: events.at(-1)?.position };
}

