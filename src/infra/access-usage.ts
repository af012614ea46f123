/**
 * Per-key rate limiting and usage counting for the access check, and the fold of the counters
 * into PostgreSQL. Rules enforced here:
 * - the hot path appends no event and writes no database row, and usually does no Redis I/O:
 *   each process leases slices of a key's per-minute budget from one shared Redis counter
 *   (`LEASE`: INCRBY of a slice, capped by the limit) and spends them in memory; a slice is at
 *   most 1/20 of the limit (and ≤ 100), so at most that much per process can go unused at the
 *   end of a window, and never more than the limit is granted in a window across processes;
 * - the window is a fixed 60 s that starts with a key's first lease in it; over the limit the
 *   answer is refused until the window ends, `Retry-After` being the seconds left;
 * - usage (per-day calls of a key and of a feature, last use of a key; granted checks only) is
 *   counted in memory and added to Redis counters every second (and when the process stops);
 * - `foldApiKeyUsage` moves the Redis counters into `api_key_usage`, `api_key_last_used` and
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
 * KEYS[1]: the key's window counter. ARGV: slice, limit, window ms.
 * Returns {granted calls (0..slice), window ms left}.
 */
const LEASE = `
local slice = tonumber(ARGV[1])
local n = redis.call('INCRBY', KEYS[1], slice)
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]); ttl = tonumber(ARGV[3]) end
local granted = math.min(slice, tonumber(ARGV[2]) - (n - slice))
if granted < 0 then granted = 0 end
return {granted, ttl}`;

