/**
 * The PostgreSQL EventStore adapter (the default).
 * Rules it enforces:
 * - one append = one statement calling append_to_stream() (see migrations): a per-stream
 *   advisory lock taken before the first write (so transaction ids of one stream's appends follow
 *   its revisions), optimistic revision check, idempotency by event id, hash chain;
 * - readers never see an event of a transaction younger than the oldest one of this database
 *   still running (the horizon, computed by a statement before the read: see HORIZON_SQL), and
 *   read in (transaction_id, position) order: no gaps, no repeats, even when transactions commit
 *   out of sequence order;
 * - subscriptions read on a connection of their own (never queued behind appends for the pool),
 *   wake on LISTEN/NOTIFY (and at once for appends made through this process),
 *   poll as a fallback, re-poll quickly while committed events wait behind a running
 *   transaction, and retry on connection loss from the last delivered position;
 * - rows are decoded (upcast + validated) before delivery; an event that fails its schema is an
 *   error the reader sees, never a silent skip or an endless retry.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { EventRegistry } from '../registry';
import { PostgresAuditLog } from './audit';
import { NOTIFY_CHANNEL, decodeRow, eventColumns, rowPosition, type EventRow } from './rows';
import { exportEvents, importEvents } from './ndjson';
import { verifyLog } from './verify';
import { SharedPageReads } from './shared-reads';
import type { ExportOptions, ExportReport, ImportOptions, ImportReport, LogArchive, VerifyOptions, VerifyReport } from '../archive';
import type { Readable, Writable } from 'node:stream';
import {
  PartialDuplicateAppendError,
  START,
  WrongExpectedVersionError,
  type AppendOptions,
  type AppendResult,
  type AuditFilter,
  type AuditLog,
  type AuditSearch,
  type UserStreamIndex,
  type EventFilter,
  type EventStore,
  type LogBatch,
  type PagedLog,
  type StoreCapability,
  type NewEvent,
  type Position,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type Subscription,
  type SubscribeOptions,
} from '../store';


export { NOTIFY_CHANNEL, decodeRow, eventColumns, rowPosition, type EventRow } from './rows';
const COLUMNS = eventColumns();

export interface PostgresEventStoreOptions {
  /** Connection settings for the LISTEN connection (defaults to the pool's). */
  listenConfig?: pg.ClientConfig;
  /** Fallback poll interval of idle subscriptions. */
  pollIntervalMs?: number;
  /** Rows per read while catching up. */
  batchSize?: number;
  /**
   * Which running transactions hold readers back (see horizon()): 'database' (default) waits
   * only for transactions of this database — the only ones that can write its events table;
   * 'cluster' waits for every writing transaction of the server (pg_snapshot_xmin), simpler but
   * delayed by long transactions in unrelated databases (CREATE DATABASE, other apps).
   */
  horizon?: 'database' | 'cluster';
}

/**
 * The visibility horizon: the lowest transaction id that may still commit events here. Events
 * of transactions below it are all committed (or rolled back) and visible to any LATER statement.
 * Database mode: the statement's snapshot is taken first, pg_stat_activity is read after it, so a
 * transaction of this database that was running at the snapshot either still shows in
 * pg_stat_activity (and holds the horizon) or has ended before the next statement's snapshot.
 * Transactions of other databases cannot write our table and are ignored, and so are autovacuum
 * workers (their ANALYZE takes an xid but never appends). The horizon must be
 * used by a later statement, never by the statement that computed it.
 */
const HORIZON_SQL = {
  database: `SELECT coalesce(
      (SELECT min(x) FROM pg_snapshot_xip(pg_current_snapshot()) x
        WHERE xid(x) IN (SELECT backend_xid FROM pg_stat_activity
                          WHERE datid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND backend_xid IS NOT NULL
                            AND backend_type <> 'autovacuum worker'
                         UNION ALL
                         SELECT transaction FROM pg_prepared_xacts WHERE database = current_database())),
      pg_snapshot_xmax(pg_current_snapshot()))::text AS h`,
  cluster: `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS h`,
};


