/**
 * One log-page read for followers that ask for the same page at once (src/events/postgres/shared-reads.ts),
 * on the real store and database: who joins, who reads alone, and that every reader still gets
 * exactly its own events.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../src/infra/db';
import { PostgresEventStore } from '../../src/events/postgres/store';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { eventually } from '../helpers/users';
import { testRegistry } from './fixtures';

let db: TestDatabase;
let pool: pg.Pool;
let store: PostgresEventStore;

beforeAll(async () => {
  db = await createTestDatabase('sharedreads');
  pool = createPool(db.url, 6, () => undefined);
  store = new PostgresEventStore(pool, testRegistry(), { pollIntervalMs: 60_000 });
});
afterAll(async () => {
  await store.close();
  await pool.end();
  await db.drop();
});

const counts = () => ({ sent: store.sharedReads.sent, joined: store.sharedReads.joined });

describe('shared log-page reads', () => {
  it('followers at one position with different types share one read, and each gets only its own events, decoded', async () => {
    const from = await store.headPosition();
    await store.appendToStream(`s-${Date.now()}`, [{ type: 'ThingHappened', data: { n: 1 } }, { type: 'ThingRenamed', data: { name: 'one' } }]);
    // The union of wanted types grows when a reader's types are first seen (a process's followers
    // at startup); a read sent before it grew cannot answer the new types. Once seen, they share.
    await Promise.all([store.readHandledBatch(from, 500, ['ThingHappened']), store.readHandledBatch(from, 500, ['ThingRenamed'])]);
    const before = counts();
    const [happened, renamed, both] = await Promise.all([
      store.readHandledBatch(from, 500, ['ThingHappened']),
      store.readHandledBatch(from, 500, ['ThingRenamed']),
      store.readHandledBatch(from, 500, ['ThingHappened', 'ThingRenamed']),
    ]);
    const after = counts();
    expect(after.sent - before.sent).toBe(1);
    expect(after.joined - before.joined).toBe(2);
    expect(happened.events.map((e) => e.type)).toEqual(['ThingHappened']);
    expect(happened.events[0]!.data).toEqual({ n: 1 });
    expect(renamed.events.map((e) => e.type)).toEqual(['ThingRenamed']);
    expect(renamed.events[0]!.data).toEqual({ name: 'one' });
    expect(both.events.map((e) => e.type)).toEqual(['ThingHappened', 'ThingRenamed']);
    // Every reader moves to the same page end.
    expect(happened.last).toEqual(renamed.last);
    expect(happened.count).toBe(2);
  });

  it('a read after an append signal never joins a read sent before it: it sees the new event', async () => {
    const from = await store.headPosition();
    const first = store.readHandledBatch(from, 500, ['ThingHappened']);
    await store.appendToStream(`s-${Date.now()}`, [{ type: 'ThingHappened', data: { n: 2 } }]);
    const before = counts();
    const second = await store.readHandledBatch(from, 500, ['ThingHappened']);
    expect(counts().sent - before.sent).toBe(1);
    expect(second.events.map((e) => e.data)).toEqual([{ n: 2 }]);
    await first;
  });

  it('bounded reads (rebuilds) read alone; a longer page in flight is cut to the joiner length and says it is full', async () => {
    const from = await store.headPosition();
    await store.appendToStream(`s-${Date.now()}`, Array.from({ length: 5 }, (_, n) => ({ type: 'ThingHappened', data: { n } })));
    const head = await store.headPosition();
    const b0 = counts();
    const bounded = await Promise.all([store.readHandledBatch(from, 500, ['ThingHappened'], head), store.readHandledBatch(from, 500, ['ThingHappened'], head)]);
    // Not through the shared reads at all (neither sent there nor joined), each its own page.
    expect(counts()).toEqual(b0);
    expect(bounded.map((b) => b.count)).toEqual([5, 5]);

    const before = counts();
    const [long, short] = await Promise.all([store.readHandledBatch(from, 500, ['ThingHappened']), store.readHandledBatch(from, 3, ['ThingHappened'])]);
    expect(counts().sent - before.sent).toBe(1);
    expect(long.count).toBe(5);
    expect(short.count).toBe(3);
    expect(short.events.map((e) => e.data)).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
    expect(short.heldBack).toBe(false);
    // A shorter page in flight cannot answer a longer read: it reads on its own.
    const b1 = counts();
    const [s2, l2] = await Promise.all([store.readHandledBatch(from, 3, ['ThingHappened']), store.readHandledBatch(from, 500, ['ThingHappened'])]);
    expect(counts().sent - b1.sent).toBe(2);
    expect([s2.count, l2.count]).toEqual([3, 5]);
  });

  it('a subscription and a projection reading from one position both deliver the event', async () => {
    const from = await store.headPosition();
    const sub = store.subscribeToAll({ fromPosition: from, filter: { eventTypes: ['ThingRenamed'] } });
    const it = sub[Symbol.asyncIterator]();
    const next = it.next();
    await new Promise((r) => setTimeout(r, 100)); // the subscription's first (empty) read is done
    await store.appendToStream(`s-${Date.now()}`, [{ type: 'ThingRenamed', data: { name: 'two' } }]);
    const batch = await store.readHandledBatch(from, 1000, ['ThingRenamed']);
    const got = await next;
    expect(got.value!.data).toEqual({ name: 'two' });
    expect(batch.events.map((e) => e.data)).toEqual([{ name: 'two' }]);
    await sub.unsubscribe();
  });

  it("a store's own NOTIFY does not wake its followers twice; another store's append wakes them once", async () => {
    const other = new PostgresEventStore(pool, testRegistry(), { pollIntervalMs: 60_000 });
    const wakes = { mine: 0, other: 0 };
    const offMine = store.onAppended(() => wakes.mine++);
    const offOther = other.onAppended(() => wakes.other++);
    // A listener signals once when it starts listening (this store's may already be listening).
    await eventually(async () => wakes.other >= 1, 2000);
    await new Promise((r) => setTimeout(r, 100));
    const before = { ...wakes };
    await store.appendToStream(`s-${Date.now()}`, [{ type: 'ThingHappened', data: { n: 3 } }]);
    await eventually(async () => wakes.other - before.other === 1, 2000); // the NOTIFY reached the other store
    await new Promise((r) => setTimeout(r, 100)); // and its echo reached this one
    expect(wakes.mine - before.mine).toBe(1); // the local signal at commit, not the echo
    expect(wakes.other - before.other).toBe(1);
    await other.appendToStream(`s-${Date.now()}`, [{ type: 'ThingHappened', data: { n: 4 } }]);
    await eventually(async () => wakes.mine - before.mine === 2, 2000);
    offMine();
    offOther();
    await other.close();
  });
});
