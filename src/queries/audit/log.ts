/**
 * Audit reads straight from the event log (never from mutable read models).
 * Rules:
 * - a user's events are found through the `user_streams` index, and events the index has not
 *   reached yet (after its checkpoint) are found by scanning only that tail: the answer is exact
 *   even while the projection lags;
 * - an event belongs to a user's history when its data carries that `userId` (a stream such as an
 *   e-mail reservation can be shared over time by several users);
 * - pages pass the store's visibility horizon (computed by an earlier statement): only events of
 *   transactions below it are read, so keyset pages over (transaction_id, position) never skip a
 *   late commit;
 * - stored data is upcast to the current schema version on read; nothing is rewritten.
 */
import type pg from 'pg';
import type { EventRegistry } from '../../events/registry';
import type { Position, RecordedEvent } from '../../events/store';
import { streams } from '../../events/streams';
import { decodeRow, eventColumns, type EventRow } from '../../events/postgres/store';

const COLUMNS = eventColumns('e');

export interface LogFilter {
  types?: readonly string[];
  /** Inclusive lower bound on the event's time. Strings are passed to PostgreSQL as is (µs). */
  from?: Date | string;
  /** Inclusive upper bound on the event's time. */
  to?: Date | string;
  /** Exclusive lower bound on the event's time (continuing from a snapshot). */
  afterTime?: Date | string;
  /** Exclusive: events after this position. */
  after?: Position;
  limit?: number;
  /** Visibility horizon (xid8 text, from `PostgresEventStore.horizon()`); absent: no cut. */
  horizon?: string;
  /**
   * Folds only: rows of these types come with just their `sessionId`/`keyId`/`userId`, no metadata,
   * unvalidated — hot, bulky events (refresh rotations) whose payload a fold does not need.
   */
  slim?: readonly string[];
  /** `log` (default): log order, for pages. `time`: by created_at, then position, for folds. */
  order?: 'log' | 'time';
}

export interface SearchFilter extends LogFilter {
  stream?: string;
  streamPrefix?: string;
  actor?: string;
}


const ts = (t: Date | string) => (typeof t === 'string' ? t : t.toISOString());

/** Adds the common filters; returns the WHERE fragments. `params` is appended to. */
function commonWhere(params: unknown[], f: LogFilter): string[] {
  const where: string[] = ['true'];
  if (f.horizon) {
    params.push(f.horizon);
    where.push(`e.transaction_id < $${params.length}::xid8`);
  }
  if (f.types?.length) {
    params.push(f.types);
    where.push(`e.event_type = ANY($${params.length}::text[])`);
  }
  if (f.from) {
    params.push(ts(f.from));
    where.push(`e.created_at >= $${params.length}::timestamptz`);
  }
  if (f.afterTime) {
    params.push(ts(f.afterTime));
    where.push(`e.created_at > $${params.length}::timestamptz`);
  }
  if (f.to) {
    params.push(ts(f.to));
    where.push(`e.created_at <= $${params.length}::timestamptz`);
  }
  if (f.after) {
    params.push(f.after.commit.toString(), f.after.prepare.toString());
    where.push(`(e.transaction_id, e.position) > ($${params.length - 1}::text::xid8, $${params.length}::bigint)`);
  }
  return where;
}

/**
 * A user's events in log order (chronological), filtered. Reads `limit` rows (default: all).
 * `db` may be a pool or a client (the CLI and benchmarks pass either).
 */
