/**
 * The projection engine. Rules it enforces:
 * - a PostgreSQL projection applies a batch and moves its checkpoint in one transaction; the
 *   checkpoint write is a compare-and-set on the previous value (and generation), so a batch
 *   replayed after a crash or by a second runner changes nothing;
 * - a Redis projection queues its writes and the checkpoint in one WATCHed MULTI: same guarantee;
 * - at most one runner per projection holds its session advisory lock; others wait on standby.
 *   A PostgreSQL batch runs on the very connection that holds the lock (fencing): if that
 *   session dies, its lock and its uncommitted batch die together, so a runner that lost its
 *   lock can never commit;
 * - when a projection's `version` is newer than the stored one, its runner first rebuilds it
 *   blue/green (the old generation keeps serving meanwhile); an older build's runner finding a
 *   newer version stored stays idle (rolling deploys never rebuild back and forth);
 * - the runner stops only at a batch boundary;
 * - every committed batch announces its checkpoint (NOTIFY / PUBLISH in the same transaction, and
 *   in-process at once) for readers that wait on it (checkpoint-feed.ts).
 */
import pg from 'pg';
import type { Redis } from 'ioredis';
import { START, hasPagedLog, type EventStore, type Position, type RecordedEvent } from '../events/store';
import { loadPgState, readBatch, type PgState } from './checkpoints';
import { applyTogether, checkpointMoved } from './pg-batch';
import { rebuildProjection } from './rebuild';
import type { PgProjection, Projection, RedisProjection } from './types';
import { AppendLoop } from '../infra/append-loop';
import { checkpointOrphaned, markLive, queueEpoch } from './redis-epoch';
import { holdAdvisoryLock } from '../infra/db';
import { checkpointNotice, localCheckpoints, redisCheckpointChannel } from './checkpoint-feed';

/** Advisory lock namespace of projection runners (one lock per projection name). */
export const RUNNER_LOCK_NS = 1095582038;

export { loadPgState, readBatch, type Batch, type PgState } from './checkpoints';

export interface EngineDeps {
  pool: pg.Pool;
  store: EventStore;
  redis?: Redis;
  redisPrefix?: string;
  log?: { info(o: object, m?: string): void; warn(o: object, m?: string): void; error(o: object, m?: string): void };
  batchSize?: number;
  idleWaitMs?: number;
  /** How often a standby runner retries the lock. */
  standbyRetryMs?: number;
}

/**
 * Applies one batch to a PostgreSQL projection in one transaction on `db` (a pool, or the
 * runner's lock connection), in as few round trips as its reads allow (pg-batch.ts). Returns false
 * when the compare-and-set failed (another runner or a rebuild moved the checkpoint): nothing was
 * changed; reload and go on.
 */
