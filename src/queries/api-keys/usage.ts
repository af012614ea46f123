/**
 * Query-side reads of the usage counters not folded into PostgreSQL yet (layout:
 * src/projections/api-key-usage.ts), for reads that want to be exact: they add these to the table's.
 */
import type { Redis } from 'ioredis';
import { usageKeys as k } from '../../projections/api-key-usage';

/**
 * HGETALL of each key, in one round trip: a lone key as a plain command (on an auto-pipelining
 * connection it shares the socket write of concurrent requests; an explicit pipeline never does).
 */
async function hashes(redis: Redis, keys: readonly string[]): Promise<Record<string, string>[]> {
  if (keys.length === 1) return [await redis.hgetall(keys[0]!)];
  const p = redis.pipeline();
  for (const key of keys) p.hgetall(key);
  const res = (await p.exec()) ?? [];
  return keys.map((_, i) => {
    const [err, h] = res[i] ?? [null, {}];
    if (err) throw err;
    return (h ?? {}) as Record<string, string>;
  });
}

/** Counts not folded yet, for reads that want to be exact (query side adds them to the table's). */
export async function pendingKeyUsage(redis: Redis, prefix: string, keyIds: readonly string[]): Promise<Map<string, { days: Record<string, number>; last?: number }>> {
  const out = new Map<string, { days: Record<string, number>; last?: number }>();
  if (!keyIds.length) return out;
  const res = await hashes(redis, keyIds.map((id) => k.keyUsage(prefix, id)));
  keyIds.forEach((id, i) => {
    const h = res[i]!;
    const { last, ...days } = h;
    out.set(id, { days: Object.fromEntries(Object.entries(days).map(([d, c]) => [d, Number(c)])), last: last ? Number(last) : undefined });
  });
  return out;
}

export async function pendingFeatureUsage(redis: Redis, prefix: string, names: readonly string[]): Promise<Map<string, Record<string, number>>> {
  const out = new Map<string, Record<string, number>>();
  if (!names.length) return out;
  const res = await hashes(redis, names.map((n) => k.featureUsage(prefix, n)));
  names.forEach((n, i) => {
    const h = res[i]!;
    out.set(n, Object.fromEntries(Object.entries(h).map(([d, c]) => [d, Number(c)])));
  });
  return out;
}
