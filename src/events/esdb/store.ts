/**
 * The EventStoreDB (KurrentDB) EventStore adapter, via @eventstore/db-client.
 * Rules it enforces (same contract as the PostgreSQL adapter, test/events/event-store-contract.ts):
 * - positions are EventStoreDB's own `{commit, prepare}`; `fromPosition` is exclusive (readAll
 *   skips the event sitting exactly at it, subscribeToAll already starts after it);
 * - expected revisions map 1:1 to ANY / NO_STREAM / STREAM_EXISTS / bigint, and the client's
 *   WrongExpectedVersionError becomes ours (expected and actual carried over);
 * - system events (`$`-prefixed types or streams) never reach callers;
 * - our schema version and metadata travel in the event's JSON metadata
 *   (`$correlationId`/`$causationId` use EventStoreDB's own keys so its projections see them);
 * - data is validated on append and upcast + validated on read, as in every adapter.
 * Notes: EventStoreDB's idempotency differs for partially repeated batches (it may reject them
 * as a wrong expected version), see the README; `createdAt` (restore) is kept in metadata.
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
  type AppendExpectedRevision,
  type Filter,
  type JSONType,
  type ReadPosition,
  type ResolvedEvent,
} from '@eventstore/db-client';
import type { EventRegistry } from '../registry';
import {
  START,
  WrongExpectedVersionError,
  comparePositions,
  type AppendOptions,
  type AppendResult,
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

const DEFAULT_PAGE = 1000;

interface StoredMetadata {
  $correlationId?: string;
  $causationId?: string;
  requestId?: string;
  actorUserId?: string;
  ip?: string;
  userAgent?: string;
  schemaVersion?: number;
  createdAt?: string;
}

type EsdbRecorded = NonNullable<AllStreamResolvedEvent['event']> | NonNullable<ResolvedEvent['event']>;

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

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The server-side filter: one of event types or stream prefixes (EventStoreDB takes one); the rest is checked here. */
export function serverFilter(filter: EventFilter | undefined): Filter {
  if (filter?.eventTypes?.length) return eventTypeFilter({ regex: `^(?:${filter.eventTypes.map(escapeRegex).join('|')})$` });
  if (filter?.streamPrefixes?.length) return streamNameFilter({ prefixes: [...filter.streamPrefixes] });
  return excludeSystemEvents();
}

export class EventStoreDBEventStore implements EventStore {
  readonly kind = 'eventstoredb' as const;
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  private watcher: { unsubscribe(): Promise<void> } | undefined;
  private closed = false;

  constructor(
    private readonly client: EventStoreDBClient,
    readonly registry: EventRegistry,
  ) {}

  static async connect(url: string, registry: EventRegistry): Promise<EventStore> {
    const store = new EventStoreDBEventStore(EventStoreDBClient.connectionString(url), registry);
    await store.healthCheck();
    return store;
  }

