/**
 * The EventStoreDB (KurrentDB) EventStore adapter, via @eventstore/db-client.
 * Rules it enforces (same contract as the PostgreSQL adapter, test/events/event-store-contract.ts):
 * - positions are EventStoreDB's own `{commit, prepare}`; `fromPosition` is exclusive (readAll
 *   skips the event sitting exactly at it, subscribeToAll already starts after it);
 * - expected revisions map 1:1 to ANY / NO_STREAM / STREAM_EXISTS / bigint, and the client's
 *   WrongExpectedVersionError becomes ours (expected and actual carried over); an empty append
 *   stores nothing and reports the stream's revision (-1 for no stream), checked here because
 *   servers disagree on what they answer to an empty append;
 * - system events (`$`-prefixed types or streams) never reach callers;
 * - our schema version and metadata travel in the event's JSON metadata
 *   (`$correlationId`/`$causationId` use EventStoreDB's own keys so its projections see them);
 * - data is validated on append and upcast + validated on read, as in every adapter;
 * - every gRPC read is finished on every exit (`consume`): db-client's dispose() waits for each
 *   open call, so one abandoned read makes close() hang forever;
 * - headPosition() and healthCheck() never decode events (an event type this build does not know
 *   must not break startup);
 * - subscriptions filter on the server (prefix filters, with checkpoints), resume from the last
 *   delivered event or server checkpoint after a failure, and log, count and back off every
 *   failure (retry.ts); a server that refuses a filter gets none and the filter runs here.
 * - every append chains its events on the stream's previous event (src/events/hash.ts) and
 *   stores the link in the metadata (`hash`); it appends with the exact expected revision it
 *   chained on, so a concurrent writer makes it fail and re-chain, never fork the chain;
 * - retries are idempotent here, not only on the server: a batch whose caller-supplied ids are
 *   already stored right after the expected revision (for `any`: among the last 32 events)
 *   answers the earlier result; a partial repeat throws PartialDuplicateAppendError.
 * Notes: the creation time (the runner's, or a restore's) is kept in metadata.
 * db-client 6's readAll takes no filter, so readAll pages through `$all` and filters here.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import {
  ANY,
  BACKWARDS,
  END,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START as ESDB_START,
  STREAM_EXISTS,
  StreamNotFoundError,
  WrongExpectedVersionError as EsdbWrongExpectedVersionError,
  eventTypeFilter,
  excludeSystemEvents,
  jsonEvent,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type AppendExpectedRevision,
  type Filter,
  type JSONType,
  type ReadPosition,
  type ResolvedEvent,
} from '@eventstore/db-client';
import type { EventRegistry } from '../registry';
import { ScanningAuditLog } from './audit';
import { EsdbArchive, type RawEvent } from './archive';
import type { ExportOptions, ExportReport, ImportOptions, ImportReport, LogArchive, VerifyOptions, VerifyReport } from '../archive';
import type { Readable, Writable } from 'node:stream';
import { chainHash, isoToMicros, jsonbText } from '../hash';
import {
  PartialDuplicateAppendError,
  START,
  WrongExpectedVersionError,
  comparePositions,
  type AppendOptions,
  type AppendResult,
  type AuditFilter,
  type AuditLog,
  type AuditSearch,
  type StoreCapability,
  type UserStreamIndex,
  type EventFilter,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type Position,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type Subscription,
  type SubscribeOptions,
} from '../store';
import {
  Backoff,
  Sleeper,
  isConnectivityError,
  retryRead,
  stderrLog,
  type EsdbLog,
  type EsdbStoreOptions,
  type SubscriptionErrorSource,
} from './retry';

export type { EsdbStoreOptions } from './retry';

const DEFAULT_PAGE = 1000;
/** headPosition() walks back over system events in pages this small. */
const HEAD_PAGE = 32;
/** Server checkpoints every 32 × this many scanned events (db-client's multiplier). */
const CHECKPOINT_INTERVAL = 1;
/** Log a failing subscription at error level from this many consecutive failures. */
const LOUD_AFTER = 5;
/** A filtered subscription failing this soon, before any event, is taken as a refused filter. */
const REFUSAL_WINDOW_MS = 5000;
/** An `any` append with caller ids looks this far back from the head for an earlier copy of the batch. */
const IDEMPOTENCY_WINDOW = 32;
/**
 * An `any`/`stream_exists` append that lost a race to another writer is chained again on the new
 * head, up to this often, after a short random pause (contending writers spread out).
 */