export class PostgresEventStore implements EventStore, PagedLog, AuditLog, LogArchive {
  readonly kind = 'postgres' as const;
  readonly capabilities: ReadonlySet<StoreCapability> = new Set(['paged-log', 'audit-log', 'log-archive']);
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  private listener: pg.Client | undefined;
  private listenerStarting: Promise<void> | undefined;
  private notifier: pg.Client | undefined;
  private reader: pg.Client | undefined;
  private readerConnecting: Promise<pg.Client> | undefined;
  private notifyPending = false;
  private notifyRunning = false;
  private closed = false;
  /** Append signals seen (local appends, NOTIFYs, listener starts): shared reads join only within one. */
  private appendSignals = 0;
  /** Live page reads of this process's followers, shared when they ask at once (./shared-reads.ts). */
  readonly sharedReads = new SharedPageReads();
  private readonly pollIntervalMs: number;
  private readonly batchSize: number;

  constructor(
    private readonly pool: pg.Pool,
    readonly registry: EventRegistry,
    private readonly options: PostgresEventStoreOptions = {},
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
    this.batchSize = options.batchSize ?? 1000;
    this.horizonMode = options.horizon ?? 'database';
    this.horizonSql = HORIZON_SQL[this.horizonMode];
    this.audit = new PostgresAuditLog(pool, registry, () => this.horizon());
  }

  private readonly audit: PostgresAuditLog;

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

  /** LogArchive (see ./ndjson.ts, ./verify.ts). */
  exportLog(out: Writable, opts?: ExportOptions): Promise<ExportReport> {
    return exportEvents(this.pool, out, opts);
  }

  importLog(input: Readable, opts?: ImportOptions): Promise<ImportReport> {
    return importEvents(this.pool, this.registry, input, opts);
  }

  verifyLog(opts?: VerifyOptions): Promise<VerifyReport> {
    return verifyLog(this.pool, opts);
  }

  private readonly horizonMode: 'database' | 'cluster';
  private readonly horizonSql: string;

  /** The visibility horizon (an xid8, as text) for the next statement; see HORIZON_SQL. */
  async horizon(): Promise<string> {
    const { rows } = await this.pool.query<{ h: string }>(this.horizonSql);
    return rows[0]!.h;
  }

  async appendToStream(stream: string, events: readonly NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    const expected = options.expectedRevision ?? 'any';
    const n = events.length;
    const ids = new Array<string>(n);
    const types = new Array<string>(n);
    const versions = new Array<number>(n);
    const data = new Array<string>(n);
    const metadata = new Array<string>(n);
    let callerIds = false;
    for (let i = 0; i < n; i++) {
      const e = events[i]!;
      const encoded = this.registry.encode(e.type, e.data);
      if (e.id) callerIds = true;
      ids[i] = e.id ?? randomUUID();
      types[i] = e.type;
      versions[i] = encoded.version;
      data[i] = JSON.stringify(encoded.data);
      metadata[i] = JSON.stringify(cleanMetadata(e.metadata));
    }
    const created = options.createdAt?.map((d) => d.toISOString()) ?? null;
    const { rows } = await this.pool.query<{ status: string; revision: string; commit_position: string | null; prepare_position: string | null }>({
      // Named: parsed and planned once per connection.
      name: 'authledger_append_v2',
      text: `SELECT status, revision::text, commit_position::text, prepare_position::text
               FROM append_to_stream($1, $2, $3::uuid[], $4::text[], $5::int[], $6::jsonb[], $7::jsonb[], $8::timestamptz[], $9)`,
      // Ids generated here are fresh random UUIDs: only caller-supplied ids need the idempotency probe.
      values: [stream, typeof expected === 'bigint' ? expected.toString() : expected, ids, types, versions, data, metadata, created, callerIds],
    });
    const row = rows[0]!;
    const revision = BigInt(row.revision);
    const actual = revision < 0n ? ('no_stream' as const) : revision;
    if (row.status === 'wrong_version') throw new WrongExpectedVersionError(stream, expected, actual);
    if (row.status === 'partial_duplicate') throw new PartialDuplicateAppendError(stream, actual);
    // After this turn of the event loop: the appending command runs on to its inline step and
    // answer first, instead of queueing them behind every subscription it wakes in this process.
    if (row.status === 'ok' && n > 0) setImmediate(this.announceNow);
    return {
      nextExpectedRevision: revision,
      position: row.commit_position === null ? START : { commit: BigInt(row.commit_position), prepare: BigInt(row.prepare_position ?? 0) },
    };
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const backwards = options.direction === 'backwards';
    const params: unknown[] = [stream];
    let where = 'stream_name = $1';
    if (options.fromRevision !== undefined) {
      params.push(options.fromRevision.toString());
      where += backwards ? ` AND revision <= $2` : ` AND revision >= $2`;
    }
    params.push(options.maxCount ?? null);
    const { rows } = await this.pool.query<EventRow>(
      `SELECT ${COLUMNS} FROM events WHERE ${where} ORDER BY events.revision ${backwards ? 'DESC' : 'ASC'} LIMIT $${params.length}`,
      params,
    );
    return rows.map((r) => this.toRecorded(r));
  }

