/**
 * The inline projections: the Redis read models a command applies in its own process right after
 * its append (read-your-writes on every API process), by the event types they handle. They are
 * the same projection objects the projector runs (src/projections/index.ts), so each read model
 * has one writer; revisions make the two applications idempotent in any order. Register a
 * projection here only when its readers must see a command's effect before the command answers.
 */
import type { Redis } from 'ioredis';
import type { Config } from '../config';
import type { RecordedEvent } from '../events/store';
import { accessStateProjection } from './access-state';
import { sessionStateProjection, userProfilesProjection } from './session-state';
import type { RedisProjection } from './types';

export interface InlineDeps {
  config: Config;
  redis: Redis;
  /** Redis key prefix of the deployment. */
  prefix: string;
}

export interface InlineProjection {
  name: string;
  handles: readonly string[];
  applyInline(deps: InlineDeps, events: RecordedEvent[]): Promise<void>;
}

/** A Redis projection applied inline: its writes on one MULTI (no checkpoint: the projector keeps that). */
function inlineRedis(projection: RedisProjection): InlineProjection {
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
        projection.afterInline?.(events, deps.prefix);
      }
    },
  };
}

const registered = new Map<number, InlineProjection[]>();

/** Every inline projection, built for this configuration (memoised by TTL: the only config they read). */
export function inlineProjections(config: Pick<Config, 'ACCESS_TOKEN_TTL'>): InlineProjection[] {
  let list = registered.get(config.ACCESS_TOKEN_TTL);
  if (!list) {
    list = [sessionStateProjection(config), userProfilesProjection, accessStateProjection].map(inlineRedis);
    registered.set(config.ACCESS_TOKEN_TTL, list);
  }
  return list;
}

/** The inline projections that handle some of `events`, each with the events it handles. */
export function inlineProjectionsFor(config: Pick<Config, 'ACCESS_TOKEN_TTL'>, events: RecordedEvent[]): { projection: InlineProjection; events: RecordedEvent[] }[] {
  const out: { projection: InlineProjection; events: RecordedEvent[] }[] = [];
  for (const projection of inlineProjections(config)) {
    const handled = events.filter((e) => projection.handles.includes(e.type));
    if (handled.length) out.push({ projection, events: handled });
  }
  return out;
}
