/**
 * Prometheus metrics (prom-client) on a per-app registry: the HTTP latency histogram by method,
 * route pattern (never the raw URL, so cardinality stays bounded) and status, plus the default
 * process metrics. `GET /metrics` also serves the process-wide registry (src/infra/metrics.ts).
 */
import fp from 'fastify-plugin';
import client from 'prom-client';
import { localLatencyHistogram } from '../metrics-latency';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: client.Registry;
  }
}

export const metricsPlugin = fp(async (app) => {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  app.decorate('metrics', registry);
  // Observed into plain counters, folded into the histogram at each scrape (../metrics-latency.ts).
  // Label sets are bounded like the labels themselves.
  const observe = localLatencyHistogram(registry, 'http_request_duration_seconds', 'HTTP request latency by route and status', [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
  // The fast path's answers (src/http/fast-path.ts) are observed the same way.
  if (app.hasDecorator('fastPath')) app.fastPath.observe = observe;
  app.addHook('onResponse', (request, reply, done) => {
    // Unmatched URLs (404s, scans) share one label value.
    observe(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
}, { name: 'metrics' });
