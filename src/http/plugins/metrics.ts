/**
 * Prometheus metrics (prom-client) on a per-app registry: the HTTP latency histogram by method,
 * route pattern (never the raw URL, so cardinality stays bounded) and status, plus the default
 * process metrics. `GET /metrics` also serves the process-wide registry (src/infra/metrics.ts).
 */
import fp from 'fastify-plugin';
import client from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: client.Registry;
  }
}

export const metricsPlugin = fp(async (app) => {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const latency = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  app.decorate('metrics', registry);
  // One labelled child per (method, route, status), made once: prom-client otherwise hashes the
  // label object on every observation. The set is bounded like the labels themselves.
  const children = new Map<string, client.Histogram.Internal<'method' | 'route' | 'status'>>();
  const observe = (method: string, route: string, status: number, seconds: number) => {
    const key = `${method} ${status} ${route}`;
    let child = children.get(key);
    if (!child) {
      child = latency.labels(method, route, String(status));
      children.set(key, child);
    }
    child.observe(seconds);
  };
  // The fast path's answers (src/http/fast-path.ts) are observed the same way.
  if (app.hasDecorator('fastPath')) app.fastPath.observe = observe;
  app.addHook('onResponse', (request, reply, done) => {
    // Unmatched URLs (404s, scans) share one label value.
    observe(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
}, { name: 'metrics' });
