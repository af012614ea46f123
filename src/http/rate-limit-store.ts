/**
 * A @fastify/rate-limit store that leases budget from Redis in blocks (issue 12: one Redis round
 * trip per request was a large share of every hot route's cost).
 *
 * Per key (client IP, IPv6 by /64; per route — or per group of routes — for routes with their own limit) and fixed window, a process
 * takes `lease` requests at once with one INCRBY (the window's TTL set by the first taker) and
 * spends them locally; the next block is taken when they are used up. Requests never exceed the
 * limit across processes: a block is reserved before any of it is spent, and the block that
 * crosses the limit is cut to what is left. The price is the other way: blocks leased and not
 * used in a window are lost to that window, so with N processes a client may be refused up to
 * N × lease − N requests early. The lease is limit/20 (at least 1, at most 50): a 600/min limit
 * leases 30, a 20/min auth limit leases 1 (exact, one round trip per request as before).
 * After a refusal the process remembers "over until the window ends" and answers without Redis.
 * The fast path (src/http/fast-edge.ts) spends from the same blocks with `spendNow`, never leasing.
 */
import type { Redis } from 'ioredis';

const LEASE_LUA = `
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {n, ttl}
`;

type Result = { current: number; ttl: number };
type Callback = (err: Error | null, res: Result | null) => void;
interface Entry {
  windowEnd: number;
  /** Requests this process may still spend in this window. */
  left: number;
  /** Best estimate of the window's count (cluster-wide at the last lease, plus local spending). */
  count: number;
  /** Callers waiting for a lease in flight. */
  waiting?: { cb: Callback; max: number }[];
}

interface LeaseRedis extends Redis {
  authledgerRateLease(key: string, lease: number, windowMs: number): Promise<[number, number]>;
}

export const MAX_LOCAL_ENTRIES = 50_000;

export function leaseSize(max: number): number {
  return Math.max(1, Math.min(50, Math.floor(max / 20)));
}

export function leasedRateLimitStore(redis: Redis, nameSpace: string) {
  const r = redis as LeaseRedis;
  if (typeof r.authledgerRateLease !== 'function') r.defineCommand('authledgerRateLease', { numberOfKeys: 1, lua: LEASE_LUA });

  return class LeasedStore {
    private readonly entries = new Map<string, Entry>();
    constructor(_opts?: unknown, private readonly key = nameSpace) {}

    incr(id: string, cb: Callback, timeWindow: number, max: number): void {
      const now = Date.now();
      const k = this.key + id;
      let e = this.entries.get(k);
      if (e && e.windowEnd <= now && !e.waiting) {
        this.entries.delete(k);
        e = undefined;
      }
      if (e?.waiting) {
        e.waiting.push({ cb, max });
        return;
      }
      if (e && e.left > 0) {
        e.left--;
        e.count++;
        return cb(null, { current: Math.min(e.count, max), ttl: e.windowEnd - now });
      }
      if (e && e.count > max) return cb(null, { current: e.count, ttl: e.windowEnd - now });
      this.lease(k, e, cb, timeWindow, max);
    }

    /**
     * The fast path's spend (src/http/fast-edge.ts): one request from a leased block with room, at
     * once, exactly as `incr` would count it; undefined whenever `incr` would ask Redis, wait for a
     * lease in flight, refuse or start a new window: then nothing is spent and `incr` decides.
     */
    spendNow(id: string, max: number): Result | undefined {
      const e = this.entries.get(this.key + id);
      const now = Date.now();
      if (!e || e.waiting || e.left <= 0 || e.windowEnd <= now) return undefined;
      e.left--;
      e.count++;
      return { current: Math.min(e.count, max), ttl: e.windowEnd - now };
    }

    private lease(k: string, prev: Entry | undefined, cb: Callback, timeWindow: number, max: number): void {
      const size = leaseSize(max);
      const e: Entry = prev ?? { windowEnd: Date.now() + timeWindow, left: 0, count: 0 };
      e.waiting = [{ cb, max }];
      if (!prev) {
        if (this.entries.size >= MAX_LOCAL_ENTRIES) this.entries.clear();
        this.entries.set(k, e);
      }
      r.authledgerRateLease(k, size, timeWindow).then(
        ([total, ttl]) => {
          const before = total - size;
          e.windowEnd = Date.now() + Math.max(0, ttl);
          e.left = Math.max(0, Math.min(size, max - before));
          // Past the limit: the estimate is the window's true total (for the headers / refusal).
          e.count = e.left > 0 ? before : total;
          const waiting = e.waiting ?? [];
          e.waiting = undefined;
          const over = total >= max;
          let i = 0;
          for (; i < waiting.length; i++) {
            const w = waiting[i]!;
            const now = Date.now();
            if (e.left > 0) {
              e.left--;
              e.count++;
              w.cb(null, { current: Math.min(e.count, w.max), ttl: e.windowEnd - now });
            } else if (over) {
              e.count = Math.max(e.count, w.max + 1);
              w.cb(null, { current: e.count, ttl: e.windowEnd - now });
            } else break;
          }
          // More callers queued than this block covers, and the window has room: the next block.
          if (i < waiting.length) {
            const [first, ...rest] = waiting.slice(i);
            this.lease(k, e, first!.cb, timeWindow, max);
            e.waiting!.push(...rest);
          }
        },
        (err: Error) => {
          this.entries.delete(k);
          const waiting = e.waiting ?? [];
          e.waiting = undefined;
          for (const w of waiting) w.cb(err, null);
        },
      );
    }

    // A route's own limit is its own budget, unless it names a group (`config.rateLimit.groupId`):
    // routes of one group share one budget (issue 20 §9: the seed aliases /auth/login and
    // /register spend their canonical route's). @fastify/rate-limit 11.2 appends the group to the
    // key but its stores still scope by route, so the group never shared (fastify-rate-limit#463).
    child(routeOptions: { groupId?: string; routeInfo: { method: string; url: string } }) {
      const scope = routeOptions.groupId !== undefined ? `group:${routeOptions.groupId}` : `${routeOptions.routeInfo.method}${routeOptions.routeInfo.url}`;
      return new LeasedStore(undefined, `${this.key}${scope}-`);
    }
  };
}