const APPEND_RETRIES = 30;
/** Streams whose last event's revision and hash are remembered (what the next append chains on). */
const HEAD_CACHE = 10_000;

/** The last known event (revision, hash) of recently used streams; an event's hash never changes. */
class HeadCache {
  private readonly map = new Map<string, { revision: bigint; hash: string }>();
  get(stream: string) {
    const v = this.map.get(stream);
    if (v) {
      this.map.delete(stream);
      this.map.set(stream, v);
    }
    return v;
  }
  remember(stream: string, revision: bigint, hash: string) {
    this.map.delete(stream);
    this.map.set(stream, { revision, hash });
    if (this.map.size > HEAD_CACHE) this.map.delete(this.map.keys().next().value!);
  }
  forget(stream: string) {
    this.map.delete(stream);
  }
}

/** What the adapter keeps in an event's stored metadata, read back raw. */
function storedParts(e: EsdbRecorded | RawEvent) {
  const m = (e.isJson && e.metadata && typeof e.metadata === 'object' && !(e.metadata instanceof Uint8Array) ? e.metadata : {}) as StoredMetadata;
  return {
    version: m.schemaVersion ?? 1,
    createdAt: typeof m.createdAt === 'string' ? m.createdAt : e.created.toISOString(),
    hash: typeof m.hash === 'string' ? m.hash : '',
    metadata: fromStoredMetadata(m),
  };
}

/** The chain hash an event carries in its metadata ('' when it has none: written without the chain). */
function storedHash(e: EsdbRecorded): string {
  const m = e.isJson && e.metadata && typeof e.metadata === 'object' && !(e.metadata instanceof Uint8Array) ? (e.metadata as StoredMetadata) : undefined;
  return typeof m?.hash === 'string' ? m.hash : '';
}

interface StoredMetadata {
  $correlationId?: string;
  $causationId?: string;
  requestId?: string;
  actorUserId?: string;
  ip?: string;
  userAgent?: string;
  schemaVersion?: number;
  createdAt?: string;
  /** This event's link of the stream's hash chain (src/events/hash.ts), hex. */
  hash?: string;
  [key: string]: unknown;
}

type EsdbRecorded = NonNullable<AllStreamResolvedEvent['event']> | NonNullable<ResolvedEvent['event']>;
type Checkpointed = (subscription: AllStreamSubscription, position: Position) => void;

export function toEsdbExpected(expected: ExpectedRevision): AppendExpectedRevision {
  if (expected === 'any') return ANY;
  if (expected === 'no_stream') return NO_STREAM;
  if (expected === 'stream_exists') return STREAM_EXISTS;
  return expected;
}

const isSystem = (e: { type: string; streamId: string }) => e.type.startsWith('$') || e.streamId.startsWith('$');

function matches(filter: EventFilter | undefined, e: { type: string; streamId: string }): boolean {
  if (filter?.eventTypes && !filter.eventTypes.includes(e.type)) return false;
  if (filter?.streamPrefixes && !filter.streamPrefixes.some((p) => e.streamId.startsWith(p))) return false;
  return true;
}

/** Which server-side filter `serverFilter` builds; a refused kind is not asked for again. */
export type FilterKind = 'event_types' | 'stream_prefixes' | 'exclude_system';
export const filterKind = (filter: EventFilter | undefined): FilterKind =>
  filter?.eventTypes?.length ? 'event_types' : filter?.streamPrefixes?.length ? 'stream_prefixes' : 'exclude_system';

/**
 * The server-side filter: one of event types or stream prefixes (EventStoreDB takes one); the
 * rest, and exactness, is checked here. Event types go as prefixes, not a regex: prefix
 * filters are cheaper on EventStoreDB and run on servers whose regex filters do not.
 */