export async function readUserEvents(db: pg.Pool | pg.ClientBase, registry: EventRegistry, userId: string, f: LogFilter = {}): Promise<RecordedEvent[]> {
  const params: unknown[] = [userId];
  const where = commonWhere(params, f);
  // Streams whose last indexed event is not after the cursor cannot contribute.
  let prune = f.after ? `AND (us.last_commit, us.last_prepare) > (${f.after.commit}::bigint, ${f.after.prepare}::bigint)` : '';
  // Streams whose events all lie outside the time window cannot contribute either.
  const lower = f.afterTime ?? f.from;
  if (lower) {
    params.push(ts(lower));
    prune += ` AND us.last_at >= $${params.length}::timestamptz`;
  }
  if (f.to) {
    params.push(ts(f.to));
    prune += ` AND us.first_at <= $${params.length}::timestamptz + interval '1 millisecond'`;
  }
  const limit = f.limit ? `LIMIT ${Math.floor(f.limit)}` : '';
  let columns = COLUMNS;
  if (f.slim?.length) {
    params.push(f.slim);
    const p = `$${params.length}::text[]`;
    columns = COLUMNS.replace('e.data, e.metadata', `CASE WHEN e.event_type = ANY(${p})
        THEN jsonb_strip_nulls(jsonb_build_object('userId', e.data->'userId', 'sessionId', e.data->'sessionId', 'keyId', e.data->'keyId'))
        ELSE e.data END AS data,
      CASE WHEN e.event_type = ANY(${p}) THEN '{}'::jsonb ELSE e.metadata END AS metadata`);
  }
  const sql = `
    WITH ck AS (
      SELECT coalesce((SELECT commit_position FROM projections WHERE name = 'user_streams'), 0)::text::xid8 AS c,
             coalesce((SELECT prepare_position FROM projections WHERE name = 'user_streams'), 0) AS p)
    SELECT * FROM (
      SELECT ${columns}, e.transaction_id AS tx, e.position AS pos FROM events e, ck
       WHERE e.stream_name IN (SELECT us.stream_name FROM user_streams us WHERE us.user_id = $1 ${prune})
         AND (e.transaction_id, e.position) <= (ck.c, ck.p)
         AND e.data->>'userId' = $1 AND ${where.join(' AND ')}
      UNION ALL
      SELECT ${columns}, e.transaction_id AS tx, e.position AS pos FROM events e
       WHERE (e.transaction_id, e.position) > (SELECT c, p FROM ck)
         AND e.data->>'userId' = $1 AND ${where.join(' AND ')}
    ) t ORDER BY ${f.order === 'time' ? 't.created_at, t.pos' : 't.tx, t.pos'} ${limit}`;
  const { rows } = await db.query<EventRow>(sql, params);
  const slim = f.slim?.length ? new Set(f.slim) : undefined;
  return rows.map((r) => decodeRow(registry, r, slim));
}

/** Whether a user was ever registered (its stream exists in the log). */
export async function userStreamExists(db: pg.Pool | pg.ClientBase, userId: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM events WHERE stream_name = $1 LIMIT 1', [streams.user(userId)]);
  return !!rowCount;
}

/** The whole log, filtered (admin search), in log order. */
export async function searchEvents(db: pg.Pool | pg.ClientBase, registry: EventRegistry, f: SearchFilter): Promise<RecordedEvent[]> {
  const params: unknown[] = [];
  const where = commonWhere(params, f);
  if (f.stream) {
    params.push(f.stream);
    where.push(`e.stream_name = $${params.length}`);
  }
  if (f.streamPrefix) {
    params.push(f.streamPrefix.replace(/[\\%_]/g, (c) => `\\${c}`) + '%');
    where.push(`e.stream_name LIKE $${params.length}`);
  }
  if (f.actor) {
    params.push(f.actor);
    where.push(`(e.metadata->>'actorUserId') = $${params.length}`);
  }
  params.push(f.limit ?? 50);
  const { rows } = await db.query<EventRow>(
    `SELECT ${COLUMNS} FROM events e WHERE ${where.join(' AND ')} ORDER BY e.transaction_id, e.position LIMIT $${params.length}`,
    params,
  );
  return rows.map((r) => decodeRow(registry, r));
}

/** Events of the global aggregates a user's state depends on (features), up to `to`. */
export async function readFeatureEvents(db: pg.Pool | pg.ClientBase, registry: EventRegistry, to: Date): Promise<RecordedEvent[]> {
  const params: unknown[] = [];
  const where = commonWhere(params, { to, types: ['FeatureRegistered', 'FeatureUpdated', 'FeatureDisabled', 'FeatureEnabled', 'FeatureDeleted'].filter((t) => registry.has(t)) });
  const { rows } = await db.query<EventRow>(`SELECT ${COLUMNS} FROM events e WHERE ${where.join(' AND ')} ORDER BY e.transaction_id, e.position`, params);
  return rows.map((r) => decodeRow(registry, r));
}

/**
 * Resolves `<id|email>` to a user id through the log: an id whose user stream exists, else the
 * user who registered with (or changed to) that e-mail most recently.
 */
export async function resolveUser(db: pg.Pool | pg.ClientBase, idOrEmail: string): Promise<string | undefined> {
  if (await userStreamExists(db, idOrEmail)) return idOrEmail;
  const email = idOrEmail.trim().normalize('NFKC').toLowerCase();
  const { rows } = await db.query<{ user_id: string }>(
    `SELECT e.data->>'userId' AS user_id FROM events e
      WHERE e.event_type IN ('UserRegistered', 'UserProfileUpdated') AND lower(e.data->>'email') = $1
      ORDER BY e.position DESC LIMIT 1`,
    [email],
  );
  return rows[0]?.user_id;
}