  /** Several whole streams in one statement (EventStore.readStreams), in the order asked. */
  async readStreams(streams: readonly string[]): Promise<RecordedEvent[][]> {
    const { rows } = await this.pool.query<EventRow>(
      `SELECT ${COLUMNS} FROM events WHERE stream_name = ANY($1::text[]) ORDER BY events.stream_name, events.revision`,
      [streams],
    );
    const out = new Map<string, RecordedEvent[]>(streams.map((n) => [n, []]));
    for (const r of rows) out.get(r.stream_name)!.push(this.toRecorded(r));
    return streams.map((n) => out.get(n)!);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const rows = await this.readAllRows(options);
    return rows.map((r) => this.toRecorded(r));
  }

  /** Raw rows in log order, for readers that decode lazily. */
  async readAllRows(options: ReadAllOptions = {}): Promise<EventRow[]> {
    const backwards = options.direction === 'backwards';
    const from = options.fromPosition ?? (backwards ? undefined : START);
    const params: unknown[] = [await this.horizon()];
    const where: string[] = ['transaction_id < $1::text::xid8'];
    if (from) {
      params.push(from.commit.toString(), from.prepare.toString());
      where.push(`(transaction_id, position) ${backwards ? '<' : '>'} ($2::text::xid8, $3::bigint)`);
    }
    addFilter(where, params, options.filter);
    params.push(options.maxCount ?? this.batchSize);
    const dir = backwards ? 'DESC' : 'ASC';
    const { rows } = await this.pool.query<EventRow>(
      `SELECT ${COLUMNS} FROM events WHERE ${where.join(' AND ')}
        ORDER BY transaction_id ${dir}, position ${dir} LIMIT $${params.length}`,
      params,
    );
    return rows;
  }

  /**
   * The next page after `from` in log order, with payloads only for `types` (every row's when
   * undefined; other rows come without data/metadata: they only move the reader's position), up
   * to `to` (inclusive) when given; and whether committed events wait above the visibility horizon.
   * One round trip (read_log_page(), migration 1732203000000: the horizon is computed by a
   * statement before the read, as HORIZON_SQL requires), its plan cached per connection; on `via`
   * (a connection of the caller's, never queued behind the pool) when given.
   * For projection runners and rebuilds: one index scan, nothing decoded that is not wanted.
   */
  async readTypedRows(
    from: Position, maxCount: number, types: readonly string[] | undefined, to?: Position, via?: pg.ClientBase,
  ): Promise<{ rows: EventRow[]; heldBack: boolean }> {
    const send = async (wanted: readonly string[] | undefined) => {
      const { rows } = await (via ?? this.pool).query<EventRow & { held_back: boolean }>({
        name: 'authledger_read_log_page_v1',
        text: 'SELECT * FROM read_log_page($1::text::xid8, $2::bigint, $3, $4::text[], $5::text::xid8, $6::bigint, $7)',
        values: [from.commit.toString(), from.prepare.toString(), maxCount, wanted ?? null,
          to ? to.commit.toString() : null, to ? to.prepare.toString() : null, this.horizonMode === 'cluster'],
      });
      return { rows: rows[0]?.prepare == null ? [] : rows, heldBack: rows[0]?.held_back ?? false };
    };
    // Bounded reads (rebuilds, catch-up to a position) read alone, with their own types only.
    if (to) return send(types);
    return this.sharedReads.read(`${from.commit}.${from.prepare}`, this.appendSignals, maxCount, types, send);
  }

