/**
 * Process-wide Prometheus metrics (prom-client) that are not tied to one HTTP app: events
 * appended, later queue depths and worker counters. `GET /metrics` serves this registry together
 * with the app's own (HTTP latency, projection lag). Register your metric here with
 * `registers: [processMetrics]`, or add a gauge with a `collect()` callback.
 */
import client from 'prom-client';
import type { EventStore } from '../events/store';
import { noteAppended } from './request-writes';

export const processMetrics = new client.Registry();

export const eventsAppended = new client.Counter({
  name: 'authledger_events_appended_total',
  help: 'Events appended to the event log by this process, by event type',
  labelNames: ['type'] as const,
  registers: [processMetrics],
});

/** Counts appended events on this store instance (wraps appendToStream in place), and notes them for the request being handled. */
export function countAppends(store: EventStore): EventStore {
  const marker = store as EventStore & { __countsAppends?: boolean };
  if (marker.__countsAppends) return store;
  const append = store.appendToStream.bind(store);
  store.appendToStream = (async (...args: Parameters<EventStore['appendToStream']>) => {
    const result = await append(...args);
    for (const e of args[1]) eventsAppended.inc({ type: e.type });
    noteAppended(result.position); // X-Log-Position and read-your-writes (src/http/read-your-writes.ts)
    return result;
  }) as EventStore['appendToStream'];
  marker.__countsAppends = true;
  return store;
}

/** EventStoreDB subscription failures (each one is also logged; the adapter backs off and resumes). */
export const eventStoreSubscriptionErrors = new client.Counter({
  name: 'event_store_subscription_errors_total',
  help: 'EventStoreDB subscription failures: source (subscription, watcher), reason (dropped, filter_refused)',
  labelNames: ['source', 'reason'] as const,
  registers: [processMetrics],
});

/** Inline projections that failed after their command's append committed (the projector redoes them; issue 21). */
export const inlineProjectionFailures = new client.Counter({
  name: 'authledger_inline_projection_failures_total',
  help: 'Inline (read-your-writes) projection writes that failed after the append committed, by projection; the projector applies them later',
  labelNames: ['projection'] as const,
  registers: [processMetrics],
});
