/**
 * Query-side reads of the usage counters not folded into PostgreSQL yet (layout:
 * src/projections/api-key-usage.ts), for reads that want to be exact: they add these to the table's.
 */
import type { Redis } from 'ioredis';
import { usageKeys as k } from '../../projections/api-key-usage';

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
