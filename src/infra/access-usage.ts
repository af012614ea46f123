/**
 * Per-key rate limiting and usage counting for the access check, and the fold of the counters
 * into PostgreSQL. Rules enforced here:
 * - one Redis round trip per access check (one Lua script): the rate-limit counter, and — when
 *   the check is granted — the per-day counters of the key and of the feature and the key's
 *   last use; the hot path appends no event and writes no database row;
 * - the limit is a fixed window of 60 s that starts with a key's first call in the window;
 *   `Retry-After` is the window's remaining seconds;
 * - `foldApiKeyUsage` moves the counters into `api_key_usage`, `api_key_last_used` and
 *   `feature_usage`; a counter is taken (renamed) atomically, so two folders never count it
 *   twice; if the database write fails the counts are put back.
 */
import type pg from 'pg';
import type { Redis } from 'ioredis';

export const RATE_WINDOW_SECONDS = 60;

const k = {
  rate: (p: string, keyId: string) => `${p}access:rl:${keyId}`,
  keyUsage: (p: string, keyId: string) => `${p}access:use:key:${keyId}`,
  featureUsage: (p: string, name: string) => `${p}access:use:feature:${name}`,
  dirtyKeys: (p: string) => `${p}access:use:dirty:keys`,
  dirtyFeatures: (p: string) => `${p}access:use:dirty:features`,
};

/**
 * KEYS: rate, keyUsage, featureUsage, dirtyKeys, dirtyFeatures.
 * ARGV: limit (0 = none), window seconds, day, now ms, key id, feature, granted (1/0).
 * Returns {allowed (1/0), retry-after seconds}.
 */
const HIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
local limit = tonumber(ARGV[1])
if limit > 0 and n > limit then
  local ttl = redis.call('TTL', KEYS[1])
  if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
  return {0, ttl}
end
if ARGV[7] == '1' then
  redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
  redis.call('HSET', KEYS[2], 'last', ARGV[4])
  redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
  redis.call('SADD', KEYS[4], ARGV[5])
  redis.call('SADD', KEYS[5], ARGV[6])
end
return {1, 0}`;

/** Takes a counter hash atomically: renames it away and returns its fields. */
const TAKE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
redis.call('RENAME', KEYS[1], KEYS[2])
local h = redis.call('HGETALL', KEYS[2])
redis.call('DEL', KEYS[2])
return h`;

type HitCommand = (k1: string, k2: string, k3: string, k4: string, k5: string, ...argv: string[]) => Promise<[number, number]>;

function hitCommand(redis: Redis): HitCommand {
  const r = redis as unknown as { alAccessHit?: HitCommand };
  if (!r.alAccessHit) redis.defineCommand('alAccessHit', { numberOfKeys: 5, lua: HIT });
  return (...args) => r.alAccessHit!.apply(redis, args);
}

export const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export interface HitResult {
  allowed: boolean;
  retryAfterSeconds: number;
}

/** Counts one access check of `keyId` for `feature`; `granted` decides whether usage is counted. */
export async function recordAccess(redis: Redis, prefix: string, limitPerMinute: number, keyId: string, feature: string, granted: boolean, now = Date.now()): Promise<HitResult> {
  const [allowed, retry] = await hitCommand(redis)(
    k.rate(prefix, keyId), k.keyUsage(prefix, keyId), k.featureUsage(prefix, feature), k.dirtyKeys(prefix), k.dirtyFeatures(prefix),
    String(limitPerMinute), String(RATE_WINDOW_SECONDS), utcDay(now), String(now), keyId, feature, granted ? '1' : '0',
  );
  return { allowed: allowed === 1, retryAfterSeconds: Math.max(1, Number(retry)) };
}

export interface UsageServices {
  pool: pg.Pool;
  redis: Redis;
  prefix: string;
}

async function take(redis: Redis, key: string): Promise<Record<string, number>> {
  const flat = (await redis.eval(TAKE, 2, key, `${key}:taking:${process.pid}:${Math.random().toString(36).slice(2)}`)) as string[];
  const out: Record<string, number> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = Number(flat[i + 1]);
  return out;
}

async function putBack(redis: Redis, key: string, dirtySet: string, member: string, counts: Record<string, number>): Promise<void> {
  const p = redis.multi();
  for (const [field, n] of Object.entries(counts)) {
    if (field === 'last') p.hset(key, field, String(n)); // a newer value may be lost; last-use is best effort
    else p.hincrby(key, field, n);
  }
  p.sadd(dirtySet, member);
  await p.exec();
}