  /** PagedLog: the next page after `from`, with only the `types` events decoded. */
  async readHandledBatch(from: Position, maxCount: number, types: readonly string[], to?: Position, via?: pg.ClientBase): Promise<LogBatch> {
    const { rows, heldBack } = await this.readTypedRows(from, maxCount, types, to, via);
    const wanted = new Set(types);
    const events: RecordedEvent[] = [];
    for (const r of rows) if (wanted.has(r.event_type)) events.push(this.toRecorded(r));
    const tail = rows.at(-1);
    return { events, count: rows.length, last: tail && rowPosition(tail), heldBack };
  }

  /** PagedLog: committed events after `from` (also those not yet readable behind the horizon), up to `cap`. */
  async countAfter(from: Position, cap: number): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM (SELECT 1 FROM events WHERE (transaction_id, position) > ($1::text::xid8, $2::bigint) LIMIT $3) t`,
      [from.commit.toString(), from.prepare.toString(), cap],
    );
    return Number(rows[0]!.n);
  }

  /** PagedLog: every event in the log. */
  async countAll(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM events');
    return Number(rows[0]!.n);
  }

  /**
   * Where the page of `maxCount` events after `from` ends (inclusive), below the horizon; the
   * end of what is readable when fewer are left; undefined when nothing is. An index-only scan:
   * lets a reader fetch several consecutive pages at once (rebuilds).
   */
  async pageEnd(from: Position, maxCount: number): Promise<Position | undefined> {
    const horizon = await this.horizon();
    const params = [from.commit.toString(), from.prepare.toString(), horizon];
    const { rows } = await this.pool.query<{ commit: string; prepare: string }>(
      `SELECT transaction_id::text AS commit, position::text AS prepare FROM events
        WHERE transaction_id < $3::text::xid8 AND (transaction_id, position) > ($1::text::xid8, $2::bigint)
        ORDER BY transaction_id, position OFFSET $4 LIMIT 1`,
      [...params, maxCount - 1],
    );
    if (rows[0]) return rowPosition(rows[0]);
    const { rows: last } = await this.pool.query<{ commit: string; prepare: string }>(
      `SELECT transaction_id::text AS commit, position::text AS prepare FROM events
        WHERE transaction_id < $3::text::xid8 AND (transaction_id, position) > ($1::text::xid8, $2::bigint)
        ORDER BY transaction_id DESC, position DESC LIMIT 1`,
      params,
    );
    return last[0] && rowPosition(last[0]);
  }

  /**
   * One subscription page: the events after `from` that pass `filter`, where the page ends (the
   * last event read, matching or not), and whether committed events wait above the horizon; one
   * round trip (read_log_page(): payloads only for the filter's event types). The subscriber moves
   * on to the page's end, not to its last match, so a filter that the log's newest events do not
   * pass costs one short read per wake, never a scan of everything since its last match.
   * On the store's reader connection: subscriptions never wait behind appends (or requests) for
   * a pool connection. Queries queue on it; a dead one is replaced on the next read.
   */
  private async readPage(from: Position, filter: EventFilter | undefined, maxCount: number): Promise<{ rows: EventRow[]; scanned: number; last?: Position; heldBack: boolean }> {
    const reader = await this.readerConnection();
    const { rows, heldBack } = await this.readTypedRows(from, maxCount, filter?.eventTypes, undefined, reader);
    const tail = rows.at(-1);
    const types = filter?.eventTypes ? new Set(filter.eventTypes) : undefined;
    const prefixes = filter?.streamPrefixes;
    const passes = (r: EventRow) => (!types || types.has(r.event_type)) && (!prefixes || prefixes.some((p) => r.stream_name.startsWith(p)));
    return { rows: types || prefixes ? rows.filter(passes) : rows, scanned: rows.length, last: tail && rowPosition(tail), heldBack };
  }

  subscribeToAll(options: SubscribeOptions = {}): Subscription {
    let position = options.fromPosition ?? START;
    let stopped = false;
    // Set by every append signal; cleared before each read, so a signal that arrives while a
    // read is in flight makes the loop read again instead of sleeping (no lost wake-up).
    let dirty = false;
    let wake: (() => void) | undefined;
    const off = this.onAppended(() => {
      dirty = true;
      wake?.();
    });
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(done, ms);
        function done() {
          clearTimeout(t);
          wake = undefined;
          resolve();
        }
        wake = done;
      });
    const store = this;
    async function* iterate(): AsyncGenerator<RecordedEvent> {
      let failures = 0;
      let heldBackWait = 1;
      try {
        while (!stopped) {
          dirty = false;
          let page: Awaited<ReturnType<PostgresEventStore['readPage']>>;
          try {
            page = await store.readPage(position, options.filter, store.batchSize);
            failures = 0;
          } catch {
            if (stopped || store.closed) return;
            // Connection trouble: back off and retry from the last delivered position.
            failures++;
            await sleep(Math.min(5000, 50 * 2 ** Math.min(failures, 7)));
            continue;
          }
          for (const r of page.rows) {
            if (stopped) return;
            const e = store.toRecorded(r); // throws on an invalid event: the consumer must see it
            position = e.position;
            yield e;
          }
          if (stopped) return;
          // Past the events the filter skipped, too (every row of the page was read).
          if (page.last) position = page.last;
          if (page.scanned >= store.batchSize) continue;
          if (page.scanned > 0) heldBackWait = 1;
          if (dirty) continue;
          if (page.heldBack) {
            // Committed events wait behind a running transaction that will not notify us when it
            // ends (it may not be an append at all): poll soon, backing off up to 32 ms.
            await sleep(heldBackWait);
            heldBackWait = Math.min(heldBackWait * 2, 32);
            continue;
          }
          heldBackWait = 1;
          await sleep(store.pollIntervalMs);
        }
      } finally {
        off();
      }
    }
    const it = iterate();
    return {
      [Symbol.asyncIterator]: () => it,
      async unsubscribe() {
        stopped = true;
        off();
        wake?.();
        await it.return(undefined);
      },
    };
  }

  async headPosition(): Promise<Position> {
    const [last] = await this.readAllRows({ direction: 'backwards', maxCount: 1 });
    return last ? rowPosition(last) : START;
  }

  onAppended(listener: () => void): () => void {
    this.emitter.on('appended', listener);
    void this.startListener();
    return () => this.emitter.off('appended', listener);
  }

  async healthCheck(): Promise<void> {
    await this.pool.query('SELECT 1 FROM streams LIMIT 1');
  }

  async close(): Promise<void> {
    this.closed = true;
    this.emitter.emit('appended'); // wake sleeping subscriptions so they see `closed`
    this.emitter.removeAllListeners();
    const l = this.listener;
    this.listener = undefined;
    await l?.end().catch(() => undefined);
    const n = this.notifier;
    this.notifier = undefined;
    await n?.end().catch(() => undefined);
    const r = this.reader;
    this.reader = undefined;
    await r?.end().catch(() => undefined);
  }

  /** Decodes a stored row: upcasts and validates the data. */
  toRecorded(r: EventRow): RecordedEvent {
    return decodeRow(this.registry, r);
  }

  private readonly announceNow = () => this.announce();

  /** Wakes this process's followers; a read sent before it is not shared with reads after it. */
  private signalAppended(): void {
    this.appendSignals++;
    this.emitter.emit('appended');
  }

  /** Wakes local subscribers now and other processes through one coalesced NOTIFY. */
  private announce(): void {
    this.signalAppended();
    this.notifyPending = true;
    if (this.notifyRunning) return;
    this.notifyRunning = true;
    const run = async () => {
      while (this.notifyPending && !this.closed) {
        this.notifyPending = false;
        // Outside the append's transaction on purpose: NOTIFY inside it would serialise every
        // commit of the database on the notification queue lock. On a connection of its own, so
        // it never queues behind appends waiting for a pool connection.
        try {
          await (await this.notifyConnection()).query(`SELECT pg_notify('${NOTIFY_CHANNEL}', '')`);
        } catch {
          const c = this.notifier;
          this.notifier = undefined;
          await c?.end().catch(() => undefined);
        }
      }
      this.notifyRunning = false;
    };
    void run();
  }

  private readerConnection(): Promise<pg.Client> {
    if (this.reader) return Promise.resolve(this.reader);
    this.readerConnecting ??= (async () => {
      const client = new pg.Client(this.clientConfig());
      client.on('error', () => undefined);
      client.on('end', () => {
        if (this.reader === client) this.reader = undefined;
      });
      await client.connect();
      if (this.closed) {
        await client.end().catch(() => undefined);
        throw new Error('store closed');
      }
      this.reader = client;
      return client;
    })().finally(() => {
      this.readerConnecting = undefined;
    });
    return this.readerConnecting;
  }

  private async notifyConnection(): Promise<pg.Client> {
    if (this.notifier) return this.notifier;
    const client = new pg.Client(this.clientConfig());
    client.on('error', () => undefined);
    client.on('end', () => {
      if (this.notifier === client) this.notifier = undefined;
    });
    await client.connect();
    // A NOTIFY commits a transaction of its own; it needs no durability, so it must not wait
    // for (and compete with appends for) the WAL flush.
    await client.query('SET synchronous_commit = off');
    if (this.closed) {
      await client.end().catch(() => undefined);
      throw new Error('store closed');
    }
    this.notifier = client;
    return client;
  }

  private clientConfig(): pg.ClientConfig {
    return this.options.listenConfig ?? (this.pool as unknown as { options: pg.ClientConfig }).options;
  }

  private startListener(): Promise<void> {
    if (this.listener || this.closed) return Promise.resolve();
    if (this.listenerStarting) return this.listenerStarting;
    this.listenerStarting = (async () => {
      const cfg = this.clientConfig();
      for (let attempt = 0; !this.closed; attempt++) {
        const client = new pg.Client(cfg);
        client.on('error', () => undefined);
        try {
          await client.connect();
          await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
        } catch {
          await client.end().catch(() => undefined);
          await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** Math.min(attempt, 5))));
          continue;
        }
        // Our own NOTIFY comes back too (same backend pid): announce() already woke this process's followers.
        client.on('notification', (msg) => {
          if (msg.processId !== backendPid(this.notifier)) this.signalAppended();
        });
        client.on('end', () => {
          if (this.listener === client) this.listener = undefined;
          // Reconnect; subscribers keep polling meanwhile and resume from their positions.
          if (!this.closed && this.emitter.listenerCount('appended') > 0) setTimeout(() => void this.startListener(), 200);
        });
        if (this.closed) {
          await client.end().catch(() => undefined);
          return;
        }
        this.listener = client;
        // Anything appended while we were not listening: wake subscribers once.
        this.signalAppended();
        return;
      }
    })().finally(() => {
      this.listenerStarting = undefined;
    });
    return this.listenerStarting;
  }
}

function cleanMetadata(m: NewEvent['metadata']): Record<string, string> {
  const out: Record<string, string> = {};
  if (!m) return out;
  for (const [k, v] of Object.entries(m)) if (typeof v === 'string' && v !== '') out[k] = v;
  return out;
}

function addFilter(where: string[], params: unknown[], filter: EventFilter | undefined): void {
  if (filter?.eventTypes) {
    params.push(filter.eventTypes);
    where.push(`event_type = ANY($${params.length}::text[])`);
  }
  if (filter?.streamPrefixes) {
    params.push(likePatterns(filter.streamPrefixes));
    where.push(`stream_name LIKE ANY($${params.length}::text[])`);
  }
}

/** Stream prefixes as LIKE patterns (`\`, `%` and `_` in a prefix match themselves). */
function likePatterns(prefixes: readonly string[]): string[] {
  return prefixes.map((p) => p.replace(/[\\%_]/g, (c) => `\\${c}`) + '%');
}

/** The server process of a connection (pg reads it from BackendKeyData; @types/pg does not declare it). */
function backendPid(client: pg.Client | undefined): number | undefined {
  return (client as { processID?: number } | undefined)?.processID;
}
