/**
 * The command runner's `assumeNew` (src/commands/decider.ts): a stream named by a fresh id is not
 * read on the first attempt; the append's NO_STREAM check stands in, and a stream that exists
 * after all is loaded and decided on again (the decider's own refusal is the answer).
 */
import { describe, expect, it } from 'vitest';
import { NO_STREAM, runCommand, type Decider } from '../../src/commands/decider';
import { WrongExpectedVersionError, type AppendOptions, type EventStore, type NewEvent, type RecordedEvent } from '../../src/events/store';

interface S { exists: boolean }
type C = { type: 'Create' };
type E = { type: 'Created'; data: Record<string, never> };
const decider: Decider<S, C, E> = {
  initialState: () => ({ exists: false }),
  evolve: (_s, _e) => ({ exists: true }),
  decide: (_c, s) => {
    if (s.exists) throw Object.assign(new Error('taken'), { code: 'taken' });
    return [{ type: 'Created', data: {} }];
  },
};

/** An in-memory store that counts reads and checks the expected revision as the adapters do. */
function memoryStore() {
  const streams = new Map<string, RecordedEvent[]>();
  const calls = { reads: 0, appends: [] as AppendOptions['expectedRevision'][] };
  const store = {
    kind: 'postgres',
    async readStream(name: string) {
      calls.reads++;
      return streams.get(name) ?? [];
    },
    async appendToStream(name: string, events: readonly NewEvent[], options: AppendOptions = {}) {
      calls.appends.push(options.expectedRevision);
      const cur = streams.get(name) ?? [];
      const actual = cur.length ? BigInt(cur.length - 1) : NO_STREAM;
      const expected = options.expectedRevision ?? 'any';
      if (expected !== 'any' && expected !== actual) throw new WrongExpectedVersionError(name, expected, actual);
      for (const e of events) cur.push({ id: '', type: e.type, data: e.data, metadata: {}, streamName: name, revision: BigInt(cur.length), position: { commit: 1n, prepare: BigInt(cur.length) }, createdAt: new Date() } as unknown as RecordedEvent);
      streams.set(name, cur);
      return { nextExpectedRevision: BigInt(cur.length - 1), position: { commit: 1n, prepare: BigInt(cur.length - 1) } };
    },
  } as unknown as EventStore;
  return { store, streams, calls };
}

const deps = (store: EventStore) => ({ store, inline: { for: () => [] }, config: {} }) as never;

describe('runCommand assumeNew', () => {
  it('appends a new stream with NO_STREAM without reading it', async () => {
    const m = memoryStore();
    const r = await runCommand(deps(m.store), { stream: 'k-1', decider, command: { type: 'Create' }, assumeNew: true });
    expect(m.calls.reads).toBe(0);
    expect(m.calls.appends).toEqual([NO_STREAM]);
    expect(r.appended.map((e) => e.revision)).toEqual([0n]);
    expect(r.state).toEqual({ exists: true });
  });

  it('a stream that exists after all: the conflict loads it and the decider refuses', async () => {
    const m = memoryStore();
    await runCommand(deps(m.store), { stream: 'k-2', decider, command: { type: 'Create' } });
    m.calls.reads = 0;
    m.calls.appends = [];
    await expect(runCommand(deps(m.store), { stream: 'k-2', decider, command: { type: 'Create' }, assumeNew: true })).rejects.toMatchObject({ code: 'taken' });
    expect(m.calls.reads).toBe(1);
    expect(m.calls.appends).toEqual([NO_STREAM]);
    expect(m.streams.get('k-2')).toHaveLength(1);
  });

  it('…even when the caller allows a single attempt', async () => {
    const m = memoryStore();
    await runCommand(deps(m.store), { stream: 'k-3', decider, command: { type: 'Create' } });
    await expect(runCommand(deps(m.store), { stream: 'k-3', decider, command: { type: 'Create' }, assumeNew: true, attempts: 1 })).rejects.toMatchObject({ code: 'taken' });
  });

  it('without it, the runner reads the stream first', async () => {
    const m = memoryStore();
    await runCommand(deps(m.store), { stream: 'k-4', decider, command: { type: 'Create' } });
    expect(m.calls.reads).toBe(1);
  });
});