/**
 * Folds Redis usage counters into PostgreSQL. Safe to run from several processes at once.
 * Returns how many keys and features were folded. (A cleanup job may call it; a timer does now.)
 */
export async function foldApiKeyUsage(services: UsageServices, batch = 500): Promise<{ keys: number; features: number }> {
  const { redis, pool, prefix } = services;
  let keys = 0;
  let features = 0;
  for (;;) {
    const ids = (await redis.spop(k.dirtyKeys(prefix), batch)) as string[];
    if (!ids.length) break;
    for (const keyId of ids) {
      const counts = await take(redis, k.keyUsage(prefix, keyId));
      if (!Object.keys(counts).length) continue;
      try {
        const { last, ...days } = counts;
        const entries = Object.entries(days);
        if (entries.length) {
          await pool.query(
            `INSERT INTO api_key_usage (key_id, day, count) SELECT $1, d::date, c FROM unnest($2::text[], $3::bigint[]) AS t(d, c)
             ON CONFLICT (key_id, day) DO UPDATE SET count = api_key_usage.count + EXCLUDED.count`,
            [keyId, entries.map(([d]) => d), entries.map(([, c]) => c)],
          );
        }
        if (last) {
          await pool.query(
            `INSERT INTO api_key_last_used (key_id, last_used_at) VALUES ($1, to_timestamp($2 / 1000.0))
             ON CONFLICT (key_id) DO UPDATE SET last_used_at = GREATEST(api_key_last_used.last_used_at, EXCLUDED.last_used_at)`,
            [keyId, last],
          );
        }
        keys++;
      } catch (err) {
        await putBack(redis, k.keyUsage(prefix, keyId), k.dirtyKeys(prefix), keyId, counts);
        throw err;
      }
    }
  }
  for (;;) {
    const names = (await redis.spop(k.dirtyFeatures(prefix), batch)) as string[];
    if (!names.length) break;
    for (const name of names) {
      const counts = await take(redis, k.featureUsage(prefix, name));
      const entries = Object.entries(counts);
      if (!entries.length) continue;
      try {
        await pool.query(
          `INSERT INTO feature_usage (feature, day, count) SELECT $1, d::date, c FROM unnest($2::text[], $3::bigint[]) AS t(d, c)
           ON CONFLICT (feature, day) DO UPDATE SET count = feature_usage.count + EXCLUDED.count`,
          [name, entries.map(([d]) => d), entries.map(([, c]) => c)],
        );
        features++;
      } catch (err) {
        await putBack(redis, k.featureUsage(prefix, name), k.dirtyFeatures(prefix), name, counts);
        throw err;
      }
    }
  }
  return { keys, features };
}

/** Counts not folded yet, for reads that want to be exact (query side adds them to the table's). */
export async function pendingKeyUsage(redis: Redis, prefix: string, keyIds: readonly string[]): Promise<Map<string, { days: Record<string, number>; last?: number }>> {
  const out = new Map<string, { days: Record<string, number>; last?: number }>();
  if (!keyIds.length) return out;
  const p = redis.pipeline();
  for (const id of keyIds) p.hgetall(k.keyUsage(prefix, id));
  const res = (await p.exec()) ?? [];
  keyIds.forEach((id, i) => {
    const h = (res[i]?.[1] ?? {}) as Record<string, string>;
    const { last, ...days } = h;
    out.set(id, { days: Object.fromEntries(Object.entries(days).map(([d, c]) => [d, Number(c)])), last: last ? Number(last) : undefined });
  });
  return out;
}

export async function pendingFeatureUsage(redis: Redis, prefix: string, names: readonly string[]): Promise<Map<string, Record<string, number>>> {
  const out = new Map<string, Record<string, number>>();
  if (!names.length) return out;
  const p = redis.pipeline();
  for (const n of names) p.hgetall(k.featureUsage(prefix, n));
  const res = (await p.exec()) ?? [];
  names.forEach((n, i) => {
    const h = (res[i]?.[1] ?? {}) as Record<string, string>;
    out.set(n, Object.fromEntries(Object.entries(h).map(([d, c]) => [d, Number(c)])));
  });
  return out;
}

/** Starts the fold timer for this process; returns a stop function. */
export function startUsageFolding(services: UsageServices & { log?: { warn(o: object, m?: string): void } }, intervalMs = 10_000): () => Promise<void> {
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = foldApiKeyUsage(services)
      .catch((err) => services.log?.warn({ err: (err as Error).message }, 'api key usage fold failed; will retry'))
      .finally(() => (running = undefined));
  }, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
