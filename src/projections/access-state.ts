/**
 * The access-check state of API keys and features in Redis — its layout, its writer (the
 * `access-state` projection, run by the projector and inline by the command runner) and its
 * readers (the per-process cache in front of it, the access check). Rules enforced here:
 * - Redis holds, per key and per feature, only what the access check needs (never a key, only
 *   its SHA-256), each field tagged with the stream revision that wrote it; a field write with an older or
 *   equal revision is ignored, so the command's inline write (read-your-writes) and the
 *   `access-state` projection (below) can both apply, in any order;
 * - every write is followed, in the same MULTI, by a PUBLISH on the invalidation channel; every
 *   API process drops its cached copy when it hears it (revocation visible everywhere in ≪ 1 s);
 * - the cache is used only while its subscriber connection is up; when it is down the cache is
 *   emptied and bypassed (every check reads Redis), so a missed invalidation cannot leave a
 *   revoked key usable — fail closed. Entries also expire after CACHE_TTL_MS as a safety net.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import type { RedisProjection } from './types';
import { fieldGuardLua } from './session-state';
import { SubscribedCache, type LocalCacheRegistry } from './local-caches';

export const CACHE_TTL_MS = 30_000;
const CACHE_MAX_ENTRIES = 100_000;

export const accessKeys = {
  key: (prefix: string, keyId: string) => `${prefix}access:key:${keyId}`,
  userKeys: (prefix: string, userId: string) => `${prefix}access:userkeys:${userId}`,
  feature: (prefix: string, name: string) => `${prefix}access:feature:${name}`,
  channel: (prefix: string) => `${prefix}access:invalidate`,
};

/** KEYS[1]=hash, ARGV[1]=rev, then pairs: the field-level revision guard (session-state.ts). */
const SET_IF_NEWER = `${fieldGuardLua(2)}
if newer then return 1 end
return 0`;

export interface KeyStateWrite {
  kind: 'key';
  keyId: string;
  userId: string;
  revision: bigint;
  fields: Record<string, string>;
}
export interface FeatureStateWrite {
  kind: 'feature';
  name: string;
  revision: bigint;
  fields: Record<string, string>;
}
export type AccessStateWrite = KeyStateWrite | FeatureStateWrite;

/** Minimal event shape: recorded events, or events the command just appended with their revision. */
export interface RevisionedEvent {
  type: string;
  data: unknown;
  revision: bigint;
}

/** The Redis writes one event implies (deltas; the revision guard keeps them monotonic). */
export function accessWritesFor(event: RevisionedEvent): AccessStateWrite | undefined {
  const d = event.data as Record<string, unknown>;
  switch (event.type) {
    case 'ApiKeyIssued':
      return {
        kind: 'key', keyId: String(d.keyId), userId: String(d.userId), revision: event.revision,
        fields: {
          u: String(d.userId), h: String(d.secretHash), f: JSON.stringify(d.features),
          e: d.expiresAt ? String(Date.parse(String(d.expiresAt))) : '', s: 'active',
        },
      };
    case 'ApiKeyRevoked':
      return { kind: 'key', keyId: String(d.keyId), userId: String(d.userId), revision: event.revision, fields: { s: 'revoked' } };
    case 'ApiKeyExpired':
      return { kind: 'key', keyId: String(d.keyId), userId: String(d.userId), revision: event.revision, fields: { s: 'expired' } };
    case 'FeatureRegistered':
      return { kind: 'feature', name: String(d.name), revision: event.revision, fields: { s: 'active', en: '1' } };
    case 'FeatureUpdated':
      return { kind: 'feature', name: String(d.name), revision: event.revision, fields: {} };
    case 'FeatureDisabled':
      return { kind: 'feature', name: String(d.name), revision: event.revision, fields: { en: '0' } };
    case 'FeatureEnabled':
      return { kind: 'feature', name: String(d.name), revision: event.revision, fields: { en: '1' } };
    case 'FeatureDeleted':
      return { kind: 'feature', name: String(d.name), revision: event.revision, fields: { s: 'deleted', en: '0' } };
    default:
      return undefined;
  }
}

