import type pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { createRegistry } from '../events';
import { PostgresEventStore } from '../events/postgres/store';
import type { EventStore } from '../events/store';
import { eventStoreSubscriptionErrors } from './metrics';

export async function createEventStore(config: Pick<Config, 'EVENT_STORE' | 'EVENTSTORE_URL'>, pool: pg.Pool, log?: Logger): Promise<EventStore> {
  const registry = createRegistry();
  if (config.EVENT_STORE === 'eventstoredb') {
    if (!config.EVENTSTORE_URL) throw new Error('EVENT_STORE=eventstoredb needs EVENTSTORE_URL');
    const { EventStoreDBEventStore } = await import('../events/esdb/store');
    return EventStoreDBEventStore.connect(config.EVENTSTORE_URL, registry, { log, subscriptionErrors: eventStoreSubscriptionErrors });
  }
  return new PostgresEventStore(pool, registry);
}
