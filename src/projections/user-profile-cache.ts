/**
 * Per-process cache of user profiles (the `user_profiles` read model, session-state.ts), in front
 * of the Redis hash that GET /api/v1/auth/me reads on every call. Rules enforced here:
 * - every write to a profile hash publishes the user id on `<prefix>user-changed` in the same Lua
 *   script as the write (stale applications too); hearing it drops the entry, and a read that was in
 *   flight when any message arrived is not kept (epoch), so a disabled, deleted or re-roled user is
 *   never answered from memory after Redis has the change;
 * - the command's own process drops the entry before the command answers (LocalCacheRegistry,
 *   topic USER_PROFILE_TOPIC): read-your-writes holds without waiting for the message;
 * - the cache is used only while its subscriber connection is up and subscribed: when it drops,
 *   the cache is emptied and bypassed (every read goes to Redis) until it is subscribed again —
 *   fail closed, a missed message cannot leave a stale profile in use;
 * - only profiles read from Redis are kept (never an absent hash, never the PostgreSQL fallback);
 *   entries also expire after PROFILE_CACHE_TTL_MS, and the map is bounded.
 */
import type { Redis } from 'ioredis';
import { SubscribedCache, type LocalCacheRegistry } from './local-caches';
import { parseUserProfile, USER_PROFILE_TOPIC, userChangedChannel, userProfileKey, type UserProfile } from './session-state';

export const PROFILE_CACHE_TTL_MS = 30_000;
const MAX_ENTRIES = 100_000;

export class UserProfileCache extends SubscribedCache {
  readonly topic = USER_PROFILE_TOPIC;
  private readonly entries = new Map<string, { value: UserProfile; at: number }>();

  private constructor(
    private readonly redis: Redis,
    readonly prefix: string,
    registry: LocalCacheRegistry,
  ) {
    super(registry);
  }

  /** `redis` serves the reads; a duplicate of it subscribes. Never throws: with Redis down it starts not live. */
  static async start(redis: Redis, prefix: string, registry: LocalCacheRegistry): Promise<UserProfileCache> {
    const cache = new UserProfileCache(redis, prefix, registry);
    await cache.subscribe(redis, userChangedChannel(prefix), { maxRetriesPerRequest: null });
    return cache;
  }

  invalidate(userId: string): void {
    this.epoch++;
    this.entries.delete(userId);
  }

  clear(): void {
    this.epoch++;
    this.entries.clear();
  }

  /** The profile from memory (live and fresh), else undefined: then `get` decides. For the fast path. */
  getNow(userId: string): UserProfile | undefined {
    if (!this.live) return undefined;
    const hit = this.entries.get(userId);
    return hit && Date.now() - hit.at < PROFILE_CACHE_TTL_MS ? hit.value : undefined;
  }

  /** The profile in Redis (from memory while live), or undefined when Redis has none. */
  async get(userId: string): Promise<UserProfile | undefined> {
    const now = Date.now();
    if (this.live) {
      const hit = this.entries.get(userId);
      if (hit && now - hit.at < PROFILE_CACHE_TTL_MS) return hit.value;
    }
    const epoch = this.epoch;
    const value = parseUserProfile(await this.redis.hgetall(userProfileKey(this.prefix, userId)));
    if (value && this.live && epoch === this.epoch) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
      this.entries.set(userId, { value: Object.freeze(value), at: now });
    }
    return value;
  }

}
