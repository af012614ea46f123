/**
 * The EventStoreDB adapter's mappings, without a server (the contract suite needs one): expected
 * revisions, the client's WrongExpectedVersionError, filters, and how recorded events are read
 * back (schema version and metadata from the event metadata, system events hidden). The client
 * is a stand-in object here; only these mappings are under test.
 */
import { describe, expect, it } from 'vitest';
import { ANY, NO_STREAM, STREAM_EXISTS, WrongExpectedVersionError as EsdbWrongExpectedVersionError, type EventStoreDBClient } from '@eventstore/db-client';
import { EventStoreDBEventStore, serverFilter, toEsdbExpected } from '../../src/events/esdb/store';
import { WrongExpectedVersionError } from '../../src/events/store';
import { testRegistry } from './fixtures';

const position = (n: bigint) => ({ commit: n, prepare: n });
function recorded(n: bigint, over: Record<string, unknown> = {}) {
  return {
    event: {
      streamId: 'thing-1', id: `00000000-0000-4000-8000-00000000000${n}`, isJson: true, revision: n, type: 'ThingHappened',
      created: new Date('2026-01-01T00:00:00Z'), data: { n: Number(n) },
      metadata: { schemaVersion: 1, $correlationId: 'c1', requestId: 'r1' }, position: position(n * 100n), ...over,
    },
  };
}
/** A stand-in client: appendToStream runs `append`, readAll yields `events`, every stream is empty. */
function fakeClient(opts: { append?: () => unknown; events?: unknown[] }) {
  return {
    appendToStream: async () => opts.append?.(),
    readStream: () => Object.assign((async function* () { /* empty */ })(), { cancel: async () => undefined }),
    readAll: () => Object.assign((async function* () { yield* opts.events ?? []; })(), { cancel: async () => undefined }),
    dispose: async () => undefined,
  } as unknown as EventStoreDBClient;
}

describe('EventStoreDB adapter mappings', () => {
  it('maps expected revisions to the client constants', () => {
    expect(toEsdbExpected('any')).toBe(ANY);
    expect(toEsdbExpected('no_stream')).toBe(NO_STREAM);
    expect(toEsdbExpected('stream_exists')).toBe(STREAM_EXISTS);
    expect(toEsdbExpected(7n)).toBe(7n);
  });

  it("turns the client's WrongExpectedVersionError into ours, with expected and actual", async () => {
    const store = new EventStoreDBEventStore(fakeClient({
      append: () => { throw new EsdbWrongExpectedVersionError(undefined, { streamName: 's', expected: 3n, current: 5n }); },
    }), testRegistry());
    const err = await store.appendToStream('s', [{ type: 'ThingHappened', data: { n: 1 } }], { expectedRevision: 3n }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WrongExpectedVersionError);
    expect(err).toMatchObject({ streamName: 's', expected: 3n, actual: 5n });
    const missing = new EventStoreDBEventStore(fakeClient({
      append: () => { throw new EsdbWrongExpectedVersionError(undefined, { streamName: 's', expected: STREAM_EXISTS, current: NO_STREAM }); },
    }), testRegistry());
    await expect(missing.appendToStream('s', [{ type: 'ThingHappened', data: { n: 1 } }], { expectedRevision: 'stream_exists' }))
      .rejects.toMatchObject({ expected: 'stream_exists', actual: 'no_stream' });
  });

  it('builds one server-side filter (types as prefixes, else stream prefixes, else no system events), with checkpoints', () => {
    expect(serverFilter({ eventTypes: ['A.b', 'C'] })).toMatchObject({ filterOn: 'eventType', prefixes: ['A.b', 'C'], checkpointInterval: 1 });
    expect(serverFilter({ eventTypes: ['A.b'] })).not.toHaveProperty('regex');
    expect(serverFilter({ streamPrefixes: ['user-'] })).toMatchObject({ filterOn: 'streamName', prefixes: ['user-'] });
    expect(serverFilter({ eventTypes: ['C'], streamPrefixes: ['user-'] })).toMatchObject({ filterOn: 'eventType', prefixes: ['C'] });
    expect(serverFilter(undefined)).toMatchObject({ filterOn: 'eventType', regex: '^[^$].*' });
    const reached = () => undefined;
    expect(serverFilter({ streamPrefixes: ['user-'] }, reached)).toMatchObject({ checkpointReached: reached });
  });

  it('readAll: exclusive fromPosition, system events hidden, metadata and version read back', async () => {
    const events = [
      recorded(1n),
      { event: { ...recorded(2n).event, type: '$metadata', streamId: '$$thing-1' } },
      recorded(3n),
    ];
    const store = new EventStoreDBEventStore(fakeClient({ events }), testRegistry());
    const all = await store.readAll({ fromPosition: position(100n) });
    expect(all.map((e) => e.revision)).toEqual([3n]);
    expect(all[0]).toMatchObject({ streamName: 'thing-1', schemaVersion: 1, data: { n: 3 }, metadata: { correlationId: 'c1', requestId: 'r1' } });
  });
});