  async appendToStream(stream: string, events: readonly NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    const expected = options.expectedRevision ?? 'any';
    const data = events.map((e, i) => {
      const encoded = this.registry.encode(e.type, e.data);
      const metadata: StoredMetadata = { ...toStoredMetadata(e.metadata), schemaVersion: encoded.version };
      const created = options.createdAt?.[i];
      if (created) metadata.createdAt = created.toISOString();
      return jsonEvent({ id: e.id ?? randomUUID(), type: e.type, data: encoded.data as JSONType, metadata: metadata as JSONType });
    });
    try {
      const result = await this.client.appendToStream(stream, data, { expectedRevision: toEsdbExpected(expected) });
      if (events.length) this.emitter.emit('appended');
      return { nextExpectedRevision: result.nextExpectedRevision, position: result.position ?? START };
    } catch (err) {
      if (err instanceof EsdbWrongExpectedVersionError) {
        const actual = err.actualVersion;
        throw new WrongExpectedVersionError(stream, expected, typeof actual === 'bigint' ? actual : 'no_stream');
      }
      throw err;
    }
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const backwards = options.direction === 'backwards';
    const out: RecordedEvent[] = [];
    try {
      const read = this.client.readStream(stream, {
        direction: backwards ? BACKWARDS : FORWARDS,
        fromRevision: options.fromRevision ?? (backwards ? END : ESDB_START),
        ...(options.maxCount !== undefined ? { maxCount: options.maxCount } : {}),
      });
      for await (const resolved of read) {
        if (resolved.event) out.push(this.toRecorded(resolved.event));
      }
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
    // readAll has no server-side filter: page through $all and filter here.
    for (;;) {
      const page = this.client.readAll({ direction: backwards ? BACKWARDS : FORWARDS, fromPosition: from, maxCount: DEFAULT_PAGE });
      let seen = 0;
      let last: Position | undefined;
      for await (const resolved of page) {
        const e = resolved.event;
        if (!e) continue;
        seen++;
        last = e.position;
        if (exclude && comparePositions(e.position, exclude) === 0) continue;
        if (isSystem(e) || !matches(options.filter, e)) continue;
        out.push(this.toRecorded(e));
        if (out.length >= wanted) {
          await page.cancel().catch(() => undefined);
          return out;
        }
      }
      if (seen < DEFAULT_PAGE || !last) return out;
      from = last;
      exclude = last;
    }
  }

  subscribeToAll(options: SubscribeOptions = {}): Subscription {
    let position = options.fromPosition ?? START;
    let stopped = false;
    let current: ReturnType<EventStoreDBClient['subscribeToAll']> | undefined;
    const store = this;
    async function* iterate(): AsyncGenerator<RecordedEvent> {
      let failures = 0;
      while (!stopped) {
        const fromPosition: ReadPosition = comparePositions(position, START) === 0 ? ESDB_START : position;
        const sub = store.client.subscribeToAll({ fromPosition, filter: serverFilter(options.filter) });
        current = sub;
        try {
          for await (const resolved of sub) {
            failures = 0;
            const e = resolved.event;
            if (!e || isSystem(e) || !matches(options.filter, e)) continue;
            if (comparePositions(e.position, position) <= 0) continue; // never repeat after a resubscribe
            const recorded = store.toRecorded(e);
            position = recorded.position;
            yield recorded;
            if (stopped) return;
          }
          if (stopped) return;
        } catch (err) {
          if (stopped || store.closed) return;
          if (err instanceof Error && err.name === 'EventValidationError') throw err;
          failures++;
          await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** Math.min(failures, 6))));
        } finally {
          await sub.unsubscribe().catch(() => undefined);
        }
      }
    }
    const it = iterate();
    return {
      [Symbol.asyncIterator]: () => it,
      async unsubscribe() {
        stopped = true;
        await current?.unsubscribe().catch(() => undefined);
        await it.return(undefined);
      },
    };
  }

  async headPosition(): Promise<Position> {
    const [last] = await this.readAll({ direction: 'backwards', maxCount: 1 });
    return last?.position ?? START;
  }

  onAppended(listener: () => void): () => void {
    this.emitter.on('appended', listener);
    this.startWatcher();
    return () => {
      this.emitter.off('appended', listener);
      if (this.emitter.listenerCount('appended') === 0) {
        const w = this.watcher;
        this.watcher = undefined;
        void w?.unsubscribe().catch(() => undefined);
      }
    };
  }

  async healthCheck(): Promise<void> {
    const read = this.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 });
    for await (const _ of read) break;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.emitter.removeAllListeners();
    await this.watcher?.unsubscribe().catch(() => undefined);
    await this.client.dispose();
  }

  /** Other processes' appends: a live-only subscription from the end that just signals. */
  private startWatcher(): void {
    if (this.watcher || this.closed) return;
    const sub = this.client.subscribeToAll({ fromPosition: END, filter: excludeSystemEvents() });
    sub.on('data', () => this.emitter.emit('appended'));
    sub.on('error', () => {
      if (this.watcher === sub) this.watcher = undefined;
      if (!this.closed && this.emitter.listenerCount('appended') > 0) setTimeout(() => this.startWatcher(), 1000);
    });
    this.watcher = sub;
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

function toStoredMetadata(m: EventMetadata | undefined): StoredMetadata {
  const out: StoredMetadata = {};
  if (!m) return out;
  if (m.correlationId) out.$correlationId = m.correlationId;
  if (m.causationId) out.$causationId = m.causationId;
  if (m.requestId) out.requestId = m.requestId;
  if (m.actorUserId) out.actorUserId = m.actorUserId;
  if (m.ip) out.ip = m.ip;
  if (m.userAgent) out.userAgent = m.userAgent;
  return out;
}

function fromStoredMetadata(s: StoredMetadata): EventMetadata {
  const out: EventMetadata = {};
  if (s.$correlationId) out.correlationId = s.$correlationId;
  if (s.$causationId) out.causationId = s.$causationId;
  if (s.requestId) out.requestId = s.requestId;
  if (s.actorUserId) out.actorUserId = s.actorUserId;
  if (s.ip) out.ip = s.ip;
  if (s.userAgent) out.userAgent = s.userAgent;
  return out;
}
