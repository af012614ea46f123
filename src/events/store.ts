/**
 * The EventStore contract, shaped after EventStoreDB's client so adapters are interchangeable.
 * Rules every adapter keeps (checked by test/events/event-store-contract.ts against each adapter):
 * - appends to one stream are atomic and optimistic (`expectedRevision`), and never lost;
 * - re-appending events whose ids are already in the stream stores nothing and succeeds (a batch
 *   repeating only some of its ids is refused: PartialDuplicateAppendError on PostgreSQL);
 * - readAll / subscribeToAll deliver every event exactly once, in one total order that
 *   keeps each stream's revision order; positions are `{ commit, prepare }` as in EventStoreDB;
 * - `fromPosition` is exclusive: reading or subscribing from a position yields what comes after it;
 * - event data is validated by its registered zod schema on append and on read (upcast first).
 */
import type pg from 'pg';
import type { EventRegistry } from './registry';
import type { LogArchive } from './archive';

export { WrongExpectedVersionError, EventValidationError, PartialDuplicateAppendError } from './errors';

import type { ExpectedRevision } from './errors';

export type { ExpectedRevision };

export interface Position {
  /** PostgreSQL: the appending transaction id (xid8). EventStoreDB: commit position. */
  commit: bigint;
  /** PostgreSQL: the global sequence number. EventStoreDB: prepare position. */
  prepare: bigint;
}
export const START: Position = { commit: 0n, prepare: 0n };

export function comparePositions(a: Position, b: Position): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

export interface EventMetadata {
  correlationId?: string;
  causationId?: string;
  requestId?: string;
  actorUserId?: string;
  ip?: string;
  userAgent?: string;
}

export interface NewEvent<T extends string = string, D = unknown> {
  /** UUID; generated when absent. Supplying it makes retries idempotent. */
  id?: string;
  type: T;
  data: D;
  metadata?: EventMetadata;
}

export interface RecordedEvent<T extends string = string, D = unknown> {
  position: Position;
  streamName: string;
  revision: bigint;
  id: string;
  type: T;
  /** Version the event was stored with; `data` is always in the current version's shape. */
  schemaVersion: number;
  data: D;
  metadata: EventMetadata;
  createdAt: Date;
}

export interface AppendResult {
  nextExpectedRevision: bigint;
  position: Position;
}

export interface ReadStreamOptions {
  /** Inclusive. Default: 0 forwards, the end backwards. */
  fromRevision?: bigint;
  direction?: 'forwards' | 'backwards';
  maxCount?: number;
}

export interface EventFilter {
  eventTypes?: readonly string[];
  streamPrefixes?: readonly string[];
}

export interface ReadAllOptions {
  /** Exclusive; START (default) reads from the beginning. Backwards: events before it (default: the end). */
  fromPosition?: Position;
  direction?: 'forwards' | 'backwards';
  /** One page; default 1000. Page on with `fromPosition` = the last event's position. */
  maxCount?: number;
  filter?: EventFilter;
}

export interface SubscribeOptions {
  /** Exclusive: deliver what comes after it. Default: START. */
  fromPosition?: Position;
  filter?: EventFilter;
}

export interface Subscription extends AsyncIterable<RecordedEvent> {
  unsubscribe(): Promise<void>;
}

export interface AppendOptions {
  expectedRevision?: ExpectedRevision;
  /** The events' creation time: restores (`cli import`) keep the original; the command runner stores the time it also projects inline with. */
  createdAt?: Date[];
}

