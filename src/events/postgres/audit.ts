/**
 * The PostgreSQL adapter's `audit-log` capability: the audit trail's SQL on the events table.
 * Rules:
 * - a user's events: those of the streams the `user_streams` index lists, up to its checkpoint,
 *   plus a scan of only the tail after it, so the answer is exact while the index lags; an
 *   event counts when its data carries the `userId`;
 * - `stable` reads pass the visibility horizon (computed by an earlier statement): keyset pages
 *   over (transaction_id, position) never skip a late commit;
 * - stored data is upcast to the current schema version on read (`slim` types excepted).
 */
import type pg from 'pg';
import type { EventRegistry } from '../registry';
import type { AuditFilter, AuditSearch, RecordedEvent, UserStreamIndex } from '../store';
import { decodeRow, eventColumns, type EventRow } from './rows';

const COLUMNS = eventColumns('e');

const ts = (t: Date | string) => (typeof t === 'string' ? t : t.toISOString());

/** Adds the common filters; returns the WHERE fragments. `params` is appended to. */
function commonWhere(params: unknown[], f: AuditFilter, horizon: string | undefined): string[] {
  const where: string[] = ['true'];
  if (horizon) {
    params.push(horizon);
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

export class PostgresAuditLog {
  constructor(
    private readonly pool: pg.Pool,
    private readonly registry: EventRegistry,
    private readonly horizon: () => Promise<string>,
  ) {}

  async readUserEvents(userId: string, index: UserStreamIndex, f: AuditFilter = {}): Promise<RecordedEvent[]> {
    const params: unknown[] = [userId];
    const where = commonWhere(params, f, f.stable ? await this.horizon() : undefined);
    params.push(index.streams, index.checkpoint.commit.toString(), index.checkpoint.prepare.toString());
    const s = `$${params.length - 2}::text[]`;
    const ck = `($${params.length - 1}::text::xid8, $${params.length}::bigint)`;
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
      SELECT * FROM (
        SELECT ${columns}, e.transaction_id AS tx, e.position AS pos FROM events e
         WHERE e.stream_name = ANY(${s}) AND (e.transaction_id, e.position) <= ${ck}
           AND e.data->>'userId' = $1 AND ${where.join(' AND ')}
        UNION ALL
        SELECT ${columns}, e.transaction_id AS tx, e.position AS pos FROM events e
         WHERE (e.transaction_id, e.position) > ${ck}
           AND e.data->>'userId' = $1 AND ${where.join(' AND ')}
      ) t ORDER BY ${f.order === 'time' ? 't.created_at, t.pos' : 't.tx, t.pos'} ${limit}`;
    const { rows } = await this.pool.query<EventRow>(sql, params);
    const slim = f.slim?.length ? new Set(f.slim) : undefined;
    return rows.map((r) => decodeRow(this.registry, r, slim));
  }

  async searchEvents(f: AuditSearch): Promise<RecordedEvent[]> {
    const params: unknown[] = [];
    const where = commonWhere(params, f, f.stable ? await this.horizon() : undefined);
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
    const order = f.order === 'time' ? 'e.created_at, e.transaction_id, e.position' : 'e.transaction_id, e.position';
    const limit = f.limit ? `LIMIT ${Math.floor(f.limit)}` : '';
    const { rows } = await this.pool.query<EventRow>(`SELECT ${COLUMNS} FROM events e WHERE ${where.join(' AND ')} ORDER BY ${order} ${limit}`, params);
    return rows.map((r) => decodeRow(this.registry, r));
  }

  async findUserIdByEmail(email: string): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ user_id: string }>(
      `SELECT e.data->>'userId' AS user_id FROM events e
        WHERE e.event_type IN ('UserRegistered', 'UserProfileUpdated') AND lower(e.data->>'email') = $1
        ORDER BY e.transaction_id DESC, e.position DESC LIMIT 1`,
      [email],
    );
    return rows[0]?.user_id;
  }
}