/** Takes a counter hash atomically: renames it away and returns its fields. */
const TAKE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
redis.call('RENAME', KEYS[1], KEYS[2])
local h = redis.call('HGETALL', KEYS[2])
redis.call('DEL', KEYS[2])
return h`;

export const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export interface HitResult {
  allowed: boolean;
  retryAfterSeconds: number;
}

interface Budget {
  /** Calls leased and not spent yet, valid until `until`. */
  remaining: number;
  until: number;
  /** The shared budget is spent until then. */
  blockedUntil: number;
  leasing?: Promise<void>;
}

/**
 * One per API process: the per-key rate limiter (leased budgets) and the usage counters.
 * `hit()` answers from memory unless this process's slice of the key's budget is spent.
 */
export class AccessMeter {
  private readonly budgets = new Map<string, Budget>();
  private keyUse = new Map<string, { days: Map<string, number>; last: number }>();
  private featureUse = new Map<string, Map<string, number>>();
  private readonly slice: number;
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly limitPerMinute: number,
    flushEveryMs = 1000,
  ) {
    this.slice = Math.max(1, Math.min(100, Math.floor(limitPerMinute / 20)));
    this.timer = setInterval(() => void this.flush().catch(() => undefined), flushEveryMs);
    this.timer.unref();
  }

  /** Spends one call of `keyId`'s budget (when limited) and counts the use when `granted`. */
  async hit(keyId: string, feature: string, granted: boolean): Promise<HitResult> {
    if (this.limitPerMinute > 0) {
      const verdict = await this.spend(keyId);
      if (!verdict.allowed) return verdict;
    }
    if (granted) this.count(keyId, feature, Date.now());
    return { allowed: true, retryAfterSeconds: 0 };
  }

  private async spend(keyId: string): Promise<HitResult> {
    // A slice may be spent by concurrent callers before this one gets its turn: lease again.
    for (let attempt = 0; attempt < 10; attempt++) {
      const now = Date.now();
      let b = this.budgets.get(keyId);
      if (!b) {
        b = { remaining: 0, until: 0, blockedUntil: 0 };
        this.budgets.set(keyId, b);
      }
      if (b.remaining > 0 && now < b.until) {
        b.remaining--;
        return { allowed: true, retryAfterSeconds: 0 };
      }
      if (now < b.blockedUntil) return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((b.blockedUntil - now) / 1000)) };
      // Lease a new slice; concurrent callers share one round trip.
      b.leasing ??= this.lease(keyId, b).finally(() => {
        b!.leasing = undefined;
      });
      await b.leasing;
    }
    // Leases keep being taken by concurrent callers of this process: treat as spent for now.
    return { allowed: false, retryAfterSeconds: 1 };
  }

  private async lease(keyId: string, b: Budget): Promise<void> {
    const [granted, ttl] = (await this.redis.eval(LEASE, 1, k.rate(this.prefix, keyId), this.slice, this.limitPerMinute, RATE_WINDOW_SECONDS * 1000)) as [number, number];
    const until = Date.now() + Number(ttl);
    if (granted > 0) {
      b.remaining = granted;
      b.until = until;
    } else {
      b.remaining = 0;
      b.blockedUntil = until;
    }
  }

  private count(keyId: string, feature: string, now: number): void {
    const day = utcDay(now);
    let ku = this.keyUse.get(keyId);
    if (!ku) this.keyUse.set(keyId, (ku = { days: new Map(), last: 0 }));
    ku.days.set(day, (ku.days.get(day) ?? 0) + 1);
    if (now > ku.last) ku.last = now;
    let fu = this.featureUse.get(feature);
    if (!fu) this.featureUse.set(feature, (fu = new Map()));
    fu.set(day, (fu.get(day) ?? 0) + 1);
  }

  /** Adds the counts of this process to the Redis counters (also drops stale budgets). */
  async flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = this.flushNow().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async flushNow(): Promise<void> {
    const now = Date.now();
    for (const [id, b] of this.budgets) if (b.until < now && b.blockedUntil < now && !b.leasing) this.budgets.delete(id);
    if (!this.keyUse.size && !this.featureUse.size) return;
    const keyUse = this.keyUse;
    const featureUse = this.featureUse;
    this.keyUse = new Map();
    this.featureUse = new Map();
    const m = this.redis.multi();
    for (const [id, u] of keyUse) {
      for (const [day, n] of u.days) m.hincrby(k.keyUsage(this.prefix, id), day, n);
      m.hset(k.keyUsage(this.prefix, id), 'last', String(u.last));
      m.sadd(k.dirtyKeys(this.prefix), id);
    }
    for (const [name, days] of featureUse) {
      for (const [day, n] of days) m.hincrby(k.featureUsage(this.prefix, name), day, n);
      m.sadd(k.dirtyFeatures(this.prefix), name);
    }
    try {
      const res = await m.exec();
      const failed = res?.find(([err]) => err);
      if (failed) throw failed[0];
    } catch (err) {
      // Keep the counts for the next flush (merged with what came meanwhile).
      for (const [id, u] of keyUse) for (const [day, n] of u.days) this.count2(id, day, n, u.last);
      for (const [name, days] of featureUse) {
        let fu = this.featureUse.get(name);
        if (!fu) this.featureUse.set(name, (fu = new Map()));
        for (const [day, n] of days) fu.set(day, (fu.get(day) ?? 0) + n);
      }
      throw err;
    }
  }

  private count2(keyId: string, day: string, n: number, last: number): void {
    let ku = this.keyUse.get(keyId);
    if (!ku) this.keyUse.set(keyId, (ku = { days: new Map(), last: 0 }));
    ku.days.set(day, (ku.days.get(day) ?? 0) + n);
    if (last > ku.last) ku.last = last;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush().catch(() => undefined);
  }
}

/**
 * The same accounting in one Redis round trip, without the in-memory leases: spends one call of
 * the key's window (limit 0 = none) and, when granted, counts the use straight into the Redis
 * counters. For tools and tests; the API uses an AccessMeter.
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

export async function recordAccess(redis: Redis, prefix: string, limitPerMinute: number, keyId: string, feature: string, granted: boolean, now = Date.now()): Promise<HitResult> {
  const [allowed, retry] = (await redis.eval(
    HIT, 5, k.rate(prefix, keyId), k.keyUsage(prefix, keyId), k.featureUsage(prefix, feature), k.dirtyKeys(prefix), k.dirtyFeatures(prefix),
    String(limitPerMinute), String(RATE_WINDOW_SECONDS), utcDay(now), String(now), keyId, feature, granted ? '1' : '0',
  )) as [number, number];
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
