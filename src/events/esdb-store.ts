// Placeholder module replaced by the EventStoreDB adapter (issue 2). Selecting it fails closed.
import type { EventRegistry } from './registry';
import type { EventStore } from './store';
export class EventStoreDBEventStore {
  static async connect(_url: string, _registry: EventRegistry): Promise<EventStore> {
    throw new Error('the EventStoreDB adapter is not available in this build');
  }
}
