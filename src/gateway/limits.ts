/**
 * The gateway's rate limits (a service's `rate_limit_per_minute` and its per-caller
 * `rate_limit_per_user_per_minute`), one fixed window of a minute per key. Rules:
 * - counted in Redis, in leased blocks (src/http/rate-limit-store.ts), so every gateway process
 *   spends one budget per key;
 * - the limiter's Redis client is connected when the gateway starts (`connect`, a bounded wait:
 *   a reachable Redis answers in milliseconds; one that is down costs the start at most
 *   `timeoutMs`, it is not waited for further). It has no offline queue: a check never queues
 *   behind a Redis that is down;
 * - a check Redis cannot answer (not connected yet, down, reconnecting) is **never skipped**: it is
 *   counted in this process instead (the same limit, a local fixed window per key), so while Redis
 *   is unreachable each gateway process enforces every limit on its own — with N processes a
 *   caller may get up to N × the limit, never unlimited, and no request is refused because Redis
 *   is down. Once Redis answers again the counting is Redis's again (a new window). The switch
 *   both ways is logged once per outage.
 */
import type { Redis } from 'ioredis';
import { connectRedis } from '../infra/redis';
import { leasedRateLimitStore } from '../http/rate-limit-store';

export interface LimitResult {
  /** Requests counted in the window so far, this one included. */
  current: number;
  /** Milliseconds to the window's end. */
  ttl: number;
  /** Counted in this process only (Redis did not answer). */
  local?: boolean;
}

type Store = { incr(id: string, cb: (err: Error | null, res: { current: number; ttl: number } | null) => void, windowMs: number, max: number): void };
type Log = { warn(o: object, m?: string): void; info(o: object, m?: string): void };

const WINDOW_MS = 60_000;
const MAX_LOCAL_KEYS = 50_000;

export class GatewayLimits {
  private readonly store: Store;
  private readonly local = new Map<string, { windowEnd: number; count: number }>();
  /** Since when checks are counted locally (undefined: Redis answers). */
  private degradedSince: number | undefined;

  constructor(private readonly redis: Redis, prefix: string, private readonly log?: Log) {
    const Store = leasedRateLimitStore(redis, prefix);
    this.store = new Store() as unknown as Store;
  }

  /**
   * Connects the client (it may be lazy); resolves within `timeoutMs` whether or not Redis is up
   * (also when the connection attempt itself would take longer: a host that drops packets).
   */
  async connect(timeoutMs: number): Promise<boolean> {
    const ok = await connectRedis(this.redis, timeoutMs).then(() => true, () => false);
    if (!ok) this.degrade(new Error(`Redis not ready within ${timeoutMs} ms`));
    return ok;
  }

  /** Whether checks are being counted in this process (Redis unreachable). */
  get degraded(): boolean {
    return this.degradedSince !== undefined;
  }

  /** Counts one request against `id` (limit `max` per minute). */
  check(id: string, max: number): Promise<LimitResult> {
    return new Promise((resolve) => {
      this.store.incr(id, (err, res) => {
        if (err || !res) return resolve(this.countLocally(id, err ?? new Error('no answer')));
        if (this.degradedSince !== undefined) {
          this.log?.info({ seconds: Math.round((Date.now() - this.degradedSince) / 1000) }, 'gateway: rate limits are counted in Redis again');
          this.degradedSince = undefined;
        }
        resolve(res);
      }, WINDOW_MS, max);
    });
  }

  private countLocally(id: string, err: Error): LimitResult {
    this.degrade(err);
    const now = Date.now();
    let e = this.local.get(id);
    if (!e || e.windowEnd <= now) {
      if (!e && this.local.size >= MAX_LOCAL_KEYS) this.local.clear();
      e = { windowEnd: now + WINDOW_MS, count: 0 };
      this.local.set(id, e);
    }
    e.count++;
    return { current: e.count, ttl: e.windowEnd - now, local: true };
  }

  private degrade(err: Error): void {
    if (this.degradedSince !== undefined) return;
    this.degradedSince = Date.now();
    this.local.clear();
    this.log?.warn({ err }, 'gateway: Redis does not answer the rate-limit checks; each process counts them on its own until it does');
  }
}
