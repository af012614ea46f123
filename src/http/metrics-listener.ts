/**
 * The dedicated metrics listener (METRICS_PORT, on METRICS_HOST, loopback by default): `GET
 * /metrics` only, Prometheus text format, with this process's registries (the API app's HTTP
 * metrics when the api role runs here, and the process-wide registry: events, queues, realtime
 * hub). METRICS_TOKEN, when set, is required here too (./metrics-access.ts). Everything else 404.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type client from 'prom-client';
import type { Config } from '../config';
import { processMetrics } from '../infra/metrics';
import { listenerMetricsVerdict } from './metrics-access';

export interface MetricsListener {
  port: number;
  close(): Promise<void>;
}

export async function startMetricsListener(config: Pick<Config, 'METRICS_TOKEN' | 'METRICS_PORT' | 'METRICS_HOST'>, registries: () => client.Registry[]): Promise<MetricsListener> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/problem+json', 'cache-control': 'no-store' })
        .end(JSON.stringify({ type: 'https://authledger.dev/problems/route_not_found', title: 'Not Found', status: 404, code: 'route_not_found', detail: 'Only GET /metrics here.' }));
      return;
    }
    if (listenerMetricsVerdict(config, req.headers.authorization) !== 'ok') {
      res.writeHead(401, { 'content-type': 'application/problem+json', 'www-authenticate': 'Bearer', 'cache-control': 'no-store' })
        .end(JSON.stringify({ type: 'https://authledger.dev/problems/metrics_token_required', title: 'Unauthorized', status: 401, code: 'metrics_token_required', detail: 'Send Authorization: Bearer <METRICS_TOKEN>.' }));
      return;
    }
    const regs = [...registries(), processMetrics];
    Promise.all(regs.map((r) => r.metrics())).then(
      (parts) => res.writeHead(200, { 'content-type': processMetrics.contentType, 'cache-control': 'no-store' }).end(parts.map((p) => p.trimEnd()).join('\n') + '\n'),
      () => res.writeHead(500).end(),
    );
  });
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.METRICS_PORT ?? 0, config.METRICS_HOST, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
