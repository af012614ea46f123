/**
 * The EventStoreDB adapter's `log-archive` capability: NDJSON export/import and the hash-chain
 * check, over the chain each event carries in its metadata (`hash`, written by appendToStream).
 * Rules:
 * - the encoding is the PostgreSQL adapter's (src/events/hash.ts): data and metadata hashed as
 *   jsonb text, `created_at` in microseconds, so files move between the adapters both ways;
 * - export: `$all` forwards, system events left out, data and metadata as stored (not upcast),
 *   `position` = the commit position (`--since <it>` continues after it);
 * - verify: every stream must run 0, 1, 2, … and every event's stored hash must equal the
 *   recomputation chained on the previous event's stored hash; an event without a hash (written
 *   around the adapter) is a broken link too;
 * - import: the whole file is checked first (schema, decoding, continuity, every hash recomputed,
 *   events already stored must be the very same) and nothing is written when anything fails; then
 *   each stream's new events are appended in batches with exact expected revisions. EventStoreDB
 *   has no transaction across streams: a failure while writing leaves earlier streams written,
 *   and importing the same file again continues (it skips what is there). The file is held in
 *   memory while it is checked.
 */
import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { FORWARDS, NO_STREAM, START as ESDB_START, StreamNotFoundError, jsonEvent, type EventStoreDBClient, type JSONType, type ReadPosition } from '@eventstore/db-client';
import {
  ImportError,
  formatLine,
  parseEventLine,
  write,
  brokenLinks,
  type EventLine,
  type ExportOptions,
  type ExportReport,
  type ImportOptions,
  type ImportReport,
  type VerifyOptions,
  type VerifyReport,
} from '../archive';
import { chainHash, isoToMicros, jsonbText, microsToIso } from '../hash';
import type { EventRegistry } from '../registry';
import { comparePositions, type Position } from '../store';

const PAGE = 1000;

export interface RawEvent {
  streamId: string;
  revision: bigint;
  id: string;
  type: string;
  isJson: boolean;
  data: unknown;
  metadata: unknown;
  created: Date;
  position?: Position;
}

export interface StoredParts {
  version: number;
  createdAt: string;
  hash: string;
  metadata: Record<string, string>;
}

export interface ArchiveDeps {
  client: EventStoreDBClient;
  registry: EventRegistry;
  /** Drains a read (see store.ts `consume`). */
  consume: <E>(read: AsyncIterable<E> & { cancel(): Promise<void> }, visit: (item: E) => boolean | void) => Promise<void>;
  /** Schema version, creation time, hash and own metadata from an event's stored metadata. */
  parts: (e: RawEvent) => StoredParts;
  /** Stored metadata for an imported event. */
  storedMetadata: (own: Record<string, string>, version: number, createdAt: string, hash: string) => Record<string, unknown>;
  appended: (stream: string, revision: bigint, hash: string) => void;
}

const isSystem = (e: { type: string; streamId: string }) => e.type.startsWith('$') || e.streamId.startsWith('$');

/** Created-at with microseconds, as the export writes it. */
const createdText = (createdAt: string) => microsToIso(isoToMicros(createdAt));

const dataOf = (e: RawEvent): unknown => (e.isJson ? e.data : JSON.parse(Buffer.from(e.data as Uint8Array).toString('utf8')));

export class EsdbArchive {
  constructor(private readonly d: ArchiveDeps) {}

  /** Every non-system event after `from`, raw, in log order. */
  private async scan(from: Position | undefined, visit: (e: RawEvent) => void | Promise<void>): Promise<void> {
    let cursor: ReadPosition = from ?? ESDB_START;
    let exclude = from;
    for (;;) {
      const page: RawEvent[] = [];
      await this.d.consume(this.d.client.readAll({ direction: FORWARDS, fromPosition: cursor, maxCount: PAGE }), (r) => {
        if (r.event) page.push(r.event as RawEvent);
      });
      for (const e of page) {
        if (exclude && e.position && comparePositions(e.position, exclude) === 0) continue;
        if (!isSystem(e)) await visit(e);
      }
      const last = page.at(-1)?.position;
      if (page.length < PAGE || !last) return;
      cursor = last;
      exclude = last;
    }
  }

