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
 * The fast path (src/http/fast-edge.ts) spends from the same blocks with `spendNow`, never waiting:
 * once half of a block is spent there, a background lease tops the holding up to one block (only
 * the difference, so a process never holds more than one block; blocks of 1 stay exact), as the
 * access meter does (docs/access.md "top-up"): under steady load the fast path rarely finds the
 * block spent. Callers of `incr` that find it spent wait for that lease, or take a whole block.
 */
import type { Redis } from 'ioredis';

const LEASE_LUA = `
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
local opened = 0
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
  opened = 1
end
return {n, ttl, opened}
`;

type Result = { current: number; ttl: number };
type Callback = (err: Error | null, res: Result | null) => void;
interface Entry {
  windowEnd: number;
  /** Requests this process may still spend in this window. */
  left: number;
  /** Best estimate of the window's count (cluster-wide at the last lease, plus local spending). */
  count: number;
  /** Set while a lease is in flight: the callers waiting for it (none for a top-up). */
  waiting?: { cb: Callback; max: number }[];
  windowMs: number;
  /** The last lease got less than it asked for (the window's limit is reached): no more top-ups. */
  full?: boolean;
}

interface LeaseRedis extends Redis {
  /** [the window's count, its ms left, 1 when this lease opened the window]. */
  authledgerRateLease(key: string, lease: number, windowMs: number): Promise<[number, number, number?]>;
}

export const MAX_LOCAL_ENTRIES = 50_000;

export function leaseSize(max: number): number {
  return Math.max(1, Math.min(50, Math.floor(max / 20)));
}

/**
 * Below this many requests held, `spendNow` tops the holding up. Blocks of 1 stay exact without a
 * rule of their own: each is spent by the caller that leased it, so `spendNow` never holds one.
 */
function refillBelow(max: number): number {
  return Math.ceil(leaseSize(max) / 2);
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
      if (e && e.left > 0 && e.windowEnd > now) {
        e.left--;
        e.count++;
        return cb(null, { current: Math.min(e.count, max), ttl: e.windowEnd - now });
      }
      if (e?.waiting) {
        e.waiting.push({ cb, max });
        return;
      }
      if (e && e.count > max) return cb(null, { current: e.count, ttl: e.windowEnd - now });
      this.lease(k, e, cb, timeWindow, max);
    }

    /**
     * The fast path's spend (src/http/fast-edge.ts): one request from a leased block with room, at
     * once, exactly as `incr` would count it; undefined whenever `incr` would ask Redis, wait for a
     * lease in flight, refuse or start a new window: then nothing is spent and `incr` decides.
     * Once half of the block is spent, a top-up lease starts in the background.
     */
    spendNow(id: string, max: number): Result | undefined {
      const k = this.key + id;
      const e = this.entries.get(k);
      const now = Date.now();
      if (!e || e.left <= 0 || e.windowEnd <= now) return undefined;
      e.left--;
      e.count++;
      const res = { current: Math.min(e.count, max), ttl: e.windowEnd - now };
      if (!e.waiting && !e.full && e.left < refillBelow(max)) this.lease(k, e, undefined, e.windowMs, max);
      return res;
    }

    /**
     * Leases what makes the holding one block again (a whole block when nothing is held): for `cb`
     * (and the callers that join while it is in flight), or, without one, a top-up. Requests still
     * held count only in their own window: when the lease opened a new one, they are dropped.
     */
    private lease(k: string, prev: Entry | undefined, cb: Callback | undefined, timeWindow: number, max: number): void {
      const size = leaseSize(max);
      const e: Entry = prev ?? { windowEnd: Date.now() + timeWindow, left: 0, count: 0, windowMs: timeWindow };
      e.waiting = cb ? [{ cb, max }] : [];
      if (!prev) {
        if (this.entries.size >= MAX_LOCAL_ENTRIES) this.entries.clear();
        this.entries.set(k, e);
      }
      const asked = size - Math.max(0, e.left);
      r.authledgerRateLease(k, asked, timeWindow).then(
        ([total, ttl, opened]) => {
          const before = total - asked;
          const now = Date.now();
          // Still the window what is held came from: not over here, not opened by this lease, and
          // ending when it was known to end (within a round trip; a window another process opened
          // after it ends at least about a window later).
          const held = e.left > 0 && now < e.windowEnd && opened !== 1 && now + ttl < e.windowEnd + timeWindow / 2 ? e.left : 0;
          const granted = Math.max(0, Math.min(asked, max - before));
          e.windowEnd = now + Math.max(0, ttl);
          e.windowMs = timeWindow;
          e.left = held + granted;
          e.full = granted < asked;
          // The window's count as seen from here: all it reserved but what this process still holds;
          // past the limit, its true total (for the headers / refusal).
          e.count = e.left > 0 ? before - held : total;
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
          // A failed top-up keeps what is held; a failed lease for callers forgets the key.
          if (e.left <= 0) this.entries.delete(k);
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
