/**
 * Backups and tamper checks of the event log, the same on every adapter (capability `log-archive`).
 * A backup is NDJSON, one event per line, in log order:
 *   {"position","stream","revision","id","type","version","created_at","hash","data","metadata"}
 * with `data` and `metadata` exactly as stored (old schema versions are NOT upcast: a backup is the
 * log itself), `created_at` to the microsecond and `hash` the event's link of its stream's chain
 * (src/events/hash.ts), so a file from either adapter verifies and imports on the other.
 * `position` is the adapter's own (PostgreSQL: the global sequence; EventStoreDB: the commit
 * position): only `--since` of the same store reads it.
 */
import fs from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { z } from 'zod';
import type { EventRegistry } from './registry';

export const lineSchema = z.object({
  position: z.string().regex(/^\d+$/).optional(),
  stream: z.string().min(1),
  revision: z.number().int().min(0),
  id: z.uuid(),
  type: z.string().min(1),
  version: z.number().int().min(1),
  created_at: z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$/, 'UTC ISO-8601 with up to microseconds'),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  data: z.unknown(),
  metadata: z.record(z.string(), z.unknown()),
});
export type EventLine = z.infer<typeof lineSchema>;

export class ImportError extends Error {
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(line ? `line ${line}: ${message}` : message);
    this.name = 'ImportError';
  }
}

/**
 * One line of an NDJSON archive, checked the same way by every adapter: JSON, the line schema,
 * and an event the registry can decode. Throws ImportError naming the line.
 */
export function parseEventLine(text: string, lineNo: number, registry: Pick<EventRegistry, 'decode'>): EventLine {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ImportError('not valid JSON', lineNo);
  }
  const parsed = lineSchema.safeParse(raw);
  if (!parsed.success) throw new ImportError(`not an event line: ${z.prettifyError(parsed.error)}`, lineNo);
  try {
    registry.decode(parsed.data.type, parsed.data.version, parsed.data.data);
  } catch (err) {
    throw new ImportError((err as Error).message, lineNo);
  }
  return parsed.data;
}

/** The broken links a verification walk finds: the first one and how many. */
export function brokenLinks() {
  const found = { count: 0, first: undefined as BrokenLink | undefined };
  return Object.assign(found, {
    add(b: BrokenLink) {
      found.count++;
      found.first ??= b;
    },
  });
}

export type Since = { position: bigint } | { time: Date };

/** `"12345"` → a position; anything Date.parse understands → a time. */
export function parseSince(value: string): Since {
  if (/^\d+$/.test(value)) return { position: BigInt(value) };
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new Error(`--since must be a log position (digits) or an ISO-8601 time, not "${value}"`);
  return { time: new Date(t) };
}

export interface ExportReport {
  events: number;
  /** Position of the last exported event (give it to `--since` for an incremental backup). */
  lastPosition: string | null;
}

export interface ImportReport {
  /** Events read from the file. */
  read: number;
  /** Events stored (0 on a dry run, though the dry run did store and roll back). */
  imported: number;
  /** Events already in the store (same stream, revision, id and hash): skipped. */
  skipped: number;
  streams: number;
  /** Events in the store before the import. */
  storeEventsBefore: number;
  dryRun: boolean;
}

export interface BrokenLink {
  stream: string;
  revision: string;
  /** The adapter's position of the event; null when the break is in a stream's head record. */
  position: string | null;
  reason: 'hash_mismatch' | 'hash_missing' | 'revision_gap' | 'stream_head_mismatch' | 'stream_missing_head' | 'checkpoint_mismatch' | 'anchor_mismatch';
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  events: number;
  streams: number;
  firstBroken?: BrokenLink;
  /** How many links are broken in all (the walk goes on after the first, to size the damage). */
  brokenCount: number;
}

export interface ExportOptions {
  since?: Since;
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface ImportOptions {
  dryRun?: boolean;
  batchSize?: number;
  onProgress?: (read: number) => void;
}

export interface VerifyOptions {
  batchSize?: number;
  onProgress?: (checked: number, total: number) => void;
  /** Only these streams (default: all). A shared server's other tenants need not verify. */
  streams?: (name: string) => boolean;
}

/**
 * Capability `log-archive` (both adapters): NDJSON export and import, and the hash-chain check.
 * PostgreSQL: one snapshot / one transaction. EventStoreDB: the hash chain lives in each event's
 * metadata; an import is checked whole before anything is written, then written one stream batch
 * at a time with exact expected revisions (a failure part-way is resumed by importing again).
 */
export interface LogArchive {
  exportLog(out: Writable, opts?: ExportOptions): Promise<ExportReport>;
  importLog(input: Readable, opts?: ImportOptions): Promise<ImportReport>;
  verifyLog(opts?: VerifyOptions): Promise<VerifyReport>;
}

/** One backup line, with `data` and `metadata` as given (already JSON text when strings are passed). */
export function formatLine(l: { position?: string; stream: string; revision: bigint | number | string; id: string; type: string; version: number; created_at: string; hash: string; data: string; metadata: string }): string {
  return `{${l.position !== undefined ? `"position":"${l.position}",` : ''}"stream":${JSON.stringify(l.stream)},"revision":${l.revision},"id":"${l.id}",` +
    `"type":${JSON.stringify(l.type)},"version":${l.version},"created_at":"${l.created_at}","hash":"${l.hash}",` +
    `"data":${l.data},"metadata":${l.metadata}}\n`;
}

/** Writes a chunk, waiting for drain. */
export function write(out: Writable, chunk: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ok = out.write(chunk, (err) => (err ? reject(err) : undefined));
    if (ok) resolve();
    else out.once('drain', resolve);
  });
}

export async function exportToFile(store: LogArchive, file: string, opts: ExportOptions = {}): Promise<ExportReport> {
  const out = fs.createWriteStream(file, { flags: 'wx' });
  try {
    const report = await store.exportLog(out, opts);
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    return report;
  } catch (err) {
    out.destroy();
    throw err;
  }
}

export function importFromFile(store: LogArchive, file: string, opts: ImportOptions = {}): Promise<ImportReport> {
  return store.importLog(fs.createReadStream(file, { encoding: 'utf8' }) as Readable, opts);
}

/** The newest `*.ndjson` in `dir` (by modification time), for `import` without a file. */
export function latestBackup(dir: string): string | undefined {
  if (!fs.existsSync(dir)) return undefined;
  const files = fs.readdirSync(dir)
    .filter((f) => f.endsWith('.ndjson'))
    .map((f) => ({ f: `${dir.replace(/\/$/, '')}/${f}`, t: fs.statSync(`${dir.replace(/\/$/, '')}/${f}`).mtimeMs }))
    .sort((a, b) => b.t - a.t || b.f.localeCompare(a.f));
  return files[0]?.f;
}

/** A timestamped file name for a new backup: `<dir>/authledger-events-20261121T151800Z.ndjson`. */
export function backupFileName(dir: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${dir.replace(/\/$/, '')}/authledger-events-${stamp}.ndjson`;
}
