/**
 * The API-key and feature usage read model: per-day call counts of a key and of a feature, and a
 * key's last use. Rules enforced here:
 * - the request path (src/queries/api-keys/meter.ts) only adds to Redis counters (`usageKeys`)
 *   and marks the key or feature dirty; nothing on it writes a database row;
 * - `foldApiKeyUsage` moves the counters into `api_key_usage`, `api_key_last_used` and
 *   `feature_usage`; a counter is taken (renamed) atomically, so two folders never count it
 *   twice; if the database write fails the counts are put back. The workers' `fold-api-key-usage`
 *   cleanup job runs it;
 * - readers add the counts not folded yet (src/queries/api-keys/usage.ts) to the table's.
 */
import type pg from 'pg';
import type { Redis } from 'ioredis';

/** The Redis layout of the counters not folded yet (hashes: day → count, and `last` for a key). */
export const usageKeys = {
  keyUsage: (p: string, keyId: string) => `${p}access:use:key:${keyId}`,
  featureUsage: (p: string, name: string) => `${p}access:use:feature:${name}`,
  dirtyKeys: (p: string) => `${p}access:use:dirty:keys`,
  dirtyFeatures: (p: string) => `${p}access:use:dirty:features`,
};
const k = usageKeys;

/** The counters' day: UTC. */
const DAY_MS = 86_400_000;
let lastDay = { from: 0, to: 0, day: '' };
/** The UTC day of `ms` (YYYY-MM-DD). The access check asks once per request: the last day is remembered. */
export function utcDay(ms: number): string {
  if (ms >= lastDay.from && ms < lastDay.to) return lastDay.day;
  const from = Math.floor(ms / DAY_MS) * DAY_MS;
  lastDay = { from, to: from + DAY_MS, day: new Date(ms).toISOString().slice(0, 10) };
  return lastDay.day;
}

/** Takes a counter hash atomically: renames it away and returns its fields. */
const TAKE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
redis.call('RENAME', KEYS[1], KEYS[2])
local h = redis.call('HGETALL', KEYS[2])
redis.call('DEL', KEYS[2])
return h`;

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
 * Returns how many keys and features were folded. Run by the workers' `fold-api-key-usage` cleanup job.
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