export function serverFilter(filter: EventFilter | undefined, checkpointReached?: Checkpointed): Filter {
  const common = { checkpointInterval: CHECKPOINT_INTERVAL, ...(checkpointReached ? { checkpointReached } : {}) };
  if (filter?.eventTypes?.length) return eventTypeFilter({ prefixes: [...filter.eventTypes], ...common });
  if (filter?.streamPrefixes?.length) return streamNameFilter({ prefixes: [...filter.streamPrefixes], ...common });
  return excludeSystemEvents(common);
}

/** A db-client read (readAll / readStream): an async iterable whose gRPC call can be cancelled. */
interface ReadCall<E> extends AsyncIterable<E> {
  cancel(): Promise<void>;
}

/**
 * Reads `read` to its end, handing each item to `visit` until it returns false or throws; then
 * rethrows what `visit` threw. Stopping early cancels the call and drains what is already
 * buffered instead of breaking out of the loop: a broken-out db-client read leaves its gRPC
 * stream unconsumed, never finished, and the client's dispose() waits for it forever.
 */
export async function consume<E>(read: ReadCall<E>, visit: (item: E) => boolean | void): Promise<void> {
  let stopped = false;
  let failure: { err: unknown } | undefined;
  for await (const item of read) {
    if (stopped) continue;
    try {
      if (visit(item) === false) stopped = true;
    } catch (err) {
      failure = { err };
      stopped = true;
    }
    if (stopped) await read.cancel().catch(() => undefined);
  }
  if (failure) throw failure.err;
}

/**
 * A filtered subscription that fails soon, before delivering anything, with an error that is not
 * about connectivity: the server cannot run the filter (some servers confirm the subscription
 * first, then fail). Mistaking a real failure for this costs only efficiency, and is logged.
 */
function isRefusal(err: unknown, delivered: boolean, startedAt: number): boolean {
  return !delivered && !isConnectivityError(err) && Date.now() - startedAt < REFUSAL_WINDOW_MS;
}

export class EventStoreDBEventStore implements EventStore, AuditLog, LogArchive {
  readonly kind = 'eventstoredb' as const;
  readonly capabilities: ReadonlySet<StoreCapability> = new Set(['audit-log', 'log-archive']);
  private readonly audit = new ScanningAuditLog(this);
  private readonly heads = new HeadCache();
  private readonly archive: EsdbArchive;
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  private readonly log: EsdbLog;
  private readonly sleeper = new Sleeper();
  private readonly active = new Set<{ stop(): Promise<void> }>();
  /** Filter kinds this server refused: subscriptions then filter client-side only. */
  private readonly refusedFilters = new Set<FilterKind>();
  private watcher: { stop(): Promise<void> } | undefined;
  private closed = false;

  constructor(
    private readonly client: EventStoreDBClient,
    readonly registry: EventRegistry,
    private readonly options: EsdbStoreOptions = {},
  ) {
    this.log = options.log ?? stderrLog;
    this.archive = new EsdbArchive({
      client,
      registry,
      consume,
      parts: (e) => storedParts(e as EsdbRecorded),
      storedMetadata: (own, version, createdAt, hash) => ({ ...toStoredMetadata(own), schemaVersion: version, createdAt, hash }),
      appended: (stream, revision, hash) => {
        this.heads.remember(stream, revision, hash);
        this.emitter.emit('appended');
      },
    });
  }

  /** LogArchive (see ./archive.ts). */
  exportLog(out: Writable, opts?: ExportOptions): Promise<ExportReport> {
    return this.archive.exportLog(out, opts);
  }

  importLog(input: Readable, opts?: ImportOptions): Promise<ImportReport> {
    return this.archive.importLog(input, opts);
  }

  verifyLog(opts?: VerifyOptions): Promise<VerifyReport> {
    return this.archive.verifyLog(opts);
  }