export interface EventStore {
  readonly kind: 'postgres' | 'eventstoredb';
  readonly registry: EventRegistry;
  appendToStream(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /**
   * Several whole streams in one read (the command side's preconditions: one round trip instead of
   * one per stream), each in revision order, in the order of `streams`. Optional: without it,
   * `readStreams()` below reads them one by one, in parallel.
   */
  readStreams?(streams: readonly string[]): Promise<RecordedEvent[][]>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  subscribeToAll(options?: SubscribeOptions): Subscription;
  /** Position of the newest event visible to readers, or START for an empty log. */
  headPosition(): Promise<Position>;
  /** Called (best effort) whenever this store learns that new events may be readable. */
  onAppended(listener: () => void): () => void;
  healthCheck(): Promise<void>;
  close(): Promise<void>;
  /** What this adapter can do beyond the contract above (see `PagedLog`). */
  readonly capabilities?: ReadonlySet<StoreCapability>;
}

/** Whole streams, in the order asked: one read when the adapter can, else one per stream in parallel. */
export function readStreams(store: EventStore, names: readonly string[]): Promise<RecordedEvent[][]> {
  if (store.readStreams) return store.readStreams(names);
  return Promise.all(names.map((n) => store.readStream(n)));
}

export type StoreCapability = 'paged-log' | 'audit-log' | 'log-archive';

export type { LogArchive } from './archive';

/** Capability `log-archive` (both adapters): NDJSON export/import and the hash-chain check (./archive.ts). */
export function hasLogArchive(store: EventStore): store is EventStore & LogArchive {
  return store.capabilities?.has('log-archive') ?? false;
}

/** A page of the log for a reader that handles only some event types. */
export interface LogBatch {
  /** The handled events, decoded. */
  events: RecordedEvent[];
  /** Events read (handled or not). */
  count: number;
  /** Position of the last event read (handled or not); undefined when nothing was read. */
  last?: Position;
  /**
   * PostgreSQL: committed events wait above the visibility horizon (a running transaction holds
   * them back), as seen by the statement that read the page. The reader looks again soon.
   */
  heldBack?: boolean;
}

/**
 * Capability `paged-log` (the PostgreSQL adapter): the whole log read in cheap pages below a
 * visibility horizon. Projection runners, rebuilds, lag and the audit reads use it; other
 * adapters fall back to `readAll`/`headPosition`.
 */
export interface PagedLog {
  /** The visibility horizon (xid8 text): readers see only events of transactions below it. */
  horizon(): Promise<string>;
  /**
   * The next page after `from` (up to `to`, inclusive), decoding only `types`; other rows only move
   * the position. One round trip, with `heldBack`; on `via` (the caller's own connection) when given.
   */
  readHandledBatch(from: Position, maxCount: number, types: readonly string[], to?: Position, via?: pg.ClientBase): Promise<LogBatch>;
  /** Where the page of `maxCount` events after `from` ends (inclusive); undefined when nothing is readable. */
  pageEnd(from: Position, maxCount: number): Promise<Position | undefined>;
  /** Committed events after `from`, counted up to `cap` (including those not readable yet). */
  countAfter(from: Position, cap: number): Promise<number>;
  /** Every event in the log. */
  countAll(): Promise<number>;
}

export function hasPagedLog(store: EventStore): store is EventStore & PagedLog {
  return store.capabilities?.has('paged-log') ?? false;
}

/**
 * Where a user's events are, as the `user_streams` read model (a PostgreSQL table on every
 * adapter) knows it: the streams it lists for the user, and how far in the log it has read.
 */
export interface UserStreamIndex {
  /** Streams the index lists for the user (the caller may leave out those outside its window). */
  streams: readonly string[];
  /** The index's checkpoint: events after it are found by scanning only the log's tail. */
  checkpoint: Position;
}

export interface AuditFilter {
  types?: readonly string[];
  /** Inclusive lower bound on the event's time (a string may carry microseconds). */
  from?: Date | string;
  /** Inclusive upper bound on the event's time. */
  to?: Date | string;
  /** Exclusive lower bound on the event's time (continuing from a snapshot). */
  afterTime?: Date | string;
  /** Exclusive: events after this position. */
  after?: Position;
  /** At most this many events (default: all). */
  limit?: number;
  /**
   * Events of these types may come with only their `sessionId`/`keyId`/`userId`, no metadata,
   * unvalidated (an optimisation for folds; adapters may return them whole).
   */
  slim?: readonly string[];
  /** `log` (default): log order, for pages. `time`: by created_at, then position, for folds. */
  order?: 'log' | 'time';
  /**
   * Only events no later append can still land before (PostgreSQL: below the visibility horizon;
   * EventStoreDB: every read is). Keyset pages ask for it so they never skip a late commit.
   */
  stable?: boolean;
}

export interface AuditSearch extends AuditFilter {
  /** Exact stream name. */
  stream?: string;
  streamPrefix?: string;
  /** metadata.actorUserId */
  actor?: string;
}

/**
 * Capability `audit-log` (both adapters): the audit trail's reads of the log, done the way each
 * store does them best (PostgreSQL: SQL on the events table, in src/events/postgres only;
 * EventStoreDB: stream reads and `$all` scans).
 * Rule: an event belongs to a user's history when its data carries that `userId`.
 */
export interface AuditLog {
  /** The user's events: those of the index's streams up to its checkpoint, and the tail after it. */
  readUserEvents(userId: string, index: UserStreamIndex, filter?: AuditFilter): Promise<RecordedEvent[]>;
  /** The whole log, filtered, in log order. */
  searchEvents(filter: AuditSearch): Promise<RecordedEvent[]>;
  /** The user who most recently registered with or changed to this e-mail (already normalised). */
  findUserIdByEmail(email: string): Promise<string | undefined>;
}

export function hasAuditLog(store: EventStore): store is EventStore & AuditLog {
  return store.capabilities?.has('audit-log') ?? false;
}

/** Whether an event falls inside an AuditFilter's time window and types (for adapters that filter in memory). */
export function auditFilterMatches(f: AuditFilter, e: RecordedEvent): boolean {
  if (f.types?.length && !f.types.includes(e.type)) return false;
  const t = e.createdAt.getTime();
  if (f.from !== undefined && t < toMs(f.from)) return false;
  if (f.afterTime !== undefined && t <= toMs(f.afterTime)) return false;
  if (f.to !== undefined && t > toMs(f.to)) return false;
  if (f.after && comparePositions(e.position, f.after) <= 0) return false;
  return true;
}

/** Milliseconds of a Date or ISO string; microseconds in a string are cut (events carry ms). */
function toMs(t: Date | string): number {
  return typeof t === 'string' ? Date.parse(t) : t.getTime();
}

/** Sorts in place in an AuditFilter's order. */
export function sortForAudit(events: RecordedEvent[], order: AuditFilter['order']): RecordedEvent[] {
  return events.sort((a, b) => (order === 'time' ? a.createdAt.getTime() - b.createdAt.getTime() : 0) || comparePositions(a.position, b.position));
}

/**
 * Positions as clients see them (`X-Log-Position`, `X-Consistent-After`): opaque strings whose
 * shape belongs to the adapter. PostgreSQL: `<commit>.<prepare>` (transaction id, sequence);
 * EventStoreDB: `C:<commit>/P:<prepare>`, as its own tools print it.
 */
export function formatPosition(kind: EventStore['kind'], p: Position): string {
  return kind === 'postgres' ? `${p.commit}.${p.prepare}` : `C:${p.commit}/P:${p.prepare}`;
}

const POSITION_SHAPES: Record<EventStore['kind'], RegExp> = {
  postgres: /^(\d{1,20})\.(\d{1,20})$/,
  eventstoredb: /^C:(\d{1,20})\/P:(\d{1,20})$/,
};

/** The position a client sent, or undefined when it is not one of this adapter's positions. */
export function parsePosition(kind: EventStore['kind'], text: string): Position | undefined {
  const m = POSITION_SHAPES[kind].exec(text.trim());
  if (!m) return undefined;
  const commit = BigInt(m[1]!);
  const prepare = BigInt(m[2]!);
  return commit < 2n ** 64n && prepare < 2n ** 64n ? { commit, prepare } : undefined;
}
