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
  /** PostgreSQL: committed events wait above the visibility horizon (see LogBatch). */
  heldBack?: boolean;
}

/**
 * Reads the next batch after `from` (up to `to`, inclusive, when given), decoding only the
 * events the projection handles. PostgreSQL: one index scan; unhandled rows come without payload.
 */
export async function readBatch(store: EventStore, handles: readonly string[], from: Position, maxCount: number, to?: Position): Promise<Batch> {
  if (hasPagedLog(store)) return store.readHandledBatch(from, maxCount, handles, to);
  // Other adapters filter on the server, so the events a projection does not handle are never
  // seen here. The head is read first: when fewer than a page of handled events lie up to it, none
  // lies between the last one and the head, and the checkpoint moves to the head. Without that a
  // projection that handles nothing after P would never report progress past P (read-your-writes
  // would wait on it for ever).
  const head = to ?? (await store.headPosition());
  let events = await store.readAll({ fromPosition: from, maxCount, filter: { eventTypes: handles } });
  events = events.filter((e) => comparePositions(e.position, head) <= 0);
  let last = events.at(-1)?.position;
  if (events.length < maxCount && comparePositions(head, from) > 0) last = head;
  return { events, count: events.length, last };
}

