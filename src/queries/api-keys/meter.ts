/**
 * The per-key rate limiter and usage meter of the access check (the request path). Rules:
 * - the hot path appends no event and writes no database row, and usually does no Redis I/O:
 *   each process leases slices of a key's per-minute budget from one shared Redis counter
 *   (`LEASE`: INCRBY of a slice, capped by the limit) and spends them in memory; a slice is at
 *   most 1/20 of the limit (and ≤ 100), so at most that much per process can go unused at the
 *   end of a window, and never more than the limit is granted in a window across processes;
 * - once half of what a process holds is spent by checks granted from memory (`grantNow`), it
 *   tops its holding up to one slice in the background (leasing only the difference, so it never
 *   holds more than a slice; not with slices of 1, which stay exact): under steady load a check
 *   rarely waits for a lease;
 * - the window is a fixed 60 s that starts with a key's first lease in it; over the limit the
 *   answer is refused until the window ends, `Retry-After` being the seconds left;
 * - usage (per-day calls of a key and of a feature, last use of a key; granted checks only) is
 *   counted in memory and added to the usage read model's Redis counters
 *   (src/projections/api-key-usage.ts) every second and when the process stops.
 */
import type { Redis } from 'ioredis';
import { usageKeys, utcDay } from '../../projections/api-key-usage';

export const RATE_WINDOW_SECONDS = 60;
/** A window's end measured twice (now + PTTL) differs by up to a round trip; a new window ends a window later. */
const WINDOW_END_SLACK_MS = 5_000;

const k = {
  ...usageKeys,
  rate: (p: string, keyId: string) => `${p}access:rl:${keyId}`,
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
  /** Below this many calls held, a top-up lease starts in the background. */
  private readonly refillBelow: number;
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly limitPerMinute: number,
    flushEveryMs = 1000,
  ) {
    this.slice = Math.max(1, Math.min(100, Math.floor(limitPerMinute / 20)));
    // Slices of 1 (limits below 40) stay exact: nothing is held between checks.
    this.refillBelow = this.slice > 1 ? Math.ceil(this.slice / 2) : 0;
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

  /**
   * `hit(keyId, feature, true)` when it needs no Redis and grants (unlimited, or the leased slice
   * has calls left): spent and counted; else undefined and nothing changed (then call `hit`).
   */
  grantNow(keyId: string, feature: string): true | undefined {
    const now = Date.now();
    if (this.limitPerMinute > 0) {
      const b = this.budgets.get(keyId);
      if (!b || !(b.remaining > 0 && now < b.until)) return undefined;
      b.remaining--;
      this.topUp(keyId, b, now);
    }
    this.count(keyId, feature, now);
    return true;
  }

  /**
   * Starts a background lease when the holding runs low (not while the shared budget is spent).
   * From grantNow only: callers queued in `spend` (a burst) take whole slices, as before.
   */
  private topUp(keyId: string, b: Budget, now: number): void {
    if (b.remaining >= this.refillBelow || b.leasing || now < b.blockedUntil) return;
    b.leasing = this.lease(keyId, b).catch(() => undefined).finally(() => {
      b.leasing = undefined;
    });
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

  /**
   * Leases what makes the holding one slice again. Calls still held count only in their own
   * window: when the lease opened a new one (the counter had expired), they are dropped.
   */
  private async lease(keyId: string, b: Budget): Promise<void> {
    const held = b.remaining > 0 && Date.now() < b.until ? b.remaining : 0;
    if (held >= this.slice) return;
    const [granted, ttl] = (await this.redis.eval(LEASE, 1, k.rate(this.prefix, keyId), this.slice - held, this.limitPerMinute, RATE_WINDOW_SECONDS * 1000)) as [number, number];
    const now = Date.now();
    const until = now + Number(ttl);
    // Same window: its end, measured again, within a round trip of the one known.
    const sameWindow = b.remaining > 0 && now < b.until && until < b.until + WINDOW_END_SLACK_MS;
    if (!sameWindow) b.remaining = 0;
    if (granted > 0) {
      b.remaining += granted;
      b.until = sameWindow ? Math.min(b.until, until) : until;
    } else b.blockedUntil = until;
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
