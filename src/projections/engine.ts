/**
 * The projection engine. Rules it enforces:
 * - a PostgreSQL projection applies a batch and moves its checkpoint in one transaction; the
 *   checkpoint write is a compare-and-set on the previous value (and generation), so a batch
 *   replayed after a crash or by a second runner changes nothing;
 * - a Redis projection queues its writes and the checkpoint in one WATCHed MULTI: same guarantee;
 * - at most one runner per projection holds its session advisory lock; others wait on standby;
 * - the runner stops only at a batch boundary.
 */
import pg from 'pg';
import type { Redis } from 'ioredis';
import { PostgresEventStore } from '../events/postgres-store';
import { START, type EventStore, type Position, type RecordedEvent } from '../events/store';
import { physicalTable } from './tables';
import type { PgProjection, Projection, RedisProjection } from './types';

const RUNNER_LOCK_NS = 1095582038;

export interface EngineDeps {
  pool: pg.Pool;
  store: EventStore;
  redis?: Redis;
  redisPrefix?: string;
  log?: { info(o: object, m?: string): void; warn(o: object, m?: string): void; error(o: object, m?: string): void };
  batchSize?: number;
  idleWaitMs?: number;
}

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

/** Reads the next batch after `from`, decoding only the events the projection handles. */
export async function readBatch(store: EventStore, handles: readonly string[], from: Position, maxCount: number): Promise<{ events: RecordedEvent[]; last?: Position; count: number }> {
  if (store instanceof PostgresEventStore) {
    const rows = await store.readAllRows({ fromPosition: from, maxCount });
    const wanted = new Set(handles);
    const events = rows.filter((r) => wanted.has(r.event_type)).map((r) => store.toRecorded(r));
    const tail = rows.at(-1);
    return { events, count: rows.length, last: tail && { commit: BigInt(tail.commit), prepare: BigInt(tail.prepare) } };
  }
  const events = await store.readAll({ fromPosition: from, maxCount, filter: { eventTypes: handles } });
  return { events, count: events.length, last: events.at(-1)?.position };
}

/**
 * Applies one batch to a PostgreSQL projection. Returns the new position, or undefined when the
 * compare-and-set failed (another runner or a rebuild moved the checkpoint: reload and go on).
 */
export async function applyPgBatch(pool: pg.Pool, projection: PgProjection, state: PgState, events: RecordedEvent[], to: Position): Promise<boolean> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    if (events.length) await projection.apply(events, { client, table: (base) => physicalTable(base, state.generation) });
    const { rowCount } = await client.query(
      `UPDATE projections SET commit_position = $1, prepare_position = $2, updated_at = now()
        WHERE name = $3 AND generation = $4 AND commit_position = $5 AND prepare_position = $6`,
      [to.commit.toString(), to.prepare.toString(), projection.name, state.generation, state.position.commit.toString(), state.position.prepare.toString()],
    );
    if (rowCount !== 1) {
      await client.query('ROLLBACK');
      return false;
    }
    await client.query('COMMIT');
    return true;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export function redisCheckpointKey(prefix: string, name: string): string {
  return `${prefix}projection:${name}:checkpoint`;
}

export async function loadRedisPosition(redis: Redis, prefix: string, name: string): Promise<Position> {
  const raw = await redis.get(redisCheckpointKey(prefix, name));
  if (!raw) return START;
  const [c, p] = raw.split(':');
  return { commit: BigInt(c!), prepare: BigInt(p!) };
}

/** Applies one batch to a Redis projection under WATCH; false when the checkpoint moved meanwhile. */
export async function applyRedisBatch(redis: Redis, prefix: string, projection: RedisProjection, from: Position, events: RecordedEvent[], to: Position): Promise<boolean> {
  const ckKey = redisCheckpointKey(prefix, projection.name);
  // A dedicated connection: WATCH is per connection and must not interleave with other callers.
  const conn = redis.duplicate();
  try {
    await conn.watch(ckKey);
    const current = await loadRedisPosition(conn, prefix, projection.name);
    if (current.commit !== from.commit || current.prepare !== from.prepare) {
      await conn.unwatch();
      return false;
    }
    const multi = conn.multi();
    if (events.length) await projection.apply(events, { redis: conn, multi, key: (s) => `${prefix}${s}` });
    multi.set(ckKey, `${to.commit}:${to.prepare}`);
    const result = await multi.exec();
    if (result === null) return false;
    const failed = result.find(([err]) => err);
    if (failed) throw failed[0];
    return true;
  } finally {
    conn.disconnect();
  }
}

