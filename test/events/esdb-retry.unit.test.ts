/**
 * A read whose HTTP/2 connection is reset under it (db-client: UnknownError 13 "Received
 * RST_STREAM ...", seen against a KurrentDB-protocol server under load) is tried once more; an
 * append never is; anything else is not retried. The client is a stand-in object (a reset cannot
 * be produced on demand by a real server); the errors are db-client's own classes.
 */
import { describe, expect, it } from 'vitest';
import { StreamNotFoundError, UnavailableError, UnknownError, type EventStoreDBClient } from '@eventstore/db-client';
import { isTransportReset, retryRead } from '../../src/events/esdb/retry';
import { EventStoreDBEventStore } from '../../src/events/esdb/store';
import { testRegistry } from './fixtures';

const reset = () => new UnknownError({ code: 13, message: '13 INTERNAL: Received RST_STREAM with code 2 triggered by internal client error: Session closed with error code 2' } as never);
const position = (n: bigint) => ({ commit: n, prepare: n });
const event = (n: bigint) => ({
  event: {
    streamId: 'thing-1', id: `00000000-0000-4000-8000-00000000000${n}`, isJson: true, revision: n, type: 'ThingHappened',
    created: new Date('2026-01-01T00:00:00Z'), data: { n: Number(n) }, metadata: { schemaVersion: 1 }, position: position(n * 100n),
  },
});
/** A read call that fails with `err` (after yielding `before`) or yields `items`. */
function call(items: unknown[], err?: Error, before: unknown[] = []) {
  return Object.assign((async function* () {
    yield* before;
    if (err) throw err;
    yield* items;
  })(), { cancel: async () => undefined });
}
/** Each read of a kind answers the next of its planned calls (the last one repeats). */
function client(plan: { readStream?: (() => unknown)[]; readAll?: (() => unknown)[]; append?: () => unknown }) {
  const calls = { readStream: 0, readAll: 0, append: 0 };
  const next = (kind: 'readStream' | 'readAll') => {
    const list = plan[kind] ?? [() => call([])];
    return list[Math.min(calls[kind]++, list.length - 1)]!();
  };
  const c = {
    readStream: () => next('readStream'),
    readAll: () => next('readAll'),
    appendToStream: async () => {
      calls.append++;
      return plan.append?.();
    },
    dispose: async () => undefined,
  } as unknown as EventStoreDBClient;
  return { c, calls };
}

describe('isTransportReset', () => {
  it('a reset stream, a closed session or no node is a reset; a refusal of the request is not', () => {
    expect(isTransportReset(reset())).toBe(true);
    expect(isTransportReset(new UnknownError(undefined, 'Connection dropped'))).toBe(true);
    expect(isTransportReset(new UnavailableError(undefined, 'node down'))).toBe(true);
    expect(isTransportReset(new UnknownError(undefined, '13 INTERNAL: something else'))).toBe(false);
    expect(isTransportReset(new StreamNotFoundError({ code: 5, message: 'no' } as never, 's'))).toBe(false);
    expect(isTransportReset('Received RST_STREAM')).toBe(false);
  });
});

describe('retryRead', () => {
  it('tries a reset read once more and answers its second result', async () => {
    let n = 0;
    await expect(retryRead(async () => {
      if (n++ === 0) throw reset();
      return 'second';
    }, 1)).resolves.toBe('second');
    expect(n).toBe(2);
  });

  it('a second reset is the caller\'s; another error is not retried', async () => {
    let n = 0;
    await expect(retryRead(async () => {
      n++;
      throw reset();
    }, 1)).rejects.toThrow(/RST_STREAM/);
    expect(n).toBe(2);
    n = 0;
    await expect(retryRead(async () => {
      n++;
      throw new Error('boom');
    }, 1)).rejects.toThrow('boom');
    expect(n).toBe(1);
  });
});

describe('the EventStoreDB adapter over a reset connection', () => {
  it('readStream reads again from the start, keeping nothing of the broken attempt', async () => {
    const { c, calls } = client({ readStream: [() => call([], reset(), [event(0n)]), () => call([event(0n), event(1n)])] });
    const store = new EventStoreDBEventStore(c, testRegistry());
    const got = await store.readStream('thing-1');
    expect(got.map((e) => e.revision)).toEqual([0n, 1n]);
    expect(calls.readStream).toBe(2);
  });

  it('a missing stream is still empty, and not read twice', async () => {
    const { c, calls } = client({ readStream: [() => call([], new StreamNotFoundError({ code: 5, message: 'not found' } as never, 'thing-9'))] });
    const store = new EventStoreDBEventStore(c, testRegistry());
    await expect(store.readStream('thing-9')).resolves.toEqual([]);
    expect(calls.readStream).toBe(1);
  });

  it('readAll re-reads only the broken page, without duplicates; headPosition retries too', async () => {
    const { c, calls } = client({ readAll: [() => call([], reset(), [event(1n)]), () => call([event(1n), event(2n)])] });
    const store = new EventStoreDBEventStore(c, testRegistry());
    const got = await store.readAll();
    expect(got.map((e) => e.position.commit)).toEqual([100n, 200n]);
    expect(calls.readAll).toBe(2);
    const head = client({ readAll: [() => call([], reset()), () => call([event(3n)])] });
    await expect(new EventStoreDBEventStore(head.c, testRegistry()).headPosition()).resolves.toEqual(position(300n));
    expect(head.calls.readAll).toBe(2);
  });

  it('an append is not retried: its reset reaches the caller', async () => {
    const { c, calls } = client({ append: () => Promise.reject(reset()) });
    const store = new EventStoreDBEventStore(c, testRegistry());
    await expect(store.appendToStream('thing-1', [{ type: 'ThingHappened', data: { n: 1 } }], { expectedRevision: 'no_stream' })).rejects.toThrow(/RST_STREAM/);
    expect(calls.append).toBe(1);
  });
});

describe('the head position read', () => {
  it('reads its small page to the end instead of cancelling it (a cancel resets the HTTP/2 stream)', async () => {
    let cancels = 0;
    const read = Object.assign((async function* () {
      yield event(3n);
      yield event(2n);
    })(), { cancel: async () => { cancels++; } });
    const c = { readAll: () => read, dispose: async () => undefined } as unknown as EventStoreDBClient;
    await expect(new EventStoreDBEventStore(c, testRegistry()).headPosition()).resolves.toEqual(position(300n));
    expect(cancels).toBe(0);
  });
});
