/**
 * The EventStoreDB adapter's resource lifecycle against a real server (issue 19, bugs 1 and 2):
 * - every read path (health check, readStream, readAll, headPosition, subscriptions, the
 *   append watcher) finishes its gRPC stream on every exit — early stop, end, decode failure —
 *   so the client holds no open stream afterwards and `close()` resolves within 2 s;
 * - headPosition() reads raw positions: an event type this build does not know at the head of
 *   `$all` does not break startup.
 * Needs a server: set EVENTSTORE_URL (e.g. esdb://127.0.0.1:2113?tls=false). Without it the suite
 * reports itself as skipped, with the reason in its name.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStoreDBClient, jsonEvent } from '@eventstore/db-client';
import { EventStoreDBEventStore } from '../../src/events/esdb/store';
import { EventValidationError, START, comparePositions, type EventStore } from '../../src/events/store';
import { sleep, strictRegistry, take, testRegistry } from './fixtures';

const url = process.env.EVENTSTORE_URL;

/** Streams the client still tracks as open (db-client's own set, which dispose() waits for). */
const openStreams = (client: EventStoreDBClient) => (client as unknown as { disposableStreams: Set<unknown> }).disposableStreams.size;

/** Waits (up to 1 s) for the client's open-stream count to reach `n`; returns the last count. */
async function settleTo(client: EventStoreDBClient, n: number): Promise<number> {
  for (let i = 0; i < 50 && openStreams(client) !== n; i++) await sleep(20);
  return openStreams(client);
}

