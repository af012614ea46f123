/**
 * Audit reads straight from the event log (never from mutable read models), on either adapter.
 * Rules:
 * - a user's events are found through the `user_streams` index (a PostgreSQL read model on every
 *   adapter, read here), and events the index has not reached yet (after its checkpoint) by the
 *   store scanning only that tail: the answer is exact even while the projection lags;
 * - the index's rows and checkpoint are read in one statement (the projection writes both in one
 *   transaction), so they agree;
 * - the log itself is read through the store's `audit-log` capability (src/events/store.ts):
 *   no SQL on the events table here;
 * - stored data is upcast to the current schema version on read; nothing is rewritten.
 */
import type pg from 'pg';
import { errors } from '../../errors';
import { hasAuditLog, type AuditFilter, type AuditLog, type AuditSearch, type EventStore, type RecordedEvent, type UserStreamIndex } from '../../events/store';
import { streams } from '../../events/streams';

export type LogFilter = AuditFilter;
export type SearchFilter = AuditSearch;

type Db = pg.Pool | pg.ClientBase;

function auditLog(store: EventStore): EventStore & AuditLog {
  if (!hasAuditLog(store)) throw errors.internal(`the ${store.kind} event store cannot serve audit reads (no audit-log capability)`);
  return store;
}

const ts = (t: Date | string) => (typeof t === 'string' ? t : t.toISOString());

/** The index's streams for the user that can hold events in the filter's window, and its checkpoint. */
export async function userStreamIndex(db: Db, userId: string, f: AuditFilter = {}): Promise<UserStreamIndex> {
  const params: unknown[] = [userId];
  // Streams whose last indexed event is not after the cursor cannot contribute.
  let prune = '';
  if (f.after) {
    params.push(f.after.commit.toString(), f.after.prepare.toString());
    prune += ` AND (us.last_commit, us.last_prepare) > ($${params.length - 1}::bigint, $${params.length}::bigint)`;
  }
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
  const { rows } = await db.query<{ c: string; p: string; streams: string[] }>(
    `SELECT coalesce((SELECT commit_position FROM projections WHERE name = 'user_streams'), 0)::text AS c,
            coalesce((SELECT prepare_position FROM projections WHERE name = 'user_streams'), 0)::text AS p,
            coalesce((SELECT array_agg(us.stream_name) FROM user_streams us WHERE us.user_id = $1 ${prune}), '{}') AS streams`,
    params,
  );
  const r = rows[0]!;
  return { streams: r.streams, checkpoint: { commit: BigInt(r.c), prepare: BigInt(r.p) } };
}

/**
 * A user's events in log order (chronological), filtered. Reads `limit` events (default: all).
 * `db` (a pool or a client) holds the read models; the events come from `store`.
 */
export async function readUserEvents(db: Db, store: EventStore, userId: string, f: LogFilter = {}): Promise<RecordedEvent[]> {
  const log = auditLog(store);
  return log.readUserEvents(userId, await userStreamIndex(db, userId, f), f);
}

/** Whether a user was ever registered (its stream exists in the log). */
export async function userStreamExists(store: EventStore, userId: string): Promise<boolean> {
  return (await store.readStream(streams.user(userId), { maxCount: 1 })).length > 0;
}

/** The whole log, filtered (admin search), in log order. */
export function searchEvents(store: EventStore, f: SearchFilter): Promise<RecordedEvent[]> {
  return auditLog(store).searchEvents(f);
}

export const FEATURE_EVENT_TYPES = ['FeatureRegistered', 'FeatureUpdated', 'FeatureDisabled', 'FeatureEnabled', 'FeatureDeleted'];

/** Events of the global aggregates a user's state depends on (features), up to `to`. */
export function readFeatureEvents(store: EventStore, to: Date): Promise<RecordedEvent[]> {
  return auditLog(store).searchEvents({ to, types: FEATURE_EVENT_TYPES.filter((t) => store.registry.has(t)) });
}

/**
 * Resolves `<id|email>` to a user id through the log: an id whose user stream exists, else the
 * user who registered with (or changed to) that e-mail most recently.
 */
export async function resolveUser(store: EventStore, idOrEmail: string): Promise<string | undefined> {
  if (await userStreamExists(store, idOrEmail)) return idOrEmail;
  return auditLog(store).findUserIdByEmail(idOrEmail.trim().normalize('NFKC').toLowerCase());
}
