/**
 * Backup and restore of the event log as NDJSON (one event per line, in log order).
 * A line: {"position","stream","revision","id","type","version","created_at","hash","data","metadata"}
 * with `data` and `metadata` exactly as stored (old schema versions are NOT upcast: a backup is
 * the log itself) and `created_at` to the microsecond, so every hash can be recomputed.
 * Rules of import:
 * - all or nothing: one transaction (a dry run does everything, then rolls back);
 * - idempotent by event id: an event already in the store at the same stream and revision with
 *   the same id and hash is skipped; a different event there is a conflict and nothing is stored;
 * - every new event must continue its stream (revision = head + 1) and its hash, recomputed by the
 *   database over the canonical encoding chained on the previous hash, must equal the file's:
 *   the file's hash chain is verified as it is loaded;
 * - each event's data must decode with the registry (upcast + schema) before it is stored;
 * - the original `created_at` is kept, so hashes still verify after a restore (positions are new).
 */
import fs from 'node:fs';
import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type pg from 'pg';
import type { EventRegistry } from '../registry';
import { ImportError, parseEventLine, type EventLine, type ExportReport, type ImportReport, type Since } from '../archive';
import { NOTIFY_CHANNEL } from './rows';

export { lineSchema, ImportError, parseSince, latestBackup, backupFileName, type EventLine, type Since, type ExportReport, type ImportReport } from '../archive';

const EXPORT_COLUMNS = `position::text AS position, stream_name, revision::text AS revision, event_id::text AS event_id, event_type,
  schema_version, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at, encode(hash, 'hex') AS hash,
  data::text AS data, metadata::text AS metadata`;

interface ExportRow {
  position: string;
  stream_name: string;
  revision: string;
  event_id: string;
  event_type: string;
  schema_version: number;
  created_at: string;
  hash: string;
  data: string;
  metadata: string;
}

function write(out: Writable, chunk: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ok = out.write(chunk, (err) => (err ? reject(err) : undefined));
    if (ok) resolve();
    else out.once('drain', resolve);
  });
}