  /** AuditLog (see ./audit.ts). */
  readUserEvents(userId: string, index: UserStreamIndex, filter?: AuditFilter): Promise<RecordedEvent[]> {
    return this.audit.readUserEvents(userId, index, filter);
  }

  searchEvents(filter: AuditSearch): Promise<RecordedEvent[]> {
    return this.audit.searchEvents(filter);
  }

  findUserIdByEmail(email: string): Promise<string | undefined> {
    return this.audit.findUserIdByEmail(email);
  }

  static async connect(url: string, registry: EventRegistry, options: EsdbStoreOptions = {}): Promise<EventStoreDBEventStore> {
    const store = new EventStoreDBEventStore(EventStoreDBClient.connectionString(url), registry, options);
    try {
      await store.healthCheck();
    } catch (err) {
      await store.close().catch(() => undefined);
      throw err;
    }
    return store;
  }

  async appendToStream(stream: string, events: readonly NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    const expected = options.expectedRevision ?? 'any';
    if (events.length === 0) return this.emptyAppend(stream, expected);
    const ids = events.map((e) => e.id ?? randomUUID());
    const callerIds = events.some((e) => e.id);
    const encoded = events.map((e) => ({ e, enc: this.registry.encode(e.type, e.data) }));
    for (let attempt = 0; ; attempt++) {
      // The event the batch chains on: the caller's expected revision, or the stream's head.
      const prev = await this.chainBase(stream, expected, attempt > 0);
      if (prev === 'missing') throw new WrongExpectedVersionError(stream, expected, 'no_stream');
      if (callerIds && (expected === 'any' || expected === 'stream_exists')) {
        const done = await this.alreadyStored(stream, ids, prev.revision < 0n ? 0n : prev.revision - BigInt(IDEMPOTENCY_WINDOW) + 1n, IDEMPOTENCY_WINDOW + ids.length, false);
        if (done) return done;
      }
      let prevHash = prev.hash;
      const data = encoded.map(({ e, enc }, i) => {
        const created = options.createdAt?.[i] ?? new Date();
        const revision = prev.revision + 1n + BigInt(i);
        const logical = cleanMetadata(e.metadata);
        const hash = chainHash(prevHash, {
          stream, revision, id: ids[i]!, type: e.type, version: enc.version, createdUs: isoToMicros(created),
          data: jsonbText(enc.data), metadata: jsonbText(logical),
        }).toString('hex');
        prevHash = hash;
        const metadata: StoredMetadata = { ...toStoredMetadata(logical), schemaVersion: enc.version, createdAt: created.toISOString(), hash };
        return jsonEvent({ id: ids[i]!, type: e.type, data: enc.data as JSONType, metadata: metadata as JSONType });
      });
      try {
        const result = await this.client.appendToStream(stream, data, { expectedRevision: prev.revision < 0n ? NO_STREAM : prev.revision });
        this.heads.remember(stream, result.nextExpectedRevision, prevHash);
        this.emitter.emit('appended');
        return { nextExpectedRevision: result.nextExpectedRevision, position: result.position ?? START };
      } catch (err) {
        if (!(err instanceof EsdbWrongExpectedVersionError)) throw err;
        this.heads.forget(stream);
        // A retry of a batch already stored right after the expected revision succeeds (as on EventStoreDB itself).
        if (callerIds) {
          const done = await this.alreadyStored(stream, ids, prev.revision + 1n, ids.length, true);
          if (done) return done;
        }
        if ((expected === 'any' || expected === 'stream_exists') && attempt < APPEND_RETRIES) {
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 + attempt * 3)));
          continue;
        }
        const actual = err.actualVersion;
        throw new WrongExpectedVersionError(stream, expected, typeof actual === 'bigint' ? actual : 'no_stream');
      }
    }
  }

  /**
   * Revision and hash of the event a new batch chains on: the expected revision's event, or
   * the head for `any`/`stream_exists` (revision -1 and '' for a new stream); 'missing' when
   * `stream_exists` finds none. The head may come from the cache (`fresh` refuses it): a stale
   * guess only makes the append fail its exact expected revision and try again.
   */
  private async chainBase(stream: string, expected: ExpectedRevision, fresh: boolean): Promise<{ revision: bigint; hash: string } | 'missing'> {
    if (expected === 'no_stream') return { revision: -1n, hash: '' };
    const cached = this.heads.get(stream);
    if (typeof expected === 'bigint') {
      if (cached && cached.revision === expected) return cached;
      if (expected < 0n) return { revision: -1n, hash: '' };
      const [e] = await this.readRaw(stream, expected, 1, FORWARDS);
      // No such event: the server refuses the expected revision; chain on nothing meanwhile.
      return { revision: expected, hash: e && e.revision === expected ? storedHash(e) : '' };
    }
    if (cached && !fresh) return cached;
    const [head] = await this.readRaw(stream, END, 1, BACKWARDS);
    if (!head) return expected === 'stream_exists' ? 'missing' : { revision: -1n, hash: '' };
    const base = { revision: head.revision, hash: storedHash(head) };
    this.heads.remember(stream, base.revision, base.hash);
    return base;
  }

  /**
   * Whether `ids` are already stored in `stream` (looking at `count` events from `from`): all of
   * them in order → the earlier append's result; some → PartialDuplicateAppendError; none → undefined.
   * `contiguous`: they must start exactly at `from`.
   */
  private async alreadyStored(stream: string, ids: readonly string[], from: bigint, count: number, contiguous: boolean): Promise<AppendResult | undefined> {
    const found = await this.readRaw(stream, from < 0n ? 0n : from, count, FORWARDS);
    const at = new Map(found.map((e, i) => [e.id, i]));
    const hits = ids.filter((id) => at.has(id)).length;
    if (hits === 0) return undefined;
    const first = at.get(ids[0]!);
    const inOrder = hits === ids.length && first !== undefined && (!contiguous || first === 0)
      && ids.every((id, i) => at.get(id) === first + i);
    if (!inOrder) {
      const head = found.at(-1);
      throw new PartialDuplicateAppendError(stream, head ? head.revision : 'no_stream');
    }
    const last = found[first + ids.length - 1]!;
    return { nextExpectedRevision: last.revision, position: last.position ?? START };
  }

  /** Raw events of a stream (nothing decoded); [] for a missing stream. */
  private async readRaw(stream: string, fromRevision: bigint | typeof END, maxCount: number, direction: typeof FORWARDS | typeof BACKWARDS): Promise<EsdbRecorded[]> {
    try {
      return await retryRead(async () => {
        const out: EsdbRecorded[] = [];
        await consume(this.client.readStream(stream, { direction, fromRevision, maxCount }), (r) => {
          if (r.event) out.push(r.event);
        });
        return out;
      });
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw err;
    }
  }

  /**
   * Nothing to store: check the expected revision against the stream's last one. Servers answer
   * an empty append differently (EventStoreDB: revision 0, which the client defaults the absent
   * field to; others 2^64-1), and a no-op checked at one read is as linearizable as one checked
   * by the server.
   */
  private async emptyAppend(stream: string, expected: ExpectedRevision): Promise<AppendResult> {
    const actual = await this.lastRevision(stream);
    const ok = expected === 'any'
      || (expected === 'no_stream' ? actual === 'no_stream' : expected === 'stream_exists' ? actual !== 'no_stream' : actual === expected);
    if (!ok) throw new WrongExpectedVersionError(stream, expected, actual);
    return { nextExpectedRevision: actual === 'no_stream' ? -1n : actual, position: START };
  }

  /** The stream's last revision, read raw (not decoded). */
  private async lastRevision(stream: string): Promise<bigint | 'no_stream'> {
    const [last] = await this.readRaw(stream, END, 1, BACKWARDS);
    return last ? last.revision : 'no_stream';
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    return retryRead(() => this.readStreamOnce(stream, options));
  }

  private async readStreamOnce(stream: string, options: ReadStreamOptions): Promise<RecordedEvent[]> {
    const backwards = options.direction === 'backwards';
    const out: RecordedEvent[] = [];
    try {
      const read = this.client.readStream(stream, {
        direction: backwards ? BACKWARDS : FORWARDS,
        fromRevision: options.fromRevision ?? (backwards ? END : ESDB_START),
        ...(options.maxCount !== undefined ? { maxCount: options.maxCount } : {}),
      });
      let last: EsdbRecorded | undefined;
      await consume(read, (resolved) => {
        if (!resolved.event) return;
        last = resolved.event;
        out.push(this.toRecorded(resolved.event));
      });
      // A whole forward read ends at the head: what the next append (the runner's) chains on.
      if (!backwards && options.maxCount === undefined && last) this.heads.remember(stream, last.revision, storedHash(last));
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw err;
    }
    return out;
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const backwards = options.direction === 'backwards';
    const wanted = options.maxCount ?? DEFAULT_PAGE;
    const out: RecordedEvent[] = [];
    if (wanted <= 0) return out;
    let from: ReadPosition = options.fromPosition && comparePositions(options.fromPosition, START) !== 0
      ? options.fromPosition
      : backwards ? END : ESDB_START;
    let exclude: Position | undefined = typeof from === 'object' ? from : undefined;
    for (;;) {
      // A page is read again from its start when its connection was reset.
      const page = await retryRead(() => this.readAllPage(backwards, from, exclude, options.filter, wanted - out.length));
      out.push(...page.events);
      if (out.length >= wanted || page.seen < DEFAULT_PAGE || !page.last) return out;
      from = page.last;
      exclude = page.last;
    }
  }

  /** One page of `$all` from `from` (skipping `exclude`): up to `room` matching events, how many were read, the last one's position. */
  private async readAllPage(backwards: boolean, from: ReadPosition, exclude: Position | undefined, filter: EventFilter | undefined, room: number) {
    const events: RecordedEvent[] = [];
    let seen = 0;
    let last: Position | undefined;
    await consume(this.client.readAll({ direction: backwards ? BACKWARDS : FORWARDS, fromPosition: from, maxCount: DEFAULT_PAGE }), (resolved) => {
      const e = resolved.event;
      if (!e) return;
      seen++;
      last = e.position;
      if (exclude && comparePositions(e.position, exclude) === 0) return;
      if (isSystem(e) || !matches(filter, e)) return;
      events.push(this.toRecorded(e));
      if (events.length >= room) return false;
    });
    return { events, seen, last };
  }

  subscribeToAll(options: SubscribeOptions = {}): Subscription {
    const store = this;
    const backoff = new Backoff(this.options.retryBaseMs, this.options.retryMaxMs);
    /** Last event handed to the consumer: never delivered again. */
    let position = options.fromPosition ?? START;
    /** A server checkpoint at or after `position`, reached with nothing left undelivered before it. */
    let checkpoint: Position | undefined;
    let stopped = false;
    let current: AllStreamSubscription | undefined;
    async function* iterate(): AsyncGenerator<RecordedEvent> {
      while (!stopped && !store.closed) {
        const resume = checkpoint && comparePositions(checkpoint, position) > 0 ? checkpoint : position;
        const kind = filterKind(options.filter);
        const useFilter = !store.refusedFilters.has(kind);
        const onCheckpoint: Checkpointed = (sub, at) => {
          // Only when every event received before it was delivered (none waits in the buffer).
          if (sub === current && sub.readableLength === 0 && comparePositions(at, position) > 0) checkpoint = at;
        };
        const sub = store.client.subscribeToAll({
          fromPosition: comparePositions(resume, START) === 0 ? ESDB_START : resume,
          ...(useFilter ? { filter: serverFilter(options.filter, onCheckpoint) } : {}),
        });
        current = sub;
        let delivered = false;
        const startedAt = Date.now();
        backoff.started();
        try {
          for await (const resolved of sub) {
            delivered = true;
            backoff.succeeded();
            const e = resolved.event;
            if (!e || isSystem(e) || !matches(options.filter, e)) continue;
            if (comparePositions(e.position, position) <= 0) continue; // never repeat after a resubscribe
            const recorded = store.toRecorded(e);
            position = recorded.position;
            yield recorded;
            if (stopped) return;
          }
          if (stopped || store.closed) return;
          await store.retry('subscription', backoff, new Error('subscription ended by the server'), position);
        } catch (err) {
          if (stopped || store.closed) return;
          if (err instanceof Error && err.name === 'EventValidationError') throw err;
          if (useFilter && isRefusal(err, delivered, startedAt)) store.refuseFilter(kind, 'subscription', err);
          else await store.retry('subscription', backoff, err, position);
        } finally {
          await sub.unsubscribe().catch(() => undefined);
        }
      }
    }
    const it = iterate();
    const handle = {
      async stop() {
        stopped = true;
        store.active.delete(handle);
        store.sleeper.wake();
        await current?.unsubscribe().catch(() => undefined);
        await it.return(undefined);
      },
    };
    this.active.add(handle);
    return { [Symbol.asyncIterator]: () => it, unsubscribe: () => handle.stop() };
  }

  /** Logs and counts one failure, then waits out the backoff (cut short by stop or close). */
  private async retry(source: SubscriptionErrorSource, backoff: Backoff, err: unknown, position?: Position): Promise<void> {
    const retryInMs = backoff.failed();
    this.options.subscriptionErrors?.inc({ source, reason: 'dropped' });
    const fields = { err, source, attempt: backoff.attempts, retryInMs, ...(position ? { position: { commit: String(position.commit), prepare: String(position.prepare) } } : {}) };
    if (backoff.attempts >= LOUD_AFTER) this.log.error(fields, 'event store subscription keeps failing; retrying');
    else this.log.warn(fields, 'event store subscription failed; retrying');
    await this.sleeper.sleep(retryInMs);
  }

  private refuseFilter(kind: FilterKind, source: SubscriptionErrorSource, err: unknown): void {
    this.options.subscriptionErrors?.inc({ source, reason: 'filter_refused' });
    if (this.refusedFilters.has(kind)) return;
    this.refusedFilters.add(kind);
    this.log.error({ err, source, filter: kind },
      'event store refused a server-side subscription filter; filtering client-side from now on (every event crosses the network)');
  }

  /** The newest non-system event's position, read raw: nothing is decoded. */
  async headPosition(): Promise<Position> {
    return retryRead(() => this.headPositionOnce());
  }

  private async headPositionOnce(): Promise<Position> {
    let from: ReadPosition = END;
    for (;;) {
      const exclude = typeof from === 'object' ? from : undefined;
      let seen = 0;
      let last: Position | undefined;
      let head: Position | undefined;
      await consume(this.client.readAll({ direction: BACKWARDS, fromPosition: from, maxCount: HEAD_PAGE }), (resolved) => {
        const e = resolved.event;
        if (!e) return;
        seen++;
        last = e.position;
        if (exclude && comparePositions(e.position, exclude) === 0) return;
        if (head || isSystem(e)) return;
        // Read to the page's end, not cancelled at the first hit: a cancel resets the HTTP/2 stream,
        // and a server that sees many resets a second closes the whole connection (Node's HTTP/2
        // servers send GOAWAY), failing every call in flight with it, appends included.
        head = e.position;
      });
      if (head) return head;
      if (seen < HEAD_PAGE || !last) return START;
      from = last;
    }
  }

  onAppended(listener: () => void): () => void {
    this.emitter.on('appended', listener);
    this.startWatcher();
    return () => {
      this.emitter.off('appended', listener);
      if (this.emitter.listenerCount('appended') === 0) {
        const w = this.watcher;
        this.watcher = undefined;
        void w?.stop();
      }
    };
  }

  async healthCheck(): Promise<void> {
    await consume(this.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 }), () => undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sleeper.wake();
    this.emitter.removeAllListeners();
    const watcher = this.watcher;
    this.watcher = undefined;
    await Promise.allSettled([watcher?.stop(), ...[...this.active].map((s) => s.stop())]);
    await this.client.dispose();
  }

  /**
   * Other processes' appends: a live subscription that just signals. It resumes after the last
   * event it saw, and signals once after every reconnect (what was appended while it was down).
   */
  private startWatcher(): void {
    if (this.watcher || this.closed) return;
    const store = this;
    const backoff = new Backoff(this.options.retryBaseMs, this.options.retryMaxMs);
    let stopped = false;
    let current: AllStreamSubscription | undefined;
    let position: ReadPosition = END;
    let reconnect = false;
    const run = async () => {
      while (!stopped && !store.closed) {
        // Only our event types matter to whoever listens (they read what the registry knows), and a
        // prefix filter runs on servers whose regex filters (excludeSystemEvents) do not.
        const useFilter = !store.refusedFilters.has('event_types');
        const sub = store.client.subscribeToAll({
          fromPosition: position,
          ...(useFilter ? { filter: eventTypeFilter({ prefixes: store.registry.types() }) } : {}),
        });
        current = sub;
        let delivered = false;
        const startedAt = Date.now();
        sub.once('confirmation', () => {
          if (reconnect) store.emitter.emit('appended');
        });
        backoff.started();
        try {
          for await (const resolved of sub) {
            delivered = true;
            backoff.succeeded();
            const e = resolved.event;
            if (!e) continue;
            position = e.position;
            if (!isSystem(e)) store.emitter.emit('appended');
          }
          if (stopped || store.closed) return;
          await store.retry('watcher', backoff, new Error('subscription ended by the server'));
        } catch (err) {
          if (stopped || store.closed) return;
          if (useFilter && isRefusal(err, delivered, startedAt)) store.refuseFilter('event_types', 'watcher', err);
          else await store.retry('watcher', backoff, err);
        } finally {
          await sub.unsubscribe().catch(() => undefined);
        }
        reconnect = true;
      }
    };
    const done = run();
    this.watcher = {
      async stop() {
        stopped = true;
        store.sleeper.wake();
        await current?.unsubscribe().catch(() => undefined);
        await done;
      },
    };
  }

  private toRecorded(e: EsdbRecorded): RecordedEvent {
    const stored = (e.isJson && e.metadata && typeof e.metadata === 'object' && !(e.metadata instanceof Uint8Array)
      ? e.metadata
      : {}) as StoredMetadata;
    const version = stored.schemaVersion ?? 1;
    const data = e.isJson ? e.data : JSON.parse(Buffer.from(e.data as Uint8Array).toString('utf8'));
    return {
      position: e.position ?? START,
      streamName: e.streamId,
      revision: e.revision,
      id: e.id,
      type: e.type,
      schemaVersion: version,
      data: this.registry.decode(e.type, version, data),
      metadata: fromStoredMetadata(stored),
      createdAt: stored.createdAt ? new Date(stored.createdAt) : e.created,
    };
  }
}

