/**
 * The Redis epoch marker: how the system notices that Redis lost its data (issue 21). Rules:
 * - one hash, `<prefix>projection:redis-epoch`, written by the Redis projections' runners: the
 *   field `epoch:<projection>` in the same MULTI as every checkpoint write, and `live:<projection>`
 *   once the runner has caught up with the log;
 * - Redis came back empty (no persistence, a failover to an empty replica, FLUSHALL): the marker is
 *   gone with the checkpoints, so the Redis projections replay from position 0; a checkpoint that
 *   survived without its `epoch:` field (partial loss, or an operator deleting the marker to force
 *   a rebuild) is reset to 0 too;
 * - until every Redis projection is `live` again — and only when it still has events to apply —
 *   Redis is `rebuilding`: `/ready` answers 503 with `redis_state: rebuilding`, and the session
 *   gate asks the log about sessions it cannot find in Redis (src/http/session-gate.ts).
 */
import type { ChainableCommander, Redis } from 'ioredis';

export const redisEpochKey = (prefix: string) => `${prefix}projection:redis-epoch`;
const epochField = (name: string) => `epoch:${name}`;
const liveField = (name: string) => `live:${name}`;

export type RedisState = 'ok' | 'rebuilding';

/** Queued with a checkpoint write: this checkpoint belongs to the marker's epoch. */
export function queueEpoch(multi: ChainableCommander, prefix: string, name: string): void {
  multi.hset(redisEpochKey(prefix), epochField(name), '1');
}

/** True when the projection's checkpoint must be ignored (its marker field is gone). */
export async function checkpointOrphaned(redis: Redis, prefix: string, name: string): Promise<boolean> {
  return (await redis.hexists(redisEpochKey(prefix), epochField(name))) === 0;
}

/** The runner reached the head of the log. */
export async function markLive(redis: Redis, prefix: string, name: string): Promise<void> {
  await redis.hset(redisEpochKey(prefix), liveField(name), '1');
}

/** Which of `names` have not caught up since Redis last lost its data. */
export async function notLive(redis: Redis, prefix: string, names: readonly string[]): Promise<string[]> {
  if (!names.length) return [];
  const values = await redis.hmget(redisEpochKey(prefix), ...names.map(liveField));
  return names.filter((_, i) => values[i] !== '1');
}
