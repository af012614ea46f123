/**
 * Starts the projector: on a PostgreSQL event log, one PgGroupRunner for every PostgreSQL
 * projection (group.ts) and one ProjectionRunner per Redis projection; on other event stores one
 * ProjectionRunner per projection (engine.ts). Each runner takes its locks or waits on standby.
 */
import type { Services } from '../services';
import { hasPagedLog } from '../events/store';
import { ProjectionRunner, projectionLag } from './engine';
import { PgGroupRunner } from './group';
import { projectionsFor } from './index';
import type { PgProjection, Projection } from './types';

export interface ProjectorHandle {
  runners: ProjectionRunner[];
  /** The PostgreSQL projections' runner (PostgreSQL event log only). */
  group?: PgGroupRunner;
  stop(): Promise<void>;
}

export function startProjector(services: Services, list: readonly Projection[] = projectionsFor(services.config)): ProjectorHandle {
  const deps = { pool: services.pool, store: services.store, redis: services.redis, redisPrefix: services.prefix, log: services.log };
  const store = services.store;
  let group: PgGroupRunner | undefined;
  let single = list;
  if (hasPagedLog(store)) {
    const pgList = list.filter((p): p is PgProjection => p.kind === 'postgres');
    if (pgList.length) group = new PgGroupRunner({ ...deps, store }, pgList);
    single = list.filter((p) => p.kind !== 'postgres');
  }
  const runners = single.map((p) => new ProjectionRunner(deps, p));
  group?.start();
  for (const r of runners) r.start();
  return {
    runners,
    group,
    async stop() {
      await Promise.all([...runners.map((r) => r.stop()), group?.stop()]);
    },
  };
}

export async function lagByProjection(services: Services, list: readonly Projection[] = projectionsFor(services.config)): Promise<Record<string, number>> {
  const deps = { pool: services.pool, store: services.store, redis: services.redis, redisPrefix: services.prefix };
  const entries = await Promise.all(list.map(async (p) => [p.name, await projectionLag(deps, p)] as const));
  return Object.fromEntries(entries);
}
