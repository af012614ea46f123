/**
 * The one way to run a command (Emmett's CommandHandler, Marten's inline lifecycle). Rules:
 * - load the stream, fold it with the decider's `evolve`, `decide`, append with the revision the
 *   decision was made on (`NO_STREAM` when there was none) — never a blind append;
 * - a concurrent writer (WrongExpectedVersionError) makes it load and decide again, at most
 *   `attempts` times in all; when the caller pinned `expectedRevision` (If-Match, a single-use
 *   token) it is not retried: the conflict is the answer;
 * - `assumeNew` (a stream named by an id just generated): the first attempt decides on the
 *   initial state without reading the stream and appends with `NO_STREAM`, so the append's own
 *   revision check stands in for the read; should the stream exist after all, that conflict loads
 *   it and decides again like any other (the decider then says why);
 * - no events → nothing is appended, nothing is projected;
 * - after the append, the inline projections registered for the appended event types
 *   (src/projections/inline.ts: the same projection objects the projector runs) are applied
 *   here, in `runInline`, and only here — so read-your-writes and its failure policy live in one place:
 *   once the append has committed the command has succeeded, so an inline failure (Redis down)
 *   never fails it — it is logged and counted (`authledger_inline_projection_failures_total`) and
 *   the projector applies the same events later (issue 21). Before the append nothing is caught;
 * - the runner picks the events' time once and stores it with them (`createdAt`), and the inline
 *   step uses that very time: an inline write and the projector's write of an event are equal;
 * - the result carries the appended events with their revisions, the next expected revision
 *   and the position of the last appended event (for read-your-writes at the HTTP edge).
 */
import { WrongExpectedVersionError, type EventMetadata, type EventStore, type Position, type RecordedEvent } from '../events/store';
import type { InlineDeps } from '../projections/inline';
import { inlineProjectionFailures } from '../infra/metrics';

/** The one way to say "no stream" on the write side. */
export const NO_STREAM = 'no_stream' as const;
export type StreamRevision = bigint | typeof NO_STREAM;

/** An event a decider returns; `id` makes a retried append idempotent (derived ids). */
export interface DecidedEvent {
  type: string;
  data: unknown;
  id?: string;
}

export interface Decider<S, C, E extends DecidedEvent = DecidedEvent> {
  initialState: () => S;
  evolve: (state: S, event: E) => S;
  decide: (command: C, state: S) => E[];
}

export interface Loaded<S> {
  state: S;
  revision: StreamRevision;
  /** When the stream's last event was stored. */
  lastStoredAt?: Date;
}

/** Reads a whole stream and folds it. */
export async function loadStream<S, E extends DecidedEvent>(
  store: EventStore,
  stream: string,
  decider: Pick<Decider<S, never, E>, 'initialState' | 'evolve'>,
): Promise<Loaded<S>> {
  return foldStream(await store.readStream(stream), decider);
}

/** Folds a whole stream already read (several streams read at once: `readStreams` in src/events/store.ts). */
export function foldStream<S, E extends DecidedEvent>(recorded: readonly RecordedEvent[], decider: Pick<Decider<S, never, E>, 'initialState' | 'evolve'>): Loaded<S> {
  const state = recorded.reduce((s, e) => decider.evolve(s, e as unknown as E), decider.initialState());
  const last = recorded.at(-1);
  return { state, revision: last ? last.revision : NO_STREAM, lastStoredAt: last?.createdAt };
}

export type AppendedEvent<E> = E & { revision: bigint };

export interface CommandResult<S, E> {
  /** State after the command. */
  state: S;
  /** Events appended by this command, with their stream revisions (empty: nothing changed). */
  appended: AppendedEvent<E>[];
  /** The stream's revision after the command: the `expectedRevision` of the next one. */
  nextExpectedRevision: StreamRevision;
  /** Position of the last appended event (undefined when nothing was appended). */
  position?: Position;
}

/** What the runner needs; a `Services` object fits (`config` for the inline projections). */
export interface CommandDeps extends InlineDeps {
  store: EventStore;
  /** Where an inline-projection failure after a committed append is logged (a `Services` has one). */
  log?: { warn(o: object, m?: string): void };
}

/** Around the append (e.g. the session gate waiting for its own "session ended" echo). */
export interface AppendHook {
  /** Called after a successful append and inline step; the command answers after it resolves. */
  done(): Promise<void>;
  /** Called when the append failed. */
  cancel(): void;
}

