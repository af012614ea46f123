/**
 * Runs one command against one aggregate stream: read, fold, decide, append with the expected
 * revision. A concurrent writer (WrongExpectedVersionError) makes it decide again on the fresh
 * state, a few times, so commands of this area never lose an update.
 */
import type { EventMetadata, EventStore } from '../../events/store';
import { WrongExpectedVersionError } from '../../events/store';
import type { RevisionedEvent } from '../../projections/access-state';

export interface Decider<S, C, E extends { type: string; data: unknown }> {
  initialState: () => S;
  evolve: (state: S, event: E) => S;
  decide: (command: C, state: S) => E[];
}

export interface AggregateResult<S, E> {
  /** State after the command. */
  state: S;
  /** Events appended by this command (with their stream revisions). */
  appended: (E & RevisionedEvent)[];
  /** The stream's revision after the command (-1n: no stream). */
  revision: bigint;
}

export async function loadAggregate<S, E extends { type: string; data: unknown }>(
  store: EventStore,
  stream: string,
  decider: Pick<Decider<S, unknown, E>, 'initialState' | 'evolve'>,
): Promise<{ state: S; revision: bigint }> {
  const recorded = await store.readStream(stream);
  const state = recorded.reduce((s, e) => decider.evolve(s, e as unknown as E), decider.initialState());
  return { state, revision: recorded.at(-1)?.revision ?? -1n };
}

export async function runAggregate<S, C, E extends { type: string; data: unknown }>(
  store: EventStore,
  stream: string,
  decider: Decider<S, C, E>,
  command: C,
  metadata: EventMetadata,
  attempts = 3,
): Promise<AggregateResult<S, E>> {
  for (let attempt = 1; ; attempt++) {
    const { state, revision } = await loadAggregate(store, stream, decider);
    const events = decider.decide(command, state);
    if (!events.length) return { state, appended: [], revision };
    try {
      await store.appendToStream(
        stream,
        events.map((e) => ({ type: e.type, data: e.data, metadata })),
        { expectedRevision: revision < 0n ? 'no_stream' : revision },
      );
    } catch (err) {
      if (err instanceof WrongExpectedVersionError && attempt < attempts) continue;
      throw err;
    }
    const appended = events.map((e, i) => ({ ...e, revision: revision + 1n + BigInt(i) }));
    return { state: events.reduce(decider.evolve, state), appended, revision: revision + BigInt(events.length) };
  }
}
