/**
 * Prometheus metrics of the realtime hub, in the process-wide registry (served by the API's
 * `/metrics` when both run in one process, and by the hub's own `GET /metrics` on REALTIME_PORT).
 */
import client from 'prom-client';
import { processMetrics } from '../infra/metrics';

const hubs = new Set<{ readonly connections: number }>();
export const trackHub = (hub: { readonly connections: number }) => {
  hubs.add(hub);
  return () => hubs.delete(hub);
};

export const realtimeMetrics = {
  connections: new client.Gauge({
    name: 'authledger_realtime_connections',
    help: 'Open WebSocket connections on the hubs of this process',
    registers: [processMetrics],
    collect() {
      let n = 0;
      for (const h of hubs) n += h.connections;
      this.set(n);
    },
  }),
  messages: new client.Counter({
    name: 'authledger_realtime_messages_received_total',
    help: 'Messages received from clients, by command type (or "refused" when dropped by a limit or bad input)',
    labelNames: ['type'] as const,
    registers: [processMetrics],
  }),
  refused: new client.Counter({
    name: 'authledger_realtime_upgrades_refused_total',
    help: 'WebSocket upgrades refused, by problem code',
    labelNames: ['code'] as const,
    registers: [processMetrics],
  }),
  closed: new client.Counter({
    name: 'authledger_realtime_connections_closed_total',
    help: 'Closed WebSocket connections, by close code',
    labelNames: ['code'] as const,
    registers: [processMetrics],
  }),
};
