/** Starts one runner per projection (each takes its lock or waits on standby), and reports lag. */
import type { Services } from '../services';
import { ProjectionRunner, projectionLag } from './engine';
import { projectionsFor } from './index';
import type { Projection } from './types';

export interface ProjectorHandle {
  runners: ProjectionRunner[];
  stop(): Promise<void>;
}

export function startProjector(services: Services, list: readonly Projection[] = projectionsFor(services.config)): ProjectorHandle {
  const deps = { pool: services.pool, store: services.store, redis: services.redis, redisPrefix: services.prefix, log: services.log };
  const runners = list.map((p) => new ProjectionRunner(deps, p));
  for (const r of runners) r.start();
  return {
    runners,
    async stop() {
      await Promise.all(runners.map((r) => r.stop()));
    },
  };
}

export async function lagByProjection(services: Services, list: readonly Projection[] = projectionsFor(services.config)): Promise<Record<string, number>> {
  const deps = { pool: services.pool, store: services.store, redis: services.redis, redisPrefix: services.prefix };
  const entries = await Promise.all(list.map(async (p) => [p.name, await projectionLag(deps, p)] as const));
  return Object.fromEntries(entries);
}
