/**
 * One Fastify plugin per infrastructure client. Each decorates the instance with its client; the
 * clients themselves are created (and closed) by src/services.ts, so tests can pass their own.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services';
import type pg from 'pg';
import type { Redis } from 'ioredis';
import { closeRedis, connectRedis } from '../../infra/redis';
import type { Config } from '../../config';
import type { EventStore } from '../../events/store';
import type { InlineProjections } from '../../projections/inline';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    pg: pg.Pool;
    redis: Redis;
    eventStore: EventStore;
    /**
     * A second Redis connection with auto-pipelining, for the reads of query requests (/me, the
     * session's read-your-writes position, the usage counts not folded yet): concurrent requests share one
     * socket write. Reads through it see every acknowledged write (Redis orders commands across
     * connections). Not for writes or scripts: those stay on `redis`.
     */
    redisReads: Redis;
    /** Redis key prefix of this deployment. */
    redisPrefix: string;
    /** The inline projections the command runner applies (and the local caches they invalidate). */
    inlineProjections: InlineProjections;
  }
}

export const configPlugin = fp<{ config: Config }>(async (app, opts) => {
  app.decorate('config', opts.config);
}, { name: 'config' });

export const pgPlugin = fp<{ pool: pg.Pool }>(async (app, opts) => {
  app.decorate('pg', opts.pool);
}, { name: 'pg' });

export const redisPlugin = fp<{ redis: Redis; prefix: string }>(async (app, opts) => {
  app.decorate('redis', opts.redis);
  app.decorate('redisPrefix', opts.prefix);
  const reads = opts.redis.duplicate({ enableAutoPipelining: true });
  reads.on('error', () => undefined);
  // Connected before the first request when Redis is up; with Redis down the app still starts at
  // once and the reads answer 503 until the connection is back (no offline queue).
  const connecting = connectRedis(reads, 3000).catch(() => undefined);
  if (opts.redis.status === 'ready') await connecting;
  app.decorate('redisReads', reads);
  app.addHook('onClose', async () => closeRedis(reads));
}, { name: 'redis' });

export const eventStorePlugin = fp<{ store: EventStore }>(async (app, opts) => {
  app.decorate('eventStore', opts.store);
}, { name: 'event-store', dependencies: ['pg'] });

export const inlineProjectionsPlugin = fp<{ inline: InlineProjections }>(async (app, opts) => {
  app.decorate('inlineProjections', opts.inline);
}, { name: 'inline-projections' });

/** Every infrastructure plugin above, from the process's services (the API and the gateway app). */
export async function registerInfra(app: FastifyInstance, services: Pick<Services, 'config' | 'pool' | 'redis' | 'prefix' | 'store' | 'inline'>): Promise<void> {
  await app.register(configPlugin, { config: services.config });
  await app.register(pgPlugin, { pool: services.pool });
  await app.register(redisPlugin, { redis: services.redis, prefix: services.prefix });
  await app.register(eventStorePlugin, { store: services.store });
  await app.register(inlineProjectionsPlugin, { inline: services.inline });
}
