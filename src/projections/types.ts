import type pg from 'pg';
import type { Redis, ChainableCommander } from 'ioredis';
import type { RecordedEvent } from '../events/store';
import type { LocalCacheRegistry } from './local-caches';

/** Context handed to a PostgreSQL projection for one batch, inside the checkpoint's transaction. */
export interface PgProjectionContext {
  /** Run queries only: the engine owns the transaction and the connection (never BEGIN/COMMIT/release). */
  client: pg.PoolClient;
  /**
   * A statement whose result the projection does not need (its upserts, deletes, notifies). The
   * engine may hold it and send it with the batch's commit, in order, after every read the batch
   * makes: so never read back in a batch what that batch wrote (fold in memory instead).
   */
  write(text: string, values?: readonly unknown[]): Promise<void>;
  /** Physical name of a read-model table of this projection in the generation being written. */
  table(base: string): string;
}

/**
 * A projection into PostgreSQL read-model tables.
 * - `tables` maps a base name to its DDL, with `{{table}}` where the physical name goes; the engine
 *   creates `<base>_v<generation>` tables and a view `<base>` that queries read from;
 * - bump `version` when the DDL or the handlers' meaning changes: the engine rebuilds blue/green.
 */
export interface PgProjection {
  kind: 'postgres';
  name: string;
  version: number;
  handles: readonly string[];
  tables: Record<string, string>;
  apply(events: RecordedEvent[], ctx: PgProjectionContext): Promise<void>;
}

/**
 * A projection into Redis. `apply` reads what it needs through `redis` and queues its writes on
 * `multi`; the engine adds the checkpoint to the same MULTI, guarded by WATCH, so a batch takes
 * effect exactly once.
 */
export interface RedisProjection {
  kind: 'redis';
  name: string;
  handles: readonly string[];
  apply(events: RecordedEvent[], ctx: { redis: Redis; multi: ChainableCommander; key(suffix: string): string }): Promise<void>;
  /** After the inline application in a command's process (src/commands/decider.ts): process-local effects. */
  afterInline?(events: RecordedEvent[], ctx: { prefix: string; localCaches: LocalCacheRegistry }): void;
}

export type Projection = PgProjection | RedisProjection;

/** Dispatch helper: one handler per event type, applied in order. */
export function byType<C>(handlers: Record<string, (event: RecordedEvent, ctx: C) => Promise<void> | void>) {
  return async (events: RecordedEvent[], ctx: C): Promise<void> => {
    for (const e of events) {
      const h = handlers[e.type];
      if (h) await h(e, ctx);
    }
  };
}
