/**
 * The process's infrastructure clients, created once and shared by every role.
 * Tests create their own with a private database and Redis prefix.
 */
import type pg from 'pg';
import type { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import type { Config } from './config';
import type { EventStore } from './events/store';
import { createPool, ensureDatabase, migrate } from './infra/db';
import { createEventStore } from './infra/event-store';
import { connectRedis, createRedis } from './infra/redis';
import { createLogger } from './infra/logger';
import { createInlineProjections, type InlineProjections } from './projections/inline';
import { countAppends } from './infra/metrics';

export interface Services {
  config: Config;
  log: Logger;
  pool: pg.Pool;
  redis: Redis;
  store: EventStore;
  /** Redis key prefix: every key this process writes starts with it. */
  prefix: string;
  /** The inline projections the command runner applies, and the local caches they invalidate. */
  inline: InlineProjections;
  close(): Promise<void>;
}

export async function createServices(config: Config, opts: { log?: Logger; migrate?: boolean } = {}): Promise<Services> {
  const log = opts.log ?? createLogger(config);
  if (opts.migrate !== false) {
    await ensureDatabase(config.DATABASE_URL);
    await migrate(config.DATABASE_URL, (m) => log.debug({ migration: m }, 'migrate'));
  }
  const pool = createPool(config.DATABASE_URL, config.DATABASE_POOL_SIZE, (err) => log.warn({ err: err.message }, 'idle PostgreSQL client error'));
  const redis = createRedis(config.REDIS_URL);
  await connectRedis(redis);
  const store = countAppends(await createEventStore(config, pool, log));
  return {
    config,
    log,
    pool,
    redis,
    store,
    prefix: config.REDIS_PREFIX,
    inline: createInlineProjections(config),
    async close() {
      await store.close().catch(() => undefined);
      redis.disconnect();
      await pool.end().catch(() => undefined);
    },
  };
}

export const silentLogger = (): Logger => pino({ level: 'silent' });