  private lineOf(e: RawEvent) {
    const p = this.d.parts(e);
    return {
      position: String(e.position?.commit ?? 0n), stream: e.streamId, revision: e.revision, id: e.id, type: e.type, version: p.version,
      created_at: createdText(p.createdAt), hash: p.hash, data: JSON.stringify(dataOf(e)), metadata: JSON.stringify(p.metadata),
    };
  }

  async exportLog(out: Writable, opts: ExportOptions = {}): Promise<ExportReport> {
    const since = opts.since;
    let events = 0;
    let lastPosition: string | null = null;
    let chunk = '';
    opts.onProgress?.(0, 0);
    const from = since && 'position' in since ? { commit: since.position, prepare: since.position } : undefined;
    await this.scan(from, async (e) => {
      if (since && 'position' in since && (e.position?.commit ?? 0n) <= since.position) return;
      if (since && 'time' in since && isoToMicros(this.d.parts(e).createdAt) < isoToMicros(since.time)) return;
      const l = this.lineOf(e);
      chunk += formatLine(l);
      events++;
      lastPosition = l.position;
      if (chunk.length > 1 << 20) {
        await write(out, chunk);
        chunk = '';
        opts.onProgress?.(events, events);
      }
    });
    if (chunk) await write(out, chunk);
    opts.onProgress?.(events, events);
    return { events, lastPosition };
  }

  async verifyLog(opts: VerifyOptions = {}): Promise<VerifyReport> {
    const heads = new Map<string, { revision: bigint; hash: string }>();
    let checked = 0;
    const links = brokenLinks();
    const broken = links.add;
    opts.onProgress?.(0, 0);
    await this.scan(undefined, (e) => {
      if (opts.streams && !opts.streams(e.streamId)) return;
      checked++;
      const position = e.position ? `C:${e.position.commit}/P:${e.position.prepare}` : null;
      const head = heads.get(e.streamId);
      const expected = head ? head.revision + 1n : 0n;
      if (e.revision !== expected) {
        broken({ stream: e.streamId, revision: String(e.revision), position, reason: 'revision_gap', detail: `expected revision ${expected}, found ${e.revision} (an event is missing or was moved)` });
      }
      const p = this.d.parts(e);
      if (!p.hash) {
        broken({ stream: e.streamId, revision: String(e.revision), position, reason: 'hash_missing', detail: 'the event carries no hash (written around the adapter)' });
      } else {
        const recomputed = chainHash(head?.hash ?? '', {
          stream: e.streamId, revision: e.revision, id: e.id, type: e.type, version: p.version, createdUs: isoToMicros(p.createdAt),
          data: jsonbText(dataOf(e)), metadata: jsonbText(p.metadata),
        }).toString('hex');
        if (recomputed !== p.hash) {
          broken({ stream: e.streamId, revision: String(e.revision), position, reason: 'hash_mismatch', detail: `stored ${p.hash}, recomputed ${recomputed}` });
        }
      }
      heads.set(e.streamId, { revision: e.revision, hash: p.hash });
      if (checked % 5000 === 0) opts.onProgress?.(checked, checked);
    });
    opts.onProgress?.(checked, checked);
    return { ok: links.count === 0, events: checked, streams: heads.size, firstBroken: links.first, brokenCount: links.count };
  }

  /** A stream's stored events (raw), [] when it does not exist. */
  private async readStream(stream: string): Promise<RawEvent[]> {
    const out: RawEvent[] = [];
    try {
      await this.d.consume(this.d.client.readStream(stream, { direction: FORWARDS, fromRevision: ESDB_START }), (r) => {
        if (r.event) out.push(r.event as RawEvent);
      });
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw err;
    }
    return out;
  }