export class ProjectionRunner {
  private stopped = false;
  private running: Promise<void> | undefined;
  private lockClient: pg.Client | undefined;
  private wake: (() => void) | undefined;
  private offAppended: (() => void) | undefined;
  private readonly batchSize: number;
  private readonly idleWaitMs: number;
  /** Last position this runner applied (for lag without a query). */
  position: Position = START;
  active = false;

  constructor(
    private readonly deps: EngineDeps,
    readonly projection: Projection,
  ) {
    this.batchSize = deps.batchSize ?? 500;
    this.idleWaitMs = deps.idleWaitMs ?? 1000;
  }

  start(): void {
    if (this.running) return;
    this.stopped = false;
    this.offAppended = this.deps.store.onAppended(() => this.wake?.());
    this.running = this.loop();
  }

  /** Stops at a batch boundary and releases the lock. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.offAppended?.();
    this.wake?.();
    await this.running;
    this.running = undefined;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(t);
        self.wake = undefined;
        resolve();
      }
      this.wake = done;
    });
  }

  private async acquireLock(): Promise<boolean> {
    if (this.lockClient) return true;
    const cfg = (this.deps.pool as unknown as { options: pg.ClientConfig }).options;
    const client = new pg.Client(cfg);
    client.on('error', () => undefined);
    try {
      await client.connect();
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [RUNNER_LOCK_NS, this.projection.name]);
      if (!rows[0]?.ok) {
        await client.end();
        return false;
      }
      client.on('end', () => {
        if (this.lockClient === client) {
          this.lockClient = undefined;
          this.active = false;
        }
      });
      this.lockClient = client;
      this.active = true;
      return true;
    } catch {
      await client.end().catch(() => undefined);
      return false;
    }
  }

  private async releaseLock(): Promise<void> {
    const c = this.lockClient;
    this.lockClient = undefined;
    this.active = false;
    await c?.end().catch(() => undefined);
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        if (!(await this.acquireLock())) {
          await this.sleep(2000); // standby: another process runs this projection
          continue;
        }
        const progressed = await this.step();
        failures = 0;
        if (!progressed) await this.sleep(this.idleWaitMs);
      } catch (err) {
        failures++;
        this.deps.log?.error({ err, projection: this.projection.name }, 'projection batch failed; retrying');
        await this.sleep(Math.min(10_000, 200 * 2 ** Math.min(failures, 6)));
      }
    }
    await this.releaseLock();
  }

  /** One batch. Returns whether there may be more to do right away. */
  async step(): Promise<boolean> {
    const p = this.projection;
    if (p.kind === 'postgres') {
      const state = await loadPgState(this.deps.pool, p.name);
      if (!state) throw new Error(`projection ${p.name} has no state row (ensureProjections not run)`);
      const batch = await readBatch(this.deps.store, p.handles, state.position, this.batchSize);
      if (!batch.last) {
        this.position = state.position;
        return false;
      }
      const ok = await applyPgBatch(this.deps.pool, p, state, batch.events, batch.last);
      this.position = ok ? batch.last : state.position;
      return true;
    }
    const redis = this.deps.redis;
    if (!redis) throw new Error(`projection ${p.name} needs Redis`);
    const prefix = this.deps.redisPrefix ?? '';
    const from = await loadRedisPosition(redis, prefix, p.name);
    const batch = await readBatch(this.deps.store, p.handles, from, this.batchSize);
    if (!batch.last) {
      this.position = from;
      return false;
    }
    const ok = await applyRedisBatch(redis, prefix, p, from, batch.events, batch.last);
    this.position = ok ? batch.last : from;
    return true;
  }
}

/** Number of events after a projection's checkpoint (capped), for /ready and metrics. */
export async function projectionLag(deps: EngineDeps, projection: Projection, cap = 1_000_000): Promise<number> {
  const position =
    projection.kind === 'postgres'
      ? (await loadPgState(deps.pool, projection.name))?.position ?? START
      : await loadRedisPosition(deps.redis!, deps.redisPrefix ?? '', projection.name);
  if (deps.store instanceof PostgresEventStore) {
    const { rows } = await deps.pool.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM (SELECT 1 FROM events WHERE (transaction_id, position) > ($1::text::xid8, $2::bigint)
         AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) LIMIT $3) t`,
      [position.commit.toString(), position.prepare.toString(), cap],
    );
    return Number(rows[0]!.n);
  }
  const head = await deps.store.headPosition();
  return Number(head.prepare > position.prepare ? head.prepare - position.prepare : 0n);
}
