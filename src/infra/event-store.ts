import type pg from 'pg';
import type { Config } from '../config';
import { createRegistry } from '../events';
import { PostgresEventStore } from '../events/postgres/store';
import type { EventStore } from '../events/store';

export async function createEventStore(config: Pick<Config, 'EVENT_STORE' | 'EVENTSTORE_URL'>, pool: pg.Pool): Promise<EventStore> {
  const registry = createRegistry();
  if (config.EVENT_STORE === 'eventstoredb') {
    if (!config.EVENTSTORE_URL) throw new Error('EVENT_STORE=eventstoredb needs EVENTSTORE_URL');
    const { EventStoreDBEventStore } = await import('../events/esdb/store');
    return EventStoreDBEventStore.connect(config.EVENTSTORE_URL, registry);
  }
  return new PostgresEventStore(pool, registry);
}