export interface RunCommand<S, C, E extends DecidedEvent> {
  stream: string;
  decider: Decider<S, C, E>;
  command: C;
  metadata?: EventMetadata;
  /** Decide only on this revision (If-Match, a loaded single-use token); a conflict is not retried. */
  expectedRevision?: StreamRevision;
  /** Loads and decides at most this many times on conflicts (default 3). */
  attempts?: number;
  /** The stream is named by a fresh id: the first attempt skips the read (see the rules above). */
  assumeNew?: boolean;
  /** A cheaper loader than reading the whole stream (sessions read their first and last event). */
  load?: (store: EventStore, stream: string) => Promise<Loaded<S>>;
  /** Called with the decided events just before they are appended. */
  beforeAppend?: (events: E[], state: S) => AppendHook | undefined;
}

export async function runCommand<S, C, E extends DecidedEvent>(deps: CommandDeps, run: RunCommand<S, C, E>): Promise<CommandResult<S, E>> {
  const attempts = run.expectedRevision !== undefined ? 1 : Math.max(run.assumeNew ? 2 : 1, run.attempts ?? 3);
  const load = run.load ?? ((store: EventStore, stream: string) => loadStream(store, stream, run.decider));
  for (let attempt = 1; ; attempt++) {
    const { state, revision } = run.assumeNew && attempt === 1 && run.expectedRevision === undefined
      ? { state: run.decider.initialState(), revision: NO_STREAM as StreamRevision }
      : await load(deps.store, run.stream);
    if (run.expectedRevision !== undefined && run.expectedRevision !== revision) {
      throw new WrongExpectedVersionError(run.stream, run.expectedRevision, revision);
    }
    const events = run.decider.decide(run.command, state);
    if (!events.length) return { state, appended: [], nextExpectedRevision: revision };
    const hook = run.beforeAppend?.(events, state);
    // The one clock of this command's events: stored with them and used by the inline step.
    const createdAt = new Date();
    let result;
    try {
      result = await deps.store.appendToStream(
        run.stream,
        events.map((e) => ({ ...(e.id ? { id: e.id } : {}), type: e.type, data: e.data, metadata: run.metadata ?? {} })),
        { expectedRevision: revision, createdAt: events.map(() => createdAt) },
      );
    } catch (err) {
      hook?.cancel();
      if (err instanceof WrongExpectedVersionError && attempt < attempts) continue;
      throw err;
    }
    const first = result.nextExpectedRevision - BigInt(events.length) + 1n;
    const appended = events.map((e, i) => ({ ...e, revision: first + BigInt(i) }));
    // Committed: from here on the command has succeeded whatever the inline step does.
    if (await runInline(deps, run.stream, appended, result.position, run.metadata, createdAt)) await hook?.done();
    else hook?.cancel();
    return {
      state: events.reduce(run.decider.evolve, state),
      appended,
      nextExpectedRevision: result.nextExpectedRevision,
      position: result.position,
    };
  }
}

/**
 * The inline step: applies the appended events to every inline projection that handles them,
 * now, in this process (read-your-writes). The projector applies them again later; every
 * projection is idempotent by revision. The events are stored already, so a failure here does
 * not fail the command: it is logged, counted, and left to the projector. Returns whether every
 * inline projection applied.
 */
export async function runInline(
  deps: CommandDeps,
  stream: string,
  appended: readonly AppendedEvent<DecidedEvent>[],
  position: Position,
  metadata: EventMetadata = {},
  createdAt: Date = new Date(),
): Promise<boolean> {
  if (!appended.length) return true;
  const recorded: RecordedEvent[] = appended.map((e, i) => ({
    id: e.id ?? '',
    type: e.type,
    data: e.data,
    metadata,
    streamName: stream,
    revision: e.revision,
    // Only the last event's position is known here; projections key on stream revisions.
    position: i === appended.length - 1 ? position : { commit: position.commit, prepare: position.prepare - BigInt(appended.length - 1 - i) },
    createdAt,
    schemaVersion: 1,
  }) as unknown as RecordedEvent);
  let ok = true;
  for (const { projection, events } of deps.inline.for(recorded)) {
    try {
      await projection.applyInline(deps, events);
    } catch (err) {
      ok = false;
      inlineProjectionFailures.inc({ projection: projection.name });
      deps.log?.warn({ err: err instanceof Error ? err.message : String(err), projection: projection.name, stream }, 'inline projection failed after the append; the projector will apply it');
    }
  }
  return ok;
}
