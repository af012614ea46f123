/**
 * The EventStoreDB adapter's subscription recovery decisions, without a server (the int suites
 * show them against one): which failures count as a refused filter, where a resubscription
 * resumes (last delivered event, or a server checkpoint with nothing undelivered before it),
 * and what is logged and counted. The client is a stand-in that scripts each subscribeToAll call.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { UnavailableError, type EventStoreDBClient } from '@eventstore/db-client';
import { EventStoreDBEventStore } from '../../src/events/esdb/store';
import type { EsdbLog } from '../../src/events/esdb/retry';
import { sleep, take, testRegistry } from './fixtures';

const pos = (n: bigint) => ({ commit: n, prepare: n });
const event = (n: number, over: Record<string, unknown> = {}) => ({
  event: {
    streamId: 'thing-1', id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, isJson: true, revision: BigInt(n), type: 'ThingHappened',
    created: new Date('2026-01-01T00:00:00Z'), data: { n }, metadata: { schemaVersion: 1 }, position: pos(BigInt(n) * 10n), ...over,
  },
});

interface Call { options: { fromPosition: unknown; filter?: { checkpointReached?: (s: unknown, p: unknown) => void } }; stream: PassThrough }
/** subscribeToAll returns a PassThrough per call; `script[i]` drives call i. */
function standIn(script: ((call: Call) => void)[]) {
  const calls: Call[] = [];
  const client = {
    subscribeToAll(options: Call['options']) {
      const stream = Object.assign(new PassThrough({ objectMode: true }), {
        unsubscribe: async () => void stream.end(),
      });
      const call = { options, stream };
      calls.push(call);
      setImmediate(() => script[calls.length - 1]?.(call));
      return stream;
    },
    dispose: async () => undefined,
  } as unknown as EventStoreDBClient;
  return { client, calls };
}

function captureLog() {
  const lines: { level: string; msg: string; [k: string]: unknown }[] = [];
  const log: EsdbLog = {
    warn: (o, msg) => lines.push({ ...(o as object), level: 'warn', msg }),
    error: (o, msg) => lines.push({ ...(o as object), level: 'error', msg }),
  };
  return { lines, log };
}
function counter() {
  const seen: string[] = [];
  return { seen, inc: (l: { source: string; reason: string }) => void seen.push(`${l.source}/${l.reason}`) };
}
const unavailable = () => Object.assign(new UnavailableError(undefined, 'connection dropped'), {});

describe('EventStoreDB subscription recovery', () => {
  it('a filter the server fails on before delivering anything is dropped for good, loudly; the filter then runs here', async () => {
    const { client, calls } = standIn([
      ({ stream }) => { stream.emit('confirmation'); stream.destroy(new Error("2 UNKNOWN: Cannot read properties of undefined (reading 'filter')")); },
      ({ stream }) => { stream.write(event(1, { type: '$metadata', streamId: '$$x' })); stream.write(event(2)); },
      ({ stream }) => { stream.write(event(3)); },
    ]);
    const { lines, log } = captureLog();
    const errors = counter();
    const store = new EventStoreDBEventStore(client, testRegistry(), { log, subscriptionErrors: errors, retryBaseMs: 1 });
    const sub = store.subscribeToAll();
    expect((await take(sub, 1)).map((e) => e.revision)).toEqual([2n]);
    await sub.unsubscribe();
    const again = store.subscribeToAll();
    expect((await take(again, 1)).map((e) => e.revision)).toEqual([3n]);
    await again.unsubscribe();
    expect(calls.map((c) => c.options.filter !== undefined)).toEqual([true, false, false]);
    expect(errors.seen).toEqual(['subscription/filter_refused']);
    expect(lines).toEqual([expect.objectContaining({ level: 'error', filter: 'exclude_system', msg: expect.stringMatching(/refused/) })]);
    await store.close();
  });

  it('a connectivity failure keeps the filter, is logged and counted, and resumes after the last delivered event', async () => {
    const { client, calls } = standIn([
      ({ stream }) => { stream.write(event(1)); stream.write(event(2)); setTimeout(() => stream.destroy(unavailable()), 20); },
      ({ stream }) => { stream.destroy(unavailable()); },
      ({ stream }) => { stream.write(event(2)); stream.write(event(3)); },
    ]);
    const { lines, log } = captureLog();
    const errors = counter();
    const store = new EventStoreDBEventStore(client, testRegistry(), { log, subscriptionErrors: errors, retryBaseMs: 5, retryMaxMs: 1000 });
    const sub = store.subscribeToAll({ filter: { streamPrefixes: ['thing-'] } });
    expect((await take(sub, 3)).map((e) => e.revision)).toEqual([1n, 2n, 3n]); // 2 is not repeated
    await sub.unsubscribe();
    expect(calls.map((c) => c.options.filter !== undefined)).toEqual([true, true, true]);
    expect(calls[1]!.options.fromPosition).toEqual(pos(20n));
    expect(calls[2]!.options.fromPosition).toEqual(pos(20n));
    expect(errors.seen).toEqual(['subscription/dropped', 'subscription/dropped']);
    expect(lines.map((l) => [l.level, l.retryInMs])).toEqual([['warn', 5], ['warn', 10]]);
    await store.close();
  });

  it('resumes from a server checkpoint only when every event before it was delivered', async () => {
    const { client, calls } = standIn([
      ({ stream, options }) => {
        stream.write(event(1));
        setTimeout(() => {
          options.filter!.checkpointReached!(stream, pos(500n)); // nothing buffered: usable
          stream.destroy(unavailable());
        }, 30);
      },
      ({ stream, options }) => {
        stream.write(event(60));
        stream.write(event(70));
        options.filter!.checkpointReached!(stream, pos(900n)); // 60 and 70 still buffered: ignored
        setTimeout(() => stream.destroy(unavailable()), 30);
      },
      ({ stream }) => { stream.write(event(80)); },
    ]);
    const store = new EventStoreDBEventStore(client, testRegistry(), { log: captureLog().log, retryBaseMs: 1 });
    const sub = store.subscribeToAll({ filter: { streamPrefixes: ['thing-'] } });
    expect((await take(sub, 1)).map((e) => e.revision)).toEqual([1n]);
    await sleep(60);
    expect((await take(sub, 3)).map((e) => e.revision)).toEqual([60n, 70n, 80n]);
    await sub.unsubscribe();
    expect(calls[1]!.options.fromPosition).toEqual(pos(500n));
    expect(calls[2]!.options.fromPosition).toEqual(pos(700n));
    await store.close();
  });
});