/** Metadata as the PostgreSQL adapter stores it: non-empty strings only. */
function cleanMetadata(m: EventMetadata | Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!m) return out;
  for (const [k, v] of Object.entries(m)) if (typeof v === 'string' && v !== '') out[k] = v;
  return out;
}

/** Keys of the stored metadata that are not the event's own metadata. */
const RESERVED = new Set(['schemaVersion', 'createdAt', 'hash', '$correlationId', '$causationId']);

/** Our metadata as stored: correlation and causation under EventStoreDB's own keys. */
export function toStoredMetadata(m: Record<string, string>): StoredMetadata {
  const out: StoredMetadata = {};
  for (const [k, v] of Object.entries(m)) {
    if (k === 'correlationId') out.$correlationId = v;
    else if (k === 'causationId') out.$causationId = v;
    else if (!RESERVED.has(k)) out[k] = v;
  }
  return out;
}

/** The event's own metadata back from what is stored (what the hash covers). */
export function fromStoredMetadata(s: StoredMetadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(s)) {
    if (typeof v !== 'string' || v === '') continue;
    if (k === '$correlationId') out.correlationId = v;
    else if (k === '$causationId') out.causationId = v;
    else if (!RESERVED.has(k) && !k.startsWith('$')) out[k] = v;
  }
  return out;
}
