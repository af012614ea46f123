/**
 * The process-local caches of read models (the access-state cache of the access check, the user
 * profile cache of /me).
 * A command's inline projection drops their entries before the command answers, so the process
 * that wrote never serves its own stale entry (other processes hear of it through pub/sub).
 * Rules: one registry per `Services` (created with it in src/services.ts, i.e. by whoever composes
 * the process) and handed to the caches and the inline projections explicitly — no module state.
 */
import type { Redis, RedisOptions } from 'ioredis';

export interface LocalCache {
  /** Redis key prefix of the deployment the cache reads. */
  readonly prefix: string;
  /** The read model it caches (default 'access': the access-state cache); messages go to caches of their topic only. */
  readonly topic?: string;
  /** Drops what an invalidation message (the read model's own format) names. */
  invalidate(message: string): void;
}

export class LocalCacheRegistry {
  private readonly caches = new Set<LocalCache>();

  add(cache: LocalCache): void {
    this.caches.add(cache);
  }

  delete(cache: LocalCache): void {
    this.caches.delete(cache);
  }

  /** Hands each message to every cache of this deployment and topic. */
  invalidate(prefix: string, messages: readonly string[], topic = 'access'): void {
    if (!messages.length) return;
    for (const cache of this.caches) {
      if (cache.prefix === prefix && (cache.topic ?? 'access') === topic) for (const m of messages) cache.invalidate(m);
    }
  }
}

/** What a cache does when its invalidation subscription changes state or a message arrives. */
export interface SubscriptionHandlers {
  message(msg: string): void;
  /** Subscribed (first time or again): whatever was cached before is suspect — empty it and serve from memory. */
  live(): void;
  /** Disconnected, reconnecting or ended: empty the cache and bypass it until `live`. */
  down(): void;
}

/**
 * The invalidation subscription of a process-local cache, fail closed: a duplicate of `redis`
 * subscribes to `channel`; the cache is live only between a (re)subscription and the next
 * disconnect. Never throws: with Redis down it starts not live and goes live once Redis is back.
 * Returns the subscriber connection (the cache disconnects it on close).
 */
export async function subscribeInvalidations(redis: Redis, channel: string, on: SubscriptionHandlers, options: RedisOptions = {}): Promise<Redis> {
  const sub = redis.duplicate({ enableOfflineQueue: true, lazyConnect: true, ...options });
  sub.on('error', () => undefined);
  sub.on('message', (ch: string, msg: string) => {
    if (ch === channel) on.message(msg);
  });
  const goLive = () => sub.subscribe(channel).then(() => on.live(), () => undefined);
  sub.on('close', on.down);
  sub.on('reconnecting', on.down);
  sub.on('end', on.down);
  try {
    await sub.connect();
    await goLive();
  } catch {
    // Redis is down: not live (every read goes to Redis) until it comes back.
  }
  sub.on('ready', () => void goLive());
  return sub;
}

/**
 * What the process-local caches share: live only while their invalidation subscription is up
 * (subscribeInvalidations), an epoch bumped on every invalidation so that a read that raced one is
 * not kept, and one close. Subclasses say what a message drops (`invalidate`) and how to empty
 * themselves (`clear`, which bumps the epoch).
 */
export abstract class SubscribedCache implements LocalCache {
  abstract readonly prefix: string;
  protected epoch = 0;
  protected live = false;
  private closed = false;
  private sub: Redis | undefined;

  protected constructor(private readonly registry: LocalCacheRegistry) {}

  abstract invalidate(message: string): void;
  abstract clear(): void;

  /** Joins the registry and subscribes; never throws (with Redis down it starts not live). */
  protected async subscribe(redis: Redis, channel: string, options: RedisOptions = {}): Promise<void> {
    this.registry.add(this);
    const sub = await subscribeInvalidations(redis, channel, {
      message: (msg) => this.invalidate(msg),
      live: () => {
        this.clear();
        this.live = !this.closed;
      },
      down: () => {
        this.live = false;
        this.clear();
      },
    }, options);
    if (this.closed) sub.disconnect();
    else this.sub = sub;
  }

  get isLive(): boolean {
    return this.live;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.registry.delete(this);
    this.live = false;
    this.clear();
    this.sub?.disconnect();
  }
}