/** Streams the log (or what follows `since`) to `out` in log order, from one consistent snapshot. */
export async function exportEvents(
  pool: pg.Pool,
  out: Writable,
  opts: { since?: Since; batchSize?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<ExportReport> {
  const batchSize = opts.batchSize ?? 5000;
  const params: unknown[] = [];
  let where = 'true';
  if (opts.since && 'position' in opts.since) {
    params.push(opts.since.position.toString());
    // After that event in log order (the order projections read in).
    where = `(transaction_id, position) > (SELECT transaction_id, position FROM events WHERE position = $1::bigint
              UNION ALL SELECT '0'::xid8, $1::bigint LIMIT 1)`;
  } else if (opts.since) {
    params.push(opts.since.time.toISOString());
    where = 'created_at >= $1::timestamptz';
  }
  const client = await pool.connect();
  let events = 0;
  let lastPosition: string | null = null;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows: c } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM events WHERE ${where}`, params);
    const total = Number(c[0]!.n);
    opts.onProgress?.(0, total);
    await client.query(`DECLARE export_cur NO SCROLL CURSOR FOR SELECT ${EXPORT_COLUMNS} FROM events WHERE ${where} ORDER BY events.transaction_id, events.position`, params);
    for (;;) {
      const { rows } = await client.query<ExportRow>(`FETCH ${batchSize} FROM export_cur`);
      if (rows.length) {
        let chunk = '';
        for (const r of rows) {
          // data/metadata are spliced in as PostgreSQL renders them: valid JSON, byte-exact.
          chunk += `{"position":"${r.position}","stream":${JSON.stringify(r.stream_name)},"revision":${r.revision},"id":"${r.event_id}",` +
            `"type":${JSON.stringify(r.event_type)},"version":${r.schema_version},"created_at":"${r.created_at}","hash":"${r.hash}",` +
            `"data":${r.data},"metadata":${r.metadata}}\n`;
        }
        await write(out, chunk);
        events += rows.length;
        lastPosition = rows.at(-1)!.position;
        opts.onProgress?.(events, total);
      }
      if (rows.length < batchSize) break;
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  return { events, lastPosition };
}

export async function exportToFile(pool: pg.Pool, file: string, opts: Parameters<typeof exportEvents>[2] = {}): Promise<ExportReport> {
  const out = fs.createWriteStream(file, { flags: 'wx' });
  try {
    const report = await exportEvents(pool, out, opts);
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    return report;
  } catch (err) {
    out.destroy();
    throw err;
  }
}

interface Pending {
  line: number;
  e: EventLine;
  prev: string | null;
}

const IMPORT_LOCK = [1095582046, 1];

/**
 * Loads an NDJSON export into the store in one transaction (see the rules above). `input` is a
 * readable stream of the file. On any problem nothing is stored and an ImportError names the line.
 */
export async function importEvents(
  pool: pg.Pool,
  registry: EventRegistry,
  input: Readable,
  opts: { dryRun?: boolean; batchSize?: number; onProgress?: (read: number) => void } = {},
): Promise<ImportReport> {
  const batchSize = opts.batchSize ?? 5000;
  const client = await pool.connect();
  /** Per stream: revision and hash of its head now, and the revision it had in the store before. */
  const heads = new Map<string, { revision: number; hash: string | null; before: number }>();
  const report: ImportReport = { read: 0, imported: 0, skipped: 0, streams: 0, storeEventsBefore: 0, dryRun: !!opts.dryRun };
  let batch: { line: number; e: EventLine }[] = [];
  // Batches are written one at a time, but the next one is parsed while the database works on
  // the previous (`inFlight`), so parsing and SQL overlap.
  let inFlight: Promise<void> = Promise.resolve();
  const queue = async () => {
    const b = batch;
    batch = [];
    await inFlight;
    inFlight = flush(b);
    // Surface a failure at the next await point without an unhandled rejection meanwhile.
    inFlight.catch(() => undefined);
  };

  const flush = async (batch: { line: number; e: EventLine }[]) => {
    if (!batch.length) return;
    const unknownStreams = [...new Set(batch.map((b) => b.e.stream))].filter((s) => !heads.has(s));
    if (unknownStreams.length) {
      const { rows } = await client.query<{ stream_name: string; revision: string; last_hash: string }>(
        `SELECT stream_name, revision::text AS revision, encode(last_hash, 'hex') AS last_hash FROM streams WHERE stream_name = ANY($1::text[])`,
        [unknownStreams],
      );
      for (const s of unknownStreams) heads.set(s, { revision: -1, hash: null, before: -1 });
      for (const r of rows) heads.set(r.stream_name, { revision: Number(r.revision), hash: r.last_hash, before: Number(r.revision) });
    }
    const inserts: Pending[] = [];
    const existing: { line: number; e: EventLine }[] = [];
    for (const b of batch) {
      const head = heads.get(b.e.stream)!;
      if (b.e.revision <= head.before) {
        existing.push(b); // was in the store before this import: must be the very same event
      } else if (b.e.revision === head.revision + 1) {
        inserts.push({ ...b, prev: head.hash });
        head.revision = b.e.revision;
        head.hash = b.e.hash;
      } else {
        throw new ImportError(`${b.e.stream} revision ${b.e.revision} does not continue the stream (at revision ${head.revision})`, b.line);
      }
    }
    if (existing.length) {
      const { rows } = await client.query<{ stream_name: string; revision: string; event_id: string; hash: string }>(
        `SELECT e.stream_name, e.revision::text AS revision, e.event_id::text AS event_id, encode(e.hash, 'hex') AS hash
           FROM events e JOIN unnest($1::text[], $2::bigint[]) AS k(s, r) ON e.stream_name = k.s AND e.revision = k.r`,
        [existing.map((x) => x.e.stream), existing.map((x) => x.e.revision)],
      );
      const found = new Map(rows.map((r) => [`${r.stream_name}\u0000${r.revision}`, r]));
      for (const x of existing) {
        const r = found.get(`${x.e.stream}\u0000${x.e.revision}`);
        if (!r || r.event_id !== x.e.id || r.hash !== x.e.hash) {
          throw new ImportError(`the store holds a different event at ${x.e.stream} revision ${x.e.revision}: refusing to import over it`, x.line);
        }
      }
      report.skipped += existing.length;
    }
    if (inserts.length) {
      // One JSON document per batch (cheaper to send than nine array literals); the database
      // recomputes each hash over the canonical encoding, chained on the previous event's.
      const { rows } = await client.query<{ stream_name: string; revision: string; hash: string }>(
        `INSERT INTO events (stream_name, revision, event_id, event_type, schema_version, data, metadata, created_at, hash)
         SELECT u.s, u.r, u.id, u.t, u.v, u.d, u.m, u.c,
                event_hash(decode(u.prev, 'hex'), u.s, u.r, u.id, u.t, u.v, u.c, u.d, u.m)
           FROM json_to_recordset($1::json) AS u(s text, r bigint, id uuid, t text, v int, d jsonb, m jsonb, c timestamptz, prev text)
         RETURNING stream_name, revision::text AS revision, encode(hash, 'hex') AS hash`,
        [JSON.stringify(inserts.map((p) => ({
          s: p.e.stream, r: p.e.revision, id: p.e.id, t: p.e.type, v: p.e.version, d: p.e.data, m: p.e.metadata, c: p.e.created_at, prev: p.prev,
        })))],
      );
      const stored = new Map(rows.map((r) => [`${r.stream_name}\u0000${r.revision}`, r.hash]));
      for (const p of inserts) {
        const h = stored.get(`${p.e.stream}\u0000${p.e.revision}`);
        if (h !== p.e.hash) {
          throw new ImportError(
            `hash chain broken at ${p.e.stream} revision ${p.e.revision}: the file says ${p.e.hash}, the event recomputes to ${h} (altered or reordered export)`,
            p.line,
          );
        }
      }
      report.imported += inserts.length;
    }
  };

  try {
    const { rows: schema } = await client.query<{ t: string | null }>(`SELECT to_regclass('events')::text AS t`);
    if (!schema[0]?.t) throw new ImportError('this database has no event store yet: run `npm run cli -- migrate` first (a dry run changes nothing)');
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', IMPORT_LOCK);
    const { rows: c } = await client.query<{ n: string }>('SELECT count(*)::text AS n FROM events');
    report.storeEventsBefore = Number(c[0]!.n);
    const lines = readline.createInterface({ input, crlfDelay: Infinity });
    let lineNo = 0;
    for await (const text of lines) {
      lineNo++;
      if (!text.trim()) continue;
      const e = parseEventLine(text, lineNo, registry);
      batch.push({ line: lineNo, e });
      report.read++;
      if (batch.length >= batchSize) {
        await queue();
        opts.onProgress?.(report.read);
      }
    }
    await queue();
    await inFlight;
    opts.onProgress?.(report.read);
    const touched = [...heads].filter(([, h]) => h.revision > h.before);
    report.streams = heads.size;
    if (touched.length) {
      await client.query(
        `INSERT INTO streams AS s (stream_name, revision, last_hash)
         SELECT u.s, u.r, decode(u.h, 'hex') FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(s, r, h)
         ON CONFLICT (stream_name) DO UPDATE SET revision = EXCLUDED.revision, last_hash = EXCLUDED.last_hash`,
        [touched.map(([s]) => s), touched.map(([, h]) => h.revision), touched.map(([, h]) => h.hash!)],
      );
    }
    // Audit snapshots (a read-side cache keyed by time) may predate restored events: drop them.
    if (report.imported) await client.query('DELETE FROM audit_snapshots');
    if (opts.dryRun) {
      await client.query('ROLLBACK');
    } else {
      await client.query('COMMIT');
      if (report.imported) await pool.query(`SELECT pg_notify('${NOTIFY_CHANNEL}', '')`).catch(() => undefined);
    }
    return report;
  } catch (err) {
    // Let a batch still in flight finish first: its statements must not run after the ROLLBACK.
    await inFlight.catch(() => undefined);
    await client.query('ROLLBACK').catch(() => undefined);
    if (err instanceof ImportError) throw err;
    const pgErr = err as { code?: string; detail?: string; message: string };
    if (pgErr.code === '23505') throw new ImportError(`duplicate event in the file or store: ${pgErr.detail ?? pgErr.message}`);
    throw err;
  } finally {
    client.release();
  }
}

export function importFromFile(pool: pg.Pool, registry: EventRegistry, file: string, opts: Parameters<typeof importEvents>[3] = {}): Promise<ImportReport> {
  return importEvents(pool, registry, fs.createReadStream(file, { encoding: 'utf8' }), opts);
}