export const ACCESS_STATE_EVENTS = [
  'ApiKeyIssued', 'ApiKeyRevoked', 'ApiKeyExpired',
  'FeatureRegistered', 'FeatureUpdated', 'FeatureDisabled', 'FeatureEnabled', 'FeatureDeleted',
] as const;

/** Queues the writes and their invalidation messages on a MULTI or pipeline. */
export function queueAccessWrites(target: ChainableCommander, prefix: string, writes: readonly AccessStateWrite[]): void {
  for (const w of writes) {
    const pairs = Object.entries(w.fields).flat();
    if (w.kind === 'key') {
      target.eval(SET_IF_NEWER, 1, accessKeys.key(prefix, w.keyId), w.revision.toString(), ...pairs);
      target.sadd(accessKeys.userKeys(prefix, w.userId), w.keyId);
      target.publish(accessKeys.channel(prefix), `k:${w.keyId}`);
    } else {
      if (pairs.length) target.eval(SET_IF_NEWER, 1, accessKeys.feature(prefix, w.name), w.revision.toString(), ...pairs);
      target.publish(accessKeys.channel(prefix), `f:${w.name}`);
    }
  }
}

const messageOf = (w: AccessStateWrite) => (w.kind === 'key' ? `k:${w.keyId}` : `f:${w.name}`);

/**
 * Applies writes now (the command's inline, read-your-writes application), and drops the entries
 * from this process's caches at once — the pub/sub message reaches the other processes (and this
 * one again) a moment later, so the command's own next request is never answered from a stale entry.
 */
export async function applyAccessWrites(redis: Redis, prefix: string, writes: readonly AccessStateWrite[], localCaches?: LocalCacheRegistry): Promise<void> {
  if (!writes.length) return;
  const multi = redis.multi();
  queueAccessWrites(multi, prefix, writes);
  try {
    const result = await multi.exec();
    const failed = result?.find(([err]) => err);
    if (failed) throw failed[0];
  } finally {
    localCaches?.invalidate(prefix, writes.map(messageOf));
  }
}

/** Ids of every key ever issued to a user (for revoking them all). */
export async function keyIdsOfUser(redis: Redis, prefix: string, userId: string): Promise<string[]> {
  return redis.smembers(accessKeys.userKeys(prefix, userId));
}

export interface KeyRecord {
  userId: string;
  /** SHA-256 hex of the whole key. */
  hash: string;
  /** The same digest as bytes (decoded once per record, for constant-time comparison). */
  hashBytes: Buffer;
  features: '*' | ReadonlySet<string>;
  /** ms since epoch, or null for keys that never expire. */
  expiresAt: number | null;
  status: 'active' | 'revoked' | 'expired';
}
export interface FeatureRecord {
  exists: boolean;
  enabled: boolean;
}

function toKeyRecord(h: Record<string, string>): KeyRecord | null {
  if (!h.u || !h.h || !h.s) return null;
  let features: KeyRecord['features'];
  try {
    const f = JSON.parse(h.f ?? '[]') as unknown;
    features = f === '*' ? '*' : new Set(Array.isArray(f) ? f.map(String) : []);
  } catch {
    features = new Set();
  }
  const status = h.s === 'active' || h.s === 'revoked' || h.s === 'expired' ? h.s : 'revoked';
  return { userId: h.u, hash: h.h, hashBytes: Buffer.from(h.h, 'hex'), features, expiresAt: h.e ? Number(h.e) : null, status };
}

function toFeatureRecord(h: Record<string, string>): FeatureRecord {
  return { exists: h.s === 'active', enabled: h.s === 'active' && h.en === '1' };
}

/** One key's record read from Redis, no cache (callers off the hot path: token introspection's API-key client auth). */
export async function loadKeyRecord(redis: Redis, prefix: string, keyId: string): Promise<KeyRecord | null> {
  return toKeyRecord(await redis.hgetall(accessKeys.key(prefix, keyId)));
}

