/**
 * Starts the parts of authledger this process runs (`ROLES`) on shared services, and stops them
 * in order. src/main.ts is the thin process entry around it; tests start it in-process.
 * Rules: the API stops accepting first and finishes in-flight requests, then the projector stops
 * at a batch boundary, workers and the hub close, and the pools close last.
 */
import type { Logger } from 'pino';
import type { Config, ProcessRole } from './config';
import { createServices, type Services } from './services';
import { buildApp, roles as starters, runStartup } from './compose';
import type { FastifyInstance } from 'fastify';
import { startMetricsListener } from './http/metrics-listener';

export interface Part {
  name: ProcessRole | 'metrics';
  stop(): Promise<void>;
}

export interface Running {
  services: Services;
  parts: Part[];
  /** Human-readable lines naming what listens where. */
  urls: string[];
  /** The API's bound address, when the api role runs. */
  apiAddress?: { host: string; port: number };
  /**
   * Stops every part in order, then closes the pools. A part that has not stopped when its share
   * of `budgetMs` runs out is left behind (logged) so the rest still stop; resolves to false then.
   */
  stop(budgetMs?: number): Promise<boolean>;
}

/** Default budget for stopping the parts; main.ts exits at 10 s whatever happens. */
export const STOP_BUDGET_MS = 8_000;

export async function startAuthledger(config: Config, log: Logger): Promise<Running> {
  const services = await createServices(config, { log });
  const parts: Part[] = [];
  const urls: string[] = [];
  let apiAddress: Running['apiAddress'];
  let apiApp: FastifyInstance | undefined;
  const stopAll = async (budgetMs = STOP_BUDGET_MS) => {
    const deadline = Date.now() + budgetMs;
    let clean = true;
    for (const p of parts) {
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        p.stop().then(() => 'stopped' as const, (err) => {
          log.error({ err, part: p.name }, 'stop failed');
          return 'failed' as const;
        }),
        new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
        }),
      ]);
      clearTimeout(timer);
      if (outcome === 'timeout') log.error({ part: p.name, ms: Date.now() - started }, 'part did not stop in time; going on without it');
      else log.info({ part: p.name, ms: Date.now() - started }, 'part stopped');
      if (outcome !== 'stopped') clean = false;
    }
    await services.close();
    return clean;
  };
  try {
    await runStartup(services);
    const roles = config.ROLES;
    if (roles.has('api')) {
      const app = await buildApp(services);
      apiApp = app;
      await app.listen({ host: config.HOST, port: config.PORT });
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : config.PORT;
      apiAddress = { host: config.HOST, port };
      // First to stop: stop accepting, let in-flight requests finish.
      parts.push({
        name: 'api',
        stop: async () => {
          // app.close() stops accepting and waits for in-flight requests; keep-alive connections
          // that turn idle after their last response are closed as they do (Node closes idle
          // ones only once, at the start).
          const sweeper = setInterval(() => app.server.closeIdleConnections(), 100);
          try {
            await app.close();
          } finally {
            clearInterval(sweeper);
          }
        },
      });
      const base = `http://localhost:${port}`;
      urls.push(`Console:     ${base}/console/`, `API:         ${base}/`, `Swagger UI:  ${base}/docs`, `ReDoc:       ${base}/redoc`, `OpenAPI:     ${base}/openapi.json`, `Readiness:   ${base}/ready`);
      if (config.METRICS_TOKEN && config.METRICS_PORT === undefined) urls.push(`Metrics:     ${base}/metrics (Authorization: Bearer METRICS_TOKEN)`);
    }
    if (config.METRICS_PORT !== undefined) {
      // Metrics on their own listener (issue 20 §7): not on the API or hub port.
      const metrics = await startMetricsListener(config, () => (apiApp ? [apiApp.metrics] : []));
      parts.push({ name: 'metrics', stop: () => metrics.close() });
      urls.push(`Metrics:     http://${config.METRICS_HOST}:${metrics.port}/metrics`);
    }
    if (roles.has('gateway') && !starters.gatewayOnApiPort(config)) {
      const gateway = await starters.startGateway(services);
      // Stops with the API (first): no new requests while the rest shuts down.
      parts.unshift({ name: 'gateway', stop: () => gateway.stop() });
      urls.push(`Gateway:     http://localhost:${gateway.port}${config.GATEWAY_PREFIX}/{service}/…`);
    } else if (roles.has('gateway') && apiAddress) urls.push(`Gateway:     http://localhost:${apiAddress.port}${config.GATEWAY_PREFIX}/{service}/…`);
    if (roles.has('projector')) {
      const projector = starters.startProjector(services);
      parts.push({ name: 'projector', stop: () => projector.stop() });
    }
    if (roles.has('worker')) {
      const workers = await starters.startWorkers(services);
      parts.push({ name: 'worker', stop: () => workers.stop() });
    }
    if (roles.has('realtime')) {
      const hub = await starters.startRealtime(services);
      parts.push({ name: 'realtime', stop: () => hub.stop() });
      urls.push(`Realtime:    ws://localhost:${hub.port}/ws`);
    }
  } catch (err) {
    await stopAll().catch(() => undefined);
    throw err;
  }
  return { services, parts, urls, apiAddress, stop: stopAll };
}
