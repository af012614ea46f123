/**
 * Projection lag for operators: a readiness check (`/ready` → `projections`) and a Prometheus
 * gauge `projection_lag_events{projection}` computed at scrape time. Lag is read from the
 * checkpoints in PostgreSQL/Redis, so any process can report it, whether or not it runs the
 * projector role.
 */
import type { FastifyInstance } from 'fastify';
import client from 'prom-client';
import type { Services } from '../services';
import { lagByProjection } from './runtime';
import { projectionsFor } from './index';
import type { Projection } from './types';
import { notLive } from './redis-epoch';

export interface ProjectionHealthOptions {
  projections?: readonly Projection[];
  /** Readiness fails when any projection is more than this many events behind. */
  maxLagEvents?: number;
}

export function registerProjectionHealth(app: FastifyInstance, services: Services, opts: ProjectionHealthOptions = {}): void {
  const list = opts.projections ?? projectionsFor(services.config);
  const configured = (services.config as { READY_MAX_PROJECTION_LAG?: unknown }).READY_MAX_PROJECTION_LAG;
  const maxLag = opts.maxLagEvents ?? (typeof configured === 'number' ? configured : 10_000);
  app.readinessChecks.set('projections', async () => {
    const lag = await lagByProjection(services, list);
    const behind = Object.entries(lag).filter(([, n]) => n > maxLag).map(([name]) => name);
    return { ok: behind.length === 0, detail: { lag_events: lag, max_lag_events: maxLag, ...(behind.length ? { behind } : {}) } };
  });
  // Redis lost its data and the Redis projections have not replayed yet (issue 21, redis-epoch.ts).
  const redisList = list.filter((p) => p.kind === 'redis');
  if (redisList.length) {
    app.readinessChecks.set('redis_state', async () => {
      const pending = await notLive(services.redis, services.prefix, redisList.map((p) => p.name));
      if (!pending.length) return { ok: true, detail: { state: 'ok' } };
      // Not marked live, but nothing to apply (a fresh install, a log without such events): serving.
      const lag = await lagByProjection(services, redisList.filter((p) => pending.includes(p.name)));
      const rebuilding = Object.entries(lag).filter(([, n]) => n > 0);
      if (!rebuilding.length) return { ok: true, detail: { state: 'ok' } };
      return { ok: false, detail: { state: 'rebuilding', lag_events: Object.fromEntries(rebuilding) } };
    });
  }
  new client.Gauge({
    name: 'projection_lag_events',
    help: 'Events in the log after the projection checkpoint',
    labelNames: ['projection'] as const,
    registers: [app.metrics],
    async collect() {
      const lag = await lagByProjection(services, list).catch(() => undefined);
      if (!lag) return;
      for (const [projection, n] of Object.entries(lag)) this.set({ projection }, n);
    },
  });
}
