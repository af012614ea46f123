/**
 * The EventStore contract, run against every adapter (PostgreSQL always; EventStoreDB when
 * EVENTSTORE_URL is set). Each test works in its own streams (a random prefix per run and test),
 * so the suite also runs against a shared server that already holds other events.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { EventRegistry } from '../../src/events/registry';
import {
  EventValidationError,
  START,
  WrongExpectedVersionError,
  comparePositions,
  readStreams,
  type EventStore,
  type ExpectedRevision,
  type Position,
} from '../../src/events/store';
import { oldRegistry, strictRegistry, take, testRegistry } from './fixtures';

export interface ContractTarget {
  /** A store over the shared backend that decodes with `registry`. Closed by the suite. */
  open(registry: EventRegistry): Promise<EventStore>;
}

const thing = (n: number, id?: string) => ({ id, type: 'ThingHappened', data: { n } });

export function eventStoreContract(target: () => Promise<ContractTarget>): void {
  let t: ContractTarget;
  let store: EventStore;
  const opened: EventStore[] = [];
  const run = randomUUID().slice(0, 8);
  let seq = 0;
  /** A fresh stream-name prefix for one test: `c<run><n>-`. */
  const prefix = () => `c${run}${++seq}x`;
  const open = async (registry: EventRegistry) => {
    const s = await t.open(registry);
    opened.push(s);
    return s;
  };

  beforeAll(async () => {
    t = await target();
    store = await open(testRegistry());
  });
  afterAll(async () => {
    for (const s of opened) await s.close().catch(() => undefined);
  });

  async function expectWrongVersion(p: Promise<unknown>, expected: ExpectedRevision, actual: bigint | 'no_stream') {
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(WrongExpectedVersionError);
    expect((err as WrongExpectedVersionError).expected).toBe(expected);
    expect((err as WrongExpectedVersionError).actual).toBe(actual);
  }

  it('no_stream: creates a stream once, then refuses', async () => {
    const s = `${prefix()}-a`;
    const r = await store.appendToStream(s, [thing(1), thing(2)], { expectedRevision: 'no_stream' });
    expect(r.nextExpectedRevision).toBe(1n);
    expect(comparePositions(r.position, START)).toBeGreaterThan(0);
    await expectWrongVersion(store.appendToStream(s, [thing(3)], { expectedRevision: 'no_stream' }), 'no_stream', 1n);
    expect((await store.readStream(s)).map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('stream_exists: refuses a missing stream, accepts an existing one', async () => {
    const s = `${prefix()}-a`;
    await expectWrongVersion(store.appendToStream(s, [thing(1)], { expectedRevision: 'stream_exists' }), 'stream_exists', 'no_stream');
    expect(await store.readStream(s)).toEqual([]);
    await store.appendToStream(s, [thing(1)]);
    const r = await store.appendToStream(s, [thing(2)], { expectedRevision: 'stream_exists' });
    expect(r.nextExpectedRevision).toBe(1n);
  });

  it('exact revision: accepts the current one only, and reports expected and actual', async () => {
    const s = `${prefix()}-a`;
    await expectWrongVersion(store.appendToStream(s, [thing(1)], { expectedRevision: 0n }), 0n, 'no_stream');
    await store.appendToStream(s, [thing(1), thing(2), thing(3)], { expectedRevision: 'no_stream' });
    await expectWrongVersion(store.appendToStream(s, [thing(4)], { expectedRevision: 1n }), 1n, 2n);
    await expectWrongVersion(store.appendToStream(s, [thing(4)], { expectedRevision: 3n }), 3n, 2n);
    const r = await store.appendToStream(s, [thing(4)], { expectedRevision: 2n });
    expect(r.nextExpectedRevision).toBe(3n);
    expect((await store.readStream(s)).map((e) => e.revision)).toEqual([0n, 1n, 2n, 3n]);
  });

  it('any (the default): appends whatever the stream holds', async () => {
    const s = `${prefix()}-a`;
    expect((await store.appendToStream(s, [thing(1)], { expectedRevision: 'any' })).nextExpectedRevision).toBe(0n);
    expect((await store.appendToStream(s, [thing(2)])).nextExpectedRevision).toBe(1n);
  });

  it('optimistic concurrency: of two writers expecting the same revision exactly one wins', async () => {
    const s = `${prefix()}-a`;
    await store.appendToStream(s, [thing(0)]);
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => store.appendToStream(s, [thing(i + 1)], { expectedRevision: 0n })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(WrongExpectedVersionError);
    expect(await store.readStream(s)).toHaveLength(2);
  });

  it('idempotent re-append: the same event ids are stored once and the retry succeeds', async () => {
    const s = `${prefix()}-a`;
    const batch = [thing(1, randomUUID()), thing(2, randomUUID())];
    const first = await store.appendToStream(s, batch, { expectedRevision: 'no_stream' });
    const again = await store.appendToStream(s, batch, { expectedRevision: 'no_stream' });
    expect(again.nextExpectedRevision).toBe(first.nextExpectedRevision);
    const anyRetry = await store.appendToStream(s, batch);
    expect(anyRetry.nextExpectedRevision).toBe(1n);
    const stored = await store.readStream(s);
    expect(stored.map((e) => e.id)).toEqual(batch.map((e) => e.id));
  });

  it('an empty append checks the expected revision and stores nothing', async () => {
    const s = `${prefix()}-a`;
    expect((await store.appendToStream(s, [], { expectedRevision: 'no_stream' })).nextExpectedRevision).toBe(-1n);
    await store.appendToStream(s, [thing(1)]);
    await expectWrongVersion(store.appendToStream(s, [], { expectedRevision: 'no_stream' }), 'no_stream', 0n);
    expect(await store.readStream(s)).toHaveLength(1);
  });

  it('records every field: id, type, version, data, metadata, created-at, position', async () => {
    const s = `${prefix()}-a`;
    const id = randomUUID();
    const metadata = { correlationId: 'corr-1', causationId: 'cause-1', requestId: 'req-1', actorUserId: 'u-1', ip: '203.0.113.9', userAgent: 'vitest' };
    const before = Date.now();
    const r = await store.appendToStream(s, [{ id, type: 'ThingRenamed', data: { name: 'x' }, metadata }]);
    const [e] = await store.readStream(s);
    expect(e).toMatchObject({ id, streamName: s, revision: 0n, type: 'ThingRenamed', schemaVersion: 1, data: { name: 'x' }, metadata });
    expect(e!.position).toEqual(r.position);
    expect(e!.createdAt).toBeInstanceOf(Date);
    expect(Math.abs(e!.createdAt.getTime() - before)).toBeLessThan(60_000);
  });

  it('readStreams: whole streams in the order asked, a missing one empty, one read for the PostgreSQL adapter', async () => {
    const p = prefix();
    await store.appendToStream(`${p}a`, [thing(1), thing(2)]);
    await store.appendToStream(`${p}b`, [thing(3)]);
    await store.appendToStream(`${p}a`, [thing(4)]);
    const ns = (es: { data: unknown }[]) => es.map((e) => (e.data as { n: number }).n);
    const got = await readStreams(store, [`${p}b`, `${p}missing`, `${p}a`]);
    expect(got.map(ns)).toEqual([[3], [], [1, 2, 4]]);
    expect(got[2]!.map((e) => e.revision)).toEqual([0n, 1n, 2n]);
    expect(got[2]!.map((e) => e.streamName)).toEqual([`${p}a`, `${p}a`, `${p}a`]);
    expect(await readStreams(store, [])).toEqual([]);
  });

  it('readStream: directions, fromRevision (inclusive), maxCount, missing stream', async () => {
    const s = `${prefix()}-a`;
    await store.appendToStream(s, [0, 1, 2, 3, 4].map((n) => thing(n)));
    const ns = (es: { data: unknown }[]) => es.map((e) => (e.data as { n: number }).n);
    expect(ns(await store.readStream(s))).toEqual([0, 1, 2, 3, 4]);
    expect(ns(await store.readStream(s, { direction: 'backwards' }))).toEqual([4, 3, 2, 1, 0]);
    expect(ns(await store.readStream(s, { fromRevision: 2n }))).toEqual([2, 3, 4]);
    expect(ns(await store.readStream(s, { fromRevision: 2n, direction: 'backwards' }))).toEqual([2, 1, 0]);
    expect(ns(await store.readStream(s, { fromRevision: 1n, maxCount: 2 }))).toEqual([1, 2]);
    expect(ns(await store.readStream(s, { direction: 'backwards', maxCount: 2 }))).toEqual([4, 3]);
    expect(await store.readStream(`${prefix()}-missing`)).toEqual([]);
  });

  it('readAll: log order, exclusive fromPosition, maxCount paging, backwards', async () => {
    const p = prefix();
    const a = `${p}-a`;
    const b = `${p}-b`;
    await store.appendToStream(a, [thing(0), thing(1)]);
    await store.appendToStream(b, [thing(2)]);
    await store.appendToStream(a, [thing(3)]);
    const filter = { streamPrefixes: [p] };
    const all = await store.readAll({ filter, maxCount: 100 });
    expect(all.map((e) => (e.data as { n: number }).n)).toEqual([0, 1, 2, 3]);
    for (let i = 1; i < all.length; i++) expect(comparePositions(all[i - 1]!.position, all[i]!.position)).toBeLessThan(0);
    // Paging: exclusive fromPosition.
    const page1 = await store.readAll({ filter, maxCount: 2 });
    const page2 = await store.readAll({ filter, maxCount: 2, fromPosition: page1.at(-1)!.position });
    expect([...page1, ...page2].map((e) => e.id)).toEqual(all.map((e) => e.id));
    expect(await store.readAll({ filter, fromPosition: all.at(-1)!.position })).toEqual([]);
    // Backwards: newest first; from a position: what comes before it.
    const back = await store.readAll({ filter, direction: 'backwards', maxCount: 3 });
    expect(back.map((e) => e.id)).toEqual(all.slice(1).reverse().map((e) => e.id));
    const before = await store.readAll({ filter, direction: 'backwards', fromPosition: all[2]!.position, maxCount: 10 });
    expect(before.map((e) => e.id)).toEqual([all[1]!.id, all[0]!.id]);
    // The head is at or after our last event.
    expect(comparePositions(await store.headPosition(), all.at(-1)!.position)).toBeGreaterThanOrEqual(0);
  });

  it('readAll filters by event type and by stream prefix (and both)', async () => {
    const p = prefix();
    await store.appendToStream(`${p}-user-1`, [thing(1), { type: 'ThingRenamed', data: { name: 'a' } }]);
    await store.appendToStream(`${p}-session-1`, [thing(2), { type: 'ThingRenamed', data: { name: 'b' } }]);
    await store.appendToStream(`${p}_user-2`, [thing(3)]); // `_` must not act as a LIKE wildcard
    const byPrefix = await store.readAll({ filter: { streamPrefixes: [`${p}-user-`] } });
    expect(byPrefix.map((e) => e.streamName)).toEqual([`${p}-user-1`, `${p}-user-1`]);
    const two = await store.readAll({ filter: { streamPrefixes: [`${p}-user-`, `${p}-session-`] } });
    expect(two).toHaveLength(4);
    const renamed = await store.readAll({ filter: { streamPrefixes: [p], eventTypes: ['ThingRenamed'] } });
    expect(renamed.map((e) => e.data)).toEqual([{ name: 'a' }, { name: 'b' }]);
    const typeOnly = await store.readAll({ filter: { eventTypes: ['ThingRenamed'] }, direction: 'backwards', maxCount: 1 });
    expect(typeOnly[0]!.data).toEqual({ name: 'b' });
  });

  it('subscribeToAll: catches up, then hands over to live delivery without gap or repeat', async () => {
    const p = prefix();
    const s = `${p}-a`;
    await store.appendToStream(s, [thing(0), thing(1), thing(2)]);
    const sub = store.subscribeToAll({ filter: { streamPrefixes: [p] } });
    try {
      const caughtUp = await take(sub, 3);
      expect(caughtUp.map((e) => e.revision)).toEqual([0n, 1n, 2n]);
      // Live: appended after the subscription has caught up.
      const live = store.appendToStream(s, [thing(3)]).then(() => store.appendToStream(`${p}-b`, [thing(4), thing(5)]));
      const next = await take(sub, 3);
      await live;
      expect(next.map((e) => (e.data as { n: number }).n)).toEqual([3, 4, 5]);
      expect(comparePositions(next[0]!.position, caughtUp[2]!.position)).toBeGreaterThan(0);
    } finally {
      await sub.unsubscribe();
    }
  });

  it('subscribeToAll: filters by type, and resumes after a checkpoint (exclusive)', async () => {
    const p = prefix();
    await store.appendToStream(`${p}-a`, [thing(1), { type: 'ThingRenamed', data: { name: 'one' } }, thing(2)]);
    await store.appendToStream(`${p}-b`, [{ type: 'ThingRenamed', data: { name: 'two' } }, thing(3)]);
    const sub = store.subscribeToAll({ filter: { streamPrefixes: [p] } });
    let checkpoint: Position;
    try {
      const firstTwo = await take(sub, 2);
      checkpoint = firstTwo[1]!.position;
    } finally {
      await sub.unsubscribe();
    }
    const resumed = store.subscribeToAll({ fromPosition: checkpoint, filter: { streamPrefixes: [p] } });
    try {
      const rest = await take(resumed, 3);
      expect(rest.map((e) => e.data)).toEqual([{ n: 2 }, { name: 'two' }, { n: 3 }]);
    } finally {
      await resumed.unsubscribe();
    }
    const typed = store.subscribeToAll({ filter: { eventTypes: ['ThingRenamed'] }, fromPosition: checkpoint });
    try {
      const renames = (await take(typed, 1)).map((e) => e.data);
      expect(renames).toEqual([{ name: 'two' }]);
    } finally {
      await typed.unsubscribe();
    }
  });

  it('validates data on append: a wrong shape or an unknown type stores nothing', async () => {
    const s = `${prefix()}-a`;
    await expect(store.appendToStream(s, [thing(1), { type: 'ThingHappened', data: { n: 'one' } }])).rejects.toBeInstanceOf(EventValidationError);
    await expect(store.appendToStream(s, [{ type: 'NoSuchEvent', data: {} }])).rejects.toBeInstanceOf(EventValidationError);
    await expect(store.appendToStream(s, [{ type: 'ThingRenamed', data: { name: '' } }])).rejects.toThrow(/ThingRenamed/);
    expect(await store.readStream(s)).toEqual([]);
  });

  it('validates data on read: an event that no longer matches its schema is an error, not a silent skip', async () => {
    const s = `${prefix()}-a`;
    await store.appendToStream(s, [{ type: 'Checked', data: { n: 50 } }]);
    const strict = await open(strictRegistry());
    await expect(strict.readStream(s)).rejects.toBeInstanceOf(EventValidationError);
    await expect(strict.readAll({ filter: { streamPrefixes: [s] } })).rejects.toBeInstanceOf(EventValidationError);
    const sub = strict.subscribeToAll({ filter: { streamPrefixes: [s] } });
    try {
      await expect(take(sub, 1)).rejects.toBeInstanceOf(EventValidationError);
    } finally {
      await sub.unsubscribe();
    }
  });

  it('upcasts old versions when read; stored events are not rewritten', async () => {
    const s = `${prefix()}-a`;
    const old = await open(oldRegistry());
    await old.appendToStream(s, [{ type: 'Versioned', data: { first: 'Ada' } }]);
    await store.appendToStream(s, [{ type: 'Versioned', data: { first: 'Grace', last: 'Hopper' } }]);
    const read = await store.readStream(s);
    expect(read.map((e) => [e.schemaVersion, e.data])).toEqual([
      [1, { first: 'Ada', last: '(unknown)' }],
      [2, { first: 'Grace', last: 'Hopper' }],
    ]);
    // The old build still reads its own version untouched.
    expect((await old.readStream(s, { maxCount: 1 }))[0]!.data).toEqual({ first: 'Ada' });
    // And subscriptions upcast too.
    const sub = store.subscribeToAll({ filter: { streamPrefixes: [s] } });
    try {
      expect((await take(sub, 1))[0]!.data).toEqual({ first: 'Ada', last: '(unknown)' });
    } finally {
      await sub.unsubscribe();
    }
  });
}
