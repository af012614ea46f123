/**
 * The latency histogram observed locally and folded at scrape (src/http/metrics-latency.ts) gives
 * the same /metrics text as prom-client's own histogram fed the same observations.
 */
import { describe, expect, it } from 'vitest';
import client from 'prom-client';
import { localLatencyHistogram } from '../../src/http/metrics-latency';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const NAME = 'http_request_duration_seconds';
const HELP = 'HTTP request latency by route and status';

function both() {
  const plain = new client.Registry();
  const reference = new client.Histogram({ name: NAME, help: HELP, labelNames: ['method', 'route', 'status'] as const, buckets: BUCKETS, registers: [plain] });
  const local = new client.Registry();
  const observe = localLatencyHistogram(local, NAME, HELP, BUCKETS);
  return {
    observe(method: string, route: string, status: number, seconds: number) {
      reference.labels(method, route, String(status)).observe(seconds);
      observe(method, route, status, seconds);
    },
    plain,
    local,
  };
}

describe('local latency histogram', () => {
  it('scrapes as prom-client does, between and after observations (buckets, bounds exactly, past the last bucket, sums)', async () => {
    const h = both();
    expect(await h.local.metrics()).toBe(await h.plain.metrics());
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const routes = ['/api/v1/auth/me', '/api/v1/auth/verify', '/api/v1/features/:name/access', 'unmatched'];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 2000; i++) {
        const r = rand();
        const seconds = i % 50 === 0 ? BUCKETS[i % BUCKETS.length]! : i % 97 === 0 ? 7 + r : r ** 4 * 2;
        h.observe(i % 7 ? 'GET' : 'POST', routes[i % routes.length]!, i % 11 ? 200 : 429, seconds);
      }
      expect(await h.local.metrics()).toBe(await h.plain.metrics());
      expect(JSON.stringify(await h.local.getMetricsAsJSON())).toBe(JSON.stringify(await h.plain.getMetricsAsJSON()));
    }
    expect(await h.local.metrics()).toContain(`${NAME}_bucket{le="+Inf",method="GET",route="/api/v1/auth/me",status="200"}`);
  });

  it('a label set appears once observed; a value that is not a number throws as prom-client does', async () => {
    const h = both();
    h.observe('GET', '/a', 200, 0.002);
    expect(await h.local.metrics()).toBe(await h.plain.metrics());
    const observe = localLatencyHistogram(new client.Registry(), NAME, HELP, BUCKETS);
    expect(() => observe('GET', '/a', 200, Number.NaN)).toThrow(TypeError);
  });
});
