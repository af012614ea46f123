/**
 * The process-local caches of read models (the access-state cache of the access check, the user
 * profile cache of /me).
 * A command's inline projection drops their entries before the command answers, so the process
 * that wrote never serves its own stale entry (other processes hear of it through pub/sub).
 * Rules: one registry per `Services` (created with it in src/services.ts, i.e. by whoever composes
 * the process) and handed to the caches and the inline projections explicitly — no module state.
 */
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