export async function applyPgBatch(db: pg.Pool | pg.ClientBase, projection: PgProjection, state: PgState, events: RecordedEvent[], to: Position): Promise<boolean> {
  const client = db instanceof pg.Pool ? await db.connect() : (db as pg.PoolClient);
  try {
    await applyTogether(client, [{ projection, state, events }], to);
    return true;
  } catch (err) {
    if (checkpointMoved(err)) return false;
    throw err;
  } finally {
    if (db instanceof pg.Pool) client.release();
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

/** A connection of its own for WATCH/MULTI (WATCH is per connection), with an offline queue. */
export function dedicatedRedis(redis: Redis): Redis {
  const conn = redis.duplicate({ lazyConnect: false, enableOfflineQueue: true, maxRetriesPerRequest: 3 });
  conn.on('error', () => undefined);
  return conn;
}

/**
 * Applies one batch to a Redis projection under WATCH of its checkpoint; false when the
 * checkpoint is not `from` (any more): nothing was changed. `conn` must not be shared with
 * other callers while this runs (WATCH state is per connection); without it one is made.
 */
export async function applyRedisBatch(redis: Redis, prefix: string, projection: RedisProjection, from: Position, events: RecordedEvent[], to: Position, conn?: Redis): Promise<boolean> {
  const ckKey = redisCheckpointKey(prefix, projection.name);
  const c = conn ?? dedicatedRedis(redis);
  try {
    await c.watch(ckKey);
    const current = await loadRedisPosition(c, prefix, projection.name);
    if (current.commit !== from.commit || current.prepare !== from.prepare) {
      await c.unwatch();
      return false;
    }
    const multi = c.multi();
    try {
      if (events.length) await projection.apply(events, { redis: c, multi, key: (s) => `${prefix}${s}` });
    } catch (err) {
      multi.discard();
      await c.unwatch().catch(() => undefined);
      throw err;
    }
    multi.set(ckKey, `${to.commit}:${to.prepare}`);
    queueEpoch(multi, prefix, projection.name);
    multi.publish(redisCheckpointChannel(prefix), checkpointNotice(projection.name, to));
    const result = await multi.exec();
    if (result === null) return false;
    const failed = result.find(([err]) => err);
    if (failed) throw failed[0];
    return true;
  } finally {
    if (!conn) c.disconnect();
  }
}

export class ProjectionRunner {
  private lockClient: pg.Client | undefined;
  private redisConn: Redis | undefined;
  private readonly control: AppendLoop;
  private readonly batchSize: number;
  private readonly idleWaitMs: number;
  /** Last position this runner applied (for lag without a query). */
  position: Position = START;
  /** Holds the projection's lock (the one active runner). */
  active = false;
  /** Batches this runner committed (for tests and metrics). */
  batches = 0;
  /** Times it tried to take its lock (each a new connection; a standby tries every standbyRetryMs). */
  lockAttempts = 0;

  constructor(
    private readonly deps: EngineDeps,
    readonly projection: Projection,
  ) {
    this.batchSize = deps.batchSize ?? 500;
    this.idleWaitMs = deps.idleWaitMs ?? 1000;
    this.control = new AppendLoop(deps.store);
  }

  start(): void {
    this.control.start(() => this.loop());
  }

  /** Stops at a batch boundary and releases the lock. */
  async stop(): Promise<void> {
    await this.control.stop();
  }

  /** Takes (or confirms) the session advisory lock on a dedicated connection. */
  async acquireLock(): Promise<boolean> {
    if (this.lockClient) return true;
    this.lockAttempts++;
    const client = await holdAdvisoryLock(this.deps.pool, RUNNER_LOCK_NS, this.projection.name, (c) => {
      if (this.lockClient === c) {
        this.lockClient = undefined;
        this.active = false;
      }
    });
    if (!client) return false;
    this.lockClient = client;
    this.active = true;
    this.deps.log?.info({ projection: this.projection.name }, 'projection runner active');
    return true;
  }

  private async releaseLock(): Promise<void> {
    const c = this.lockClient;
    this.lockClient = undefined;
    this.active = false;
    await c?.end().catch(() => undefined);
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.control.stopped) {
      try {
        if (!(await this.acquireLock())) {
          // Standby: another process runs this projection. The waker's sleep, not control.sleep:
          // `dirty` is cleared only once the lock is held, so control.sleep would retry at once
          // after every append (a new connection each time) instead of every standbyRetryMs.
          await this.control.waker.sleep(this.deps.standbyRetryMs ?? 2000);
          continue;
        }
        this.control.dirty = false;
        this.heldBack = false;
        const progressed = await this.step();
        failures = 0;
        // After a partial page: wait for the next append instead of reading an empty page to
        // find out (its signal sets `dirty` even while the step runs).
        if ((!progressed || !this.more) && !this.control.dirty) {
          // Committed events the reader cannot see yet (an older transaction still runs, so they
          // are above the visibility horizon; the page's own statement says so): look again soon,
          // not after the idle wait, or read-your-writes would wait up to idleWaitMs for them.
          if (this.heldBack) {
            await this.control.sleep(this.heldBackWaitMs);
            this.heldBackWaitMs = Math.min(this.heldBackWaitMs * 2, 32);
          } else {
            this.heldBackWaitMs = 1;
            await this.control.sleep(this.idleWaitMs);
          }
        } else this.heldBackWaitMs = 1;
      } catch (err) {
        failures++;
        this.deps.log?.error({ err, projection: this.projection.name }, 'projection batch failed; retrying');
        await this.control.waker.sleep(Math.min(10_000, 200 * 2 ** Math.min(failures, 6)));
      }
    }
    await this.releaseLock();
    this.redisConn?.disconnect();
    this.redisConn = undefined;
  }

  /**
   * One batch. Returns whether there may be more to do right away. Runs on the lock connection
   * when this runner holds the lock (the loop), on the pool otherwise (tests, tools).
   */
  async step(): Promise<boolean> {
    const p = this.projection;
    if (p.kind === 'postgres') {
      const db = this.lockClient ?? this.deps.pool;
      let state = await loadPgState(db, p.name);
      if (!state) throw new Error(`projection ${p.name} has no state row (ensureProjections not run)`);
      if (state.schemaVersion > p.version) {
        // A newer build rebuilt this projection (rolling deploy): leave it alone, never rebuild back.
        this.deps.log?.warn({ projection: p.name, stored: state.schemaVersion, ours: p.version }, 'projection belongs to a newer build; idle');
        return false;
      }
      if (state.schemaVersion < p.version) {
        this.deps.log?.info({ projection: p.name, from: state.schemaVersion, to: p.version }, 'projection version changed: rebuilding');
        await rebuildProjection(this.deps.pool, this.deps.store, p);
        state = (await loadPgState(db, p.name))!;
      }
      const batch = await readBatch(this.deps.store, p.handles, state.position, this.batchSize);
      this.heldBack = batch.heldBack ?? false;
      if (!batch.last) {
        this.position = state.position;
        return false;
      }
      const ok = await applyPgBatch(db, p, state, batch.events, batch.last);
      if (ok) this.committed(batch.last);
      this.position = ok ? batch.last : state.position;
      this.more = !ok || batch.count >= this.batchSize;
      return true;
    }
    const redis = this.deps.redis;
    if (!redis) throw new Error(`projection ${p.name} needs Redis`);
    this.redisConn ??= dedicatedRedis(redis);
    const prefix = this.deps.redisPrefix ?? '';
    let from = await loadRedisPosition(this.redisConn, prefix, p.name);
    if ((from.commit !== START.commit || from.prepare !== START.prepare) && (await checkpointOrphaned(this.redisConn, prefix, p.name))) {
      // The epoch marker is gone but the checkpoint is not: Redis lost (some of) its data. Replay from 0.
      this.deps.log?.warn({ projection: p.name }, 'Redis epoch marker missing: replaying the Redis projection from position 0');
      this.liveMarked = false;
      await this.redisConn.del(redisCheckpointKey(prefix, p.name));
      from = START;
    }
    const batch = await readBatch(this.deps.store, p.handles, from, this.batchSize);
    this.heldBack = batch.heldBack ?? false;
    if (!batch.last) {
      this.position = from;
      // Caught up with the log: Redis serves this projection again (see redis-epoch.ts).
      await markLive(this.redisConn, prefix, p.name);
      this.liveMarked = true;
      return false;
    }
    const ok = await applyRedisBatch(redis, prefix, p, from, batch.events, batch.last, this.redisConn);
    if (ok) this.committed(batch.last);
    this.position = ok ? batch.last : from;
    this.more = !ok || batch.count >= this.batchSize;
    // A partial page applied: caught up as well (the loop waits for the next append now).
    if (ok && !this.more && !this.heldBack && !this.liveMarked) {
      await markLive(this.redisConn, prefix, p.name);
      this.liveMarked = true;
    }
    return true;
  }

  private heldBackWaitMs = 1;
  /** The last step may have left work (a full page, a failed compare-and-set): step again at once. */
  private more = false;
  /** This runner marked its Redis projection live since it last found the epoch marker gone. */
  private liveMarked = false;

  /**
   * The last page read said committed events wait above the PostgreSQL visibility horizon (its
   * own statement computed it after the read: no countAfter round trip). Never on other adapters.
   */
  private heldBack = false;

  /** A batch committed: count it and tell this process's readers at once (src/projections/checkpoint-feed.ts). */
  private committed(to: Position): void {
    this.batches++;
    localCheckpoints(this.deps.pool).emit('advance', this.projection.name, to);
  }

  /** Steps until nothing is left (tests and tools). */
  async drain(): Promise<void> {
    while (await this.step());
  }
}

/** A projection's checkpoint, wherever it is kept. */
export async function projectionPosition(deps: Pick<EngineDeps, 'pool' | 'redis' | 'redisPrefix'>, projection: Projection): Promise<Position> {
  if (projection.kind === 'postgres') return (await loadPgState(deps.pool, projection.name))?.position ?? START;
  if (!deps.redis) throw new Error(`projection ${projection.name} needs Redis`);
  return loadRedisPosition(deps.redis, deps.redisPrefix ?? '', projection.name);
}

/**
 * Lag: committed events in the log after a projection's checkpoint (counted up to `cap`), for
 * /ready and metrics. PostgreSQL counts exactly (an index range scan); other adapters
 * approximate with the prepare-position distance.
 */
export async function projectionLag(deps: EngineDeps, projection: Projection, cap = 1_000_000): Promise<number> {
  const position = await projectionPosition(deps, projection);
  // Every committed event after the checkpoint, including those a runner cannot read yet
  // because an older transaction is still running: they are lag too.
  if (hasPagedLog(deps.store)) return deps.store.countAfter(position, cap);
  const head = await deps.store.headPosition();
  return Number(head.prepare > position.prepare ? head.prepare - position.prepare : 0n);
}
