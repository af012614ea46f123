/** The gateway's Prometheus metrics, per service (served with the process metrics on /metrics). */
import client from 'prom-client';
import { processMetrics } from '../infra/metrics';

export const gatewayRequests = new client.Counter({
  name: 'authledger_gateway_requests_total',
  help: 'Requests the gateway answered, by service and status class (2xx…5xx)',
  labelNames: ['service', 'status'] as const,
  registers: [processMetrics],
});

export const gatewayDuration = new client.Histogram({
  name: 'authledger_gateway_request_duration_seconds',
  help: 'Time from the gateway receiving a request to the upstream answer\'s headers (or the gateway\'s own refusal), by service',
  labelNames: ['service'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [processMetrics],
});

export const gatewayUpstreamErrors = new client.Counter({
  name: 'authledger_gateway_upstream_errors_total',
  help: 'Upstream failures seen by the gateway (refused, reset, timeout, 5xx answers), by service and kind',
  labelNames: ['service', 'kind'] as const,
  registers: [processMetrics],
});

export const upstreamHealthy = new client.Gauge({
  name: 'authledger_gateway_upstream_healthy',
  help: '1 when this process considers the upstream healthy, 0 otherwise',
  labelNames: ['service', 'upstream'] as const,
  registers: [processMetrics],
});

// Labelled children made once per (service, status class): prom-client otherwise hashes the
// label object on every observation. Bounded like the labels (registered services × 5).
const answered = new Map<string, { count: { inc(): void }; time: { observe(v: number): void } }>();

/** One answer of the gateway for a service: its status class and seconds to the answer's headers. */
export function observeAnswer(service: string, status: number, seconds: number): void {
  const cls = `${Math.floor(status / 100)}xx`;
  const key = `${service} ${cls}`;
  let m = answered.get(key);
  if (!m) {
    m = { count: gatewayRequests.labels(service, cls), time: gatewayDuration.labels(service) };
    answered.set(key, m);
  }
  m.count.inc();
  m.time.observe(seconds);
}
