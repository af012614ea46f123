/**
 * The inline projections: the Redis read models a command applies in its own process right after
 * its append (read-your-writes on every API process), by the event types they handle. They are
 * the same projection objects the projector runs (src/projections/index.ts), so each read model
 * has one writer; revisions make the two applications idempotent in any order. Register a
 * projection here only when its readers must see a command's effect before the command answers.
 * No module state: `createInlineProjections(config)` builds this process's set (with its
 * LocalCacheRegistry) once, where the Services are composed (src/services.ts), and the runner
 * gets it through its deps (`deps.inline`).
 */
import type { Redis } from 'ioredis';
import type { Config } from '../config';
import type { RecordedEvent } from '../events/store';
import { accessStateProjection } from './access-state';
import { sessionStateProjection, userProfilesProjection } from './session-state';
import type { RedisProjection } from './types';
import { LocalCacheRegistry } from './local-caches';

export interface InlineDeps {
  config: Config;
  redis: Redis;
  /** Redis key prefix of the deployment. */
  prefix: string;
  /** This process's inline projections and local caches (a `Services` has them). */
  inline: InlineProjections;
}

/** The inline projections of one process, and the local caches they invalidate. */
export interface InlineProjections {
  readonly projections: readonly InlineProjection[];
  readonly localCaches: LocalCacheRegistry;
  /** The inline projections that handle some of `events`, each with the events it handles. */
  for(events: RecordedEvent[]): { projection: InlineProjection; events: RecordedEvent[] }[];
}

export interface InlineProjection {
  name: string;
  handles: readonly string[];
  applyInline(deps: InlineDeps, events: RecordedEvent[]): Promise<void>;
}

/** A Redis projection applied inline: its writes on one MULTI (no checkpoint: the projector keeps that). */
function inlineRedis(projection: RedisProjection, localCaches: LocalCacheRegistry): InlineProjection {
  return {
    name: projection.name,
    handles: projection.handles,
    async applyInline(deps, events) {
      const multi = deps.redis.multi();
      await projection.apply(events, { redis: deps.redis, multi, key: (suffix) => `${deps.prefix}${suffix}` });
      try {
        const result = await multi.exec();
        const failed = result?.find(([err]) => err);
        if (failed) throw failed[0];
      } finally {
        projection.afterInline?.(events, { prefix: deps.prefix, localCaches });
      }
    },
  };
}

/** Every inline projection, built for this configuration (the access-token TTL is the only key they read). */
export function createInlineProjections(config: Pick<Config, 'ACCESS_TOKEN_TTL'>, localCaches = new LocalCacheRegistry()): InlineProjections {
  const projections = [sessionStateProjection(config), userProfilesProjection, accessStateProjection].map((p) => inlineRedis(p, localCaches));
  return {
    projections,
    localCaches,
    for(events) {
      const out: { projection: InlineProjection; events: RecordedEvent[] }[] = [];
      for (const projection of projections) {
        const handled = events.filter((e) => projection.handles.includes(e.type));
        if (handled.length) out.push({ projection, events: handled });
      }
      return out;
    },
  };
}
