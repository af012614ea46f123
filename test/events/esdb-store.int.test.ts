/**
 * The EventStoreDB adapter against the same contract. Needs a server: set EVENTSTORE_URL
 * (e.g. esdb://127.0.0.1:2113?tls=false). Without it the suite reports itself as skipped, with
 * the reason in its name — it never passes silently.
 */
import { describe } from 'vitest';
import { EventStoreDBEventStore } from '../../src/events/esdb/store';
import { eventStoreContract } from './event-store-contract';

const url = process.env.EVENTSTORE_URL;

describe.skipIf(!url)(
  `EventStoreDB contract${url ? '' : ' (skipped: EVENTSTORE_URL not set, no EventStoreDB server on this machine)'}`,
  () => {
    eventStoreContract(async () => ({ open: (registry) => EventStoreDBEventStore.connect(url!, registry) }));
  },
);