type Entry<T> = { value: T; at: number };

/**
 * Per-process cache of key and feature state, invalidated through Redis pub/sub. One per API
 * process (the access routes create it and close it with the app); it joins the process's
 * LocalCacheRegistry so this process's commands drop its entries at once.
 */
export class AccessStateCache extends SubscribedCache {
  private readonly keys = new Map<string, Entry<KeyRecord | null>>();
  private readonly features = new Map<string, Entry<FeatureRecord>>();

  private constructor(
    private readonly redis: Redis,
    readonly prefix: string,
    registry: LocalCacheRegistry,
  ) {
    super(registry);
  }

  static async start(redis: Redis, prefix: string, registry: LocalCacheRegistry): Promise<AccessStateCache> {
    const cache = new AccessStateCache(redis, prefix, registry);
    await cache.subscribe(redis, accessKeys.channel(prefix));
    return cache;
  }

  invalidate(message: string): void {
    this.epoch++;
    if (message.startsWith('k:')) this.keys.delete(message.slice(2));
    else if (message.startsWith('f:')) this.features.delete(message.slice(2));
    else this.clear();
  }

  clear(): void {
    this.epoch++;
    this.keys.clear();
    this.features.clear();
  }

  /**
   * The cached record when it is in memory and fresh (null: cached as unknown), else undefined —
   * then `key` reads it. The same entries and rules as `key`, without a promise (the fast path).
   */
  keyNow(keyId: string): KeyRecord | null | undefined {
    const hit = this.live ? this.keys.get(keyId) : undefined;
    return hit && Date.now() - hit.at < CACHE_TTL_MS ? hit.value : undefined;
  }

  /** Like keyNow, for a feature. */
  featureNow(name: string): FeatureRecord | undefined {
    const hit = this.live ? this.features.get(name) : undefined;
    return hit && Date.now() - hit.at < CACHE_TTL_MS ? hit.value : undefined;
  }

  async key(keyId: string): Promise<KeyRecord | null> {
    const now = Date.now();
    const hit = this.live ? this.keys.get(keyId) : undefined;
    if (hit && now - hit.at < CACHE_TTL_MS) return hit.value;
    const epoch = this.epoch;
    const value = toKeyRecord(await this.redis.hgetall(accessKeys.key(this.prefix, keyId)));
    if (this.live && epoch === this.epoch) {
      if (this.keys.size >= CACHE_MAX_ENTRIES) this.keys.clear();
      this.keys.set(keyId, { value, at: now });
    }
    return value;
  }

  async feature(name: string): Promise<FeatureRecord> {
    const now = Date.now();
    const hit = this.live ? this.features.get(name) : undefined;
    if (hit && now - hit.at < CACHE_TTL_MS) return hit.value;
    const epoch = this.epoch;
    const value = toFeatureRecord(await this.redis.hgetall(accessKeys.feature(this.prefix, name)));
    if (this.live && epoch === this.epoch) {
      if (this.features.size >= CACHE_MAX_ENTRIES) this.features.clear();
      this.features.set(name, { value, at: now });
    }
    return value;
  }

}

/**
 * The `access-state` projection, with an invalidation message per change in the same MULTI as
 * the checkpoint. Inline (src/commands/decider.ts) it also drops this process's cached entries at
 * once (`afterInline`), before the command answers.
 */
export const accessStateProjection: RedisProjection = {
  kind: 'redis',
  name: 'access-state',
  handles: ACCESS_STATE_EVENTS,
  async apply(events, { multi, key }) {
    queueAccessWrites(multi, key(''), writesOf(events));
  },
  afterInline(events, { prefix, localCaches }) {
    localCaches.invalidate(prefix, writesOf(events).map(messageOf));
  },
};

const writesOf = (events: readonly RevisionedEvent[]) => events.map(accessWritesFor).filter((w): w is AccessStateWrite => !!w);