async function closesWithin(store: EventStore, ms: number): Promise<number> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`close() did not resolve within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([store.close(), late]);
  } finally {
    clearTimeout(timer);
  }
  return Date.now() - started;
}

describe.skipIf(!url)(
  `EventStoreDB adapter lifecycle${url ? '' : ' (skipped: EVENTSTORE_URL not set, no EventStoreDB server on this machine)'}`,
  () => {
    const run = randomUUID().slice(0, 8);
    const p = `life${run}x`;
    const things = `${p}-things`;
    const checked = `${p}-checked`;
    let seeder: EventStore;

    const open = (registry = testRegistry()) => {
      const client = EventStoreDBClient.connectionString(url!);
      return { client, store: new EventStoreDBEventStore(client, registry) };
    };

    beforeAll(async () => {
      seeder = await EventStoreDBEventStore.connect(url!, testRegistry());
      await seeder.appendToStream(things, [0, 1, 2, 3, 4].map((n) => ({ type: 'ThingHappened', data: { n } })));
      // Valid for the current registry, invalid for the strict one: a decode failure on read.
      await seeder.appendToStream(checked, [{ type: 'Checked', data: { n: 50 } }, { type: 'Checked', data: { n: 60 } }]);
    });
    afterAll(async () => {
      await seeder?.close();
    });

    it('100 health checks leave no client stream open, and close() then resolves within 2 s', async () => {
      const { client, store } = open();
      for (let i = 0; i < 100; i++) await store.healthCheck();
      expect(await settleTo(client, 0)).toBe(0);
      expect(await closesWithin(store, 2000)).toBeLessThan(2000);
      expect(openStreams(client)).toBe(0);
    });

    type Path = (store: EventStore) => Promise<unknown>;
    const paths: [string, Path, 'strict'?][] = [
      ['healthCheck', (s) => s.healthCheck()],
      ['readStream (whole stream)', async (s) => expect(await s.readStream(things)).toHaveLength(5)],
      ['readStream (maxCount 2 of 5)', async (s) => expect(await s.readStream(things, { maxCount: 2 })).toHaveLength(2)],
      ['readStream (backwards)', async (s) => expect(await s.readStream(things, { direction: 'backwards', maxCount: 3 })).toHaveLength(3)],
      ['readStream (missing stream)', async (s) => expect(await s.readStream(`${p}-missing`)).toEqual([])],
      ['readStream (decode failure)', (s) => expect(s.readStream(checked)).rejects.toBeInstanceOf(EventValidationError), 'strict'],
      ['readAll (stops after maxCount inside a page)', async (s) => expect(await s.readAll({ filter: { streamPrefixes: [things] }, maxCount: 1 })).toHaveLength(1)],
      ['readAll (to the end of the log)', async (s) => expect(await s.readAll({ filter: { streamPrefixes: [things] } })).toHaveLength(5)],
      ['readAll (backwards)', async (s) => expect(await s.readAll({ direction: 'backwards', filter: { streamPrefixes: [things] }, maxCount: 2 })).toHaveLength(2)],
      ['readAll (decode failure)', (s) => expect(s.readAll({ filter: { streamPrefixes: [checked] } })).rejects.toBeInstanceOf(EventValidationError), 'strict'],
      ['headPosition', async (s) => expect(comparePositions(await s.headPosition(), START)).toBeGreaterThan(0)],
      ['subscribeToAll (take, then unsubscribe)', async (s) => {
        const sub = s.subscribeToAll({ filter: { streamPrefixes: [things] } });
        try {
          expect(await take(sub, 2)).toHaveLength(2);
        } finally {
          await sub.unsubscribe();
        }
      }],
      ['subscribeToAll (unsubscribe while waiting for the next event)', async (s) => {
        const sub = s.subscribeToAll({ filter: { streamPrefixes: [things] } });
        const it = sub[Symbol.asyncIterator]();
        for (let i = 0; i < 5; i++) await it.next();
        const pending = it.next();
        await sleep(100);
        await sub.unsubscribe();
        expect((await pending).done).toBe(true);
      }],
      ['subscribeToAll (decode failure)', async (s) => {
        const sub = s.subscribeToAll({ filter: { streamPrefixes: [checked] } });
        try {
          await expect(take(sub, 1)).rejects.toBeInstanceOf(EventValidationError);
        } finally {
          await sub.unsubscribe();
        }
      }, 'strict'],
      ['onAppended watcher (listener removed)', async (s) => {
        let woken = 0;
        const off = s.onAppended(() => woken++);
        await sleep(300);
        await seeder.appendToStream(`${p}-watch`, [{ type: 'ThingHappened', data: { n: 1 } }]);
        for (let i = 0; i < 100 && woken === 0; i++) await sleep(50);
        off();
        expect(woken).toBeGreaterThan(0);
      }],
    ];

    it.each(paths)('no client stream stays open after %s, and close() resolves within 2 s', async (_name, path, registry) => {
      const { client, store } = open(registry === 'strict' ? strictRegistry() : testRegistry());
      await path(store);
      expect(await settleTo(client, 0)).toBe(0);
      expect(await closesWithin(store, 2000)).toBeLessThan(2000);
    });

    it('close() resolves within 2 s with a subscription and the watcher still running', async () => {
      const { client, store } = open();
      const sub = store.subscribeToAll({ filter: { streamPrefixes: [things] } });
      expect(await take(sub, 1)).toHaveLength(1);
      store.onAppended(() => undefined);
      await sleep(200);
      expect(await closesWithin(store, 2000)).toBeLessThan(2000);
      expect(openStreams(client)).toBe(0);
      // The subscription ends (it does not resubscribe on a closed store).
      const next = await sub[Symbol.asyncIterator]().next();
      expect(next.done).toBe(true);
    });

    it('an event type this build does not know at the head of $all does not break startup', async () => {
      const raw = EventStoreDBClient.connectionString(url!);
      let appended;
      try {
        appended = await raw.appendToStream(`${p}-foreign`, [jsonEvent({ type: `ForeignThing${run}`, data: { anything: true } })]);
      } finally {
        await raw.dispose();
      }
      const store = await EventStoreDBEventStore.connect(url!, testRegistry());
      try {
        const head = await store.headPosition();
        expect(comparePositions(head, appended.position!)).toBeGreaterThanOrEqual(0);
        // Reads that filter it out are unaffected; a read that meets it says which type is unknown.
        expect(await store.readStream(things, { maxCount: 1 })).toHaveLength(1);
        await expect(store.readStream(`${p}-foreign`)).rejects.toThrow(new RegExp(`ForeignThing${run}`));
      } finally {
        expect(await closesWithin(store, 2000)).toBeLessThan(2000);
      }
    });
  },
);