  async importLog(input: Readable, opts: ImportOptions = {}): Promise<ImportReport> {
    const report: ImportReport = { read: 0, imported: 0, skipped: 0, streams: 0, storeEventsBefore: 0, dryRun: !!opts.dryRun };
    const byStream = new Map<string, { line: number; e: EventLine }[]>();
    const lines = readline.createInterface({ input, crlfDelay: Infinity });
    let lineNo = 0;
    for await (const text of lines) {
      lineNo++;
      if (!text.trim()) continue;
      const e = parseEventLine(text, lineNo, this.d.registry);
      if (jsonbText(ownMetadata(e.metadata)) !== jsonbText(e.metadata)) throw new ImportError('metadata values must be non-empty strings', lineNo);
      let list = byStream.get(e.stream);
      if (!list) byStream.set(e.stream, (list = []));
      list.push({ line: lineNo, e });
      report.read++;
      if (report.read % 5000 === 0) opts.onProgress?.(report.read);
    }
    opts.onProgress?.(report.read);
    report.streams = byStream.size;
    // Check everything before writing anything.
    const plans: { stream: string; after: bigint; events: { line: number; e: EventLine }[] }[] = [];
    for (const [stream, list] of byStream) {
      const stored = await this.readStream(stream);
      report.storeEventsBefore += stored.length;
      let prev = '';
      let revision = -1n;
      const fresh: { line: number; e: EventLine }[] = [];
      for (const item of list) {
        const { e, line } = item;
        const rev = BigInt(e.revision);
        if (rev !== revision + 1n) throw new ImportError(`${stream} revision ${e.revision} does not continue the stream (at revision ${revision})`, line);
        const recomputed = chainHash(prev, {
          stream, revision: rev, id: e.id, type: e.type, version: e.version, createdUs: isoToMicros(e.created_at),
          data: jsonbText(e.data), metadata: jsonbText(e.metadata),
        }).toString('hex');
        if (recomputed !== e.hash) {
          throw new ImportError(`hash chain broken at ${stream} revision ${e.revision}: the file says ${e.hash}, the event recomputes to ${recomputed} (altered or reordered export)`, line);
        }
        const existing = stored[Number(rev)];
        if (existing) {
          if (existing.id !== e.id || this.d.parts(existing).hash !== e.hash) {
            throw new ImportError(`the store holds a different event at ${stream} revision ${e.revision}: refusing to import over it`, line);
          }
          report.skipped++;
        } else {
          if (rev !== BigInt(stored.length) + BigInt(fresh.length)) throw new ImportError(`${stream} revision ${e.revision} does not continue the stream in the store (at revision ${stored.length - 1})`, line);
          fresh.push(item);
        }
        prev = e.hash;
        revision = rev;
      }
      if (fresh.length) plans.push({ stream, after: BigInt(stored.length) - 1n, events: fresh });
    }
    if (opts.dryRun) {
      report.imported = 0;
      return report;
    }
    for (const plan of plans) {
      for (let i = 0; i < plan.events.length; i += PAGE) {
        const batch = plan.events.slice(i, i + PAGE);
        const after = plan.after + BigInt(i);
        await this.d.client.appendToStream(plan.stream, batch.map(({ e }) => jsonEvent({
          id: e.id, type: e.type, data: e.data as JSONType,
          metadata: this.d.storedMetadata(ownMetadata(e.metadata), e.version, e.created_at, e.hash) as JSONType,
        })), { expectedRevision: after < 0n ? NO_STREAM : after });
        report.imported += batch.length;
        const last = batch.at(-1)!.e;
        this.d.appended(plan.stream, BigInt(last.revision), last.hash);
      }
    }
    return report;
  }
}

/** A line's metadata as the adapter keeps it (strings only, as every adapter stores it). */
function ownMetadata(m: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) if (typeof v === 'string' && v !== '') out[k] = v;
  return out;
}
