/**
 * Tamper evidence: walks the log and recomputes every event's hash in Node (independently of the
 * SQL function that wrote it), over the same canonical encoding as `event_hash()`:
 *   hex(previous hash) \n stream \n revision \n event id \n type \n schema version \n
 *   created_at as epoch microseconds \n data::text \n metadata::text      → SHA-256
 * Rules:
 * - one consistent snapshot (REPEATABLE READ, read only), read through a server-side cursor in
 *   log order, so a live server may keep appending meanwhile;
 * - each stream must run 0, 1, 2, … without gaps, each hash must match the recomputation
 *   chained on the stored hash of the previous event, and `streams` must name each stream's
 *   last revision and hash (a deleted tail shows there);
 * - the first broken link (lowest position) is reported with its stream, revision and position.
 */
import { chainHash } from '../hash';
import { verifyCheckpoints } from './checkpoints';
import type pg from 'pg';
import { brokenLinks, type VerifyOptions, type VerifyReport } from '../archive';

export type { BrokenLink, VerifyReport } from '../archive';

interface Row {
  position: string;
  stream_name: string;
  revision: string;
  event_id: string;
  event_type: string;
  schema_version: string;
  created_us: string;
  data: string;
  metadata: string;
  hash: Buffer;
}

/** The canonical encoding's hash, as `event_hash()` computes it. */
export function canonicalHash(prevHex: string, r: Omit<Row, 'position' | 'hash'>): Buffer {
  return chainHash(prevHex, {
    stream: r.stream_name, revision: r.revision, id: r.event_id, type: r.event_type, version: r.schema_version,
    createdUs: r.created_us, data: r.data, metadata: r.metadata,
  });
}

export const CANONICAL_COLUMNS = `position::text AS position, stream_name, revision::text AS revision, event_id::text AS event_id,
  event_type, schema_version::text AS schema_version, ((extract(epoch FROM created_at) * 1000000)::bigint)::text AS created_us,
  data::text AS data, metadata::text AS metadata, hash`;

export async function verifyLog(
  pool: pg.Pool,
  opts: VerifyOptions = {},
): Promise<VerifyReport> {
  const only = opts.streams;
  const batchSize = opts.batchSize ?? 5000;
  const client = await pool.connect();
  const heads = new Map<string, { revision: bigint; hash: Buffer }>();
  let checked = 0;
  const links = brokenLinks();
  const broken = links.add;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows: countRows } = await client.query<{ n: string }>('SELECT count(*)::text AS n FROM events');
    const total = Number(countRows[0]!.n);
    opts.onProgress?.(0, total);
    await client.query(`DECLARE verify_cur NO SCROLL CURSOR FOR SELECT ${CANONICAL_COLUMNS} FROM events ORDER BY events.position`);
    for (;;) {
      const { rows } = await client.query<Row>(`FETCH ${batchSize} FROM verify_cur`);
      for (const r of rows) {
        if (only && !only(r.stream_name)) continue;
        const head = heads.get(r.stream_name);
        const revision = BigInt(r.revision);
        const expected = head ? head.revision + 1n : 0n;
        if (revision !== expected) {
          broken({
            stream: r.stream_name, revision: r.revision, position: r.position, reason: 'revision_gap',
            detail: `expected revision ${expected}, found ${revision} (an event is missing or was moved)`,
          });
        }
        const recomputed = canonicalHash(head ? head.hash.toString('hex') : '', r);
        if (!recomputed.equals(r.hash)) {
          broken({
            stream: r.stream_name, revision: r.revision, position: r.position, reason: 'hash_mismatch',
            detail: `stored ${r.hash.toString('hex')}, recomputed ${recomputed.toString('hex')}`,
          });
        }
        // Chain on the stored hash: one altered event breaks its own link, not every later one.
        heads.set(r.stream_name, { revision, hash: r.hash });
      }
      checked += rows.length;
      opts.onProgress?.(checked, total);
      if (rows.length < batchSize) break;
    }
    await client.query('CLOSE verify_cur');
    const { rows: streamRows } = await client.query<{ stream_name: string; revision: string; last_hash: Buffer }>(
      'SELECT stream_name, revision::text AS revision, last_hash FROM streams',
    );
    const seen = new Set<string>();
    for (const s of streamRows) {
      if (only && !only(s.stream_name)) continue;
      seen.add(s.stream_name);
      const head = heads.get(s.stream_name);
      if (!head || head.revision !== BigInt(s.revision) || !head.hash.equals(s.last_hash)) {
        broken({
          stream: s.stream_name, revision: s.revision, position: null, reason: 'stream_head_mismatch',
          detail: head ? `streams says revision ${s.revision}, the log ends at ${head.revision} (or its hash differs)` : 'streams lists a stream with no events',
        });
      }
    }
    for (const [name, head] of heads) {
      if (!seen.has(name)) {
        broken({ stream: name, revision: head.revision.toString(), position: null, reason: 'stream_missing_head', detail: 'the stream has events but no row in streams' });
      }
    }
    await client.query('COMMIT');
    // The chain across streams (issue 20 §10): a whole stream deleted, a tail truncated or a
    // stream re-chained (with its head record rewritten to match) passes the walk above but not
    // the checkpoints written before it. Not with a stream filter (the digest covers every stream).
    if (!only) {
      const cp = await verifyCheckpoints(pool);
      if (cp.firstMismatch) {
        const m = cp.firstMismatch;
        for (let i = 0; i < cp.mismatches; i++) {
          broken({
            stream: '', revision: '', position: `${m.checkpoint.uptoTxid}.${m.checkpoint.uptoPosition}`, reason: 'checkpoint_mismatch',
            detail: `log checkpoint ${m.checkpoint.seq} (${m.checkpoint.createdAt}) covers ${m.checkpoint.events} events with digest ${m.checkpoint.digest}; the log now gives ${m.events} events, digest ${m.digest} (events before it were deleted, added or rewritten)`,
          });
        }
      }
    }
    return { ok: links.count === 0, events: checked, streams: heads.size, firstBroken: links.first, brokenCount: links.count };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
