/**
 * Log checkpoints (issue 20 §10): the chain across streams. Each checkpoint covers the stable
 * prefix of the log in global order — events of transactions older than every running one
 * (pg_snapshot_xmin), ordered by (transaction_id, position), the order readers see — with the
 * number of events and a running digest over every event's own hash:
 *   d_0 = ''   d_n = sha256(hex(d_{n-1}) '\n' hex(hash_n))
 * A deleted stream, a truncated tail or a re-chained stream changes the count or the digest of
 * every checkpoint after it. `verifyCheckpoints` recomputes them; an anchor (src/ops/anchors.ts)
 * is a signed copy of one kept outside the database.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';

export interface Checkpoint {
  seq: string;
  uptoTxid: string;
  uptoPosition: string;
  events: string;
  digest: string;
  createdAt: string;
}

export function nextDigest(prevHex: string, eventHash: Buffer): string {
  return createHash('sha256').update(`${prevHex}\n${eventHash.toString('hex')}`).digest('hex');
}

interface Row {
  transaction_id: string;
  position: string;
  hash: Buffer;
}

const toCheckpoint = (r: { seq: string; upto_txid: string; upto_position: string; events: string; digest: Buffer; created_at: Date }): Checkpoint => ({
  seq: r.seq, uptoTxid: r.upto_txid, uptoPosition: r.upto_position, events: r.events, digest: r.digest.toString('hex'), createdAt: r.created_at.toISOString(),
});

const SELECT_CHECKPOINT = 'SELECT seq::text, upto_txid::text, upto_position::text, events::text, digest, created_at FROM log_checkpoints';

/** Walks events after `from` (exclusive) in global order, calling `each` per event. */
async function walk(client: pg.PoolClient, where: string, params: unknown[], each: (r: Row) => void, batch = 5000): Promise<void> {
  await client.query(`DECLARE cp_cur NO SCROLL CURSOR FOR SELECT transaction_id::text, position::text, hash FROM events WHERE ${where} ORDER BY transaction_id, position`, params);
  for (;;) {
    const { rows } = await client.query<Row>(`FETCH ${batch} FROM cp_cur`);
    for (const r of rows) each(r);
    if (rows.length < batch) break;
  }
  await client.query('CLOSE cp_cur');
}

/**
 * Writes a checkpoint over the stable prefix (or returns the last one when nothing is new).
 * `waitForHeadMs`: wait up to this long for transactions still running (anywhere in the cluster:
 * xids are cluster-wide) to finish, so the checkpoint reaches the log's current head.
 */
export async function writeCheckpoint(pool: pg.Pool, opts: { waitForHeadMs?: number } = {}): Promise<Checkpoint | undefined> {
  const until = Date.now() + (opts.waitForHeadMs ?? 0);
  for (;;) {
    const { rows } = await pool.query<{ behind: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM events WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot())) AS behind',
    );
    if (!rows[0]!.behind || Date.now() >= until) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    // One writer at a time (the worker on several processes, an operator's verify --anchor).
    await client.query('SELECT pg_advisory_xact_lock(1095582036, 1)');
    const { rows: last } = await client.query<Parameters<typeof toCheckpoint>[0]>(`${SELECT_CHECKPOINT} ORDER BY seq DESC LIMIT 1`);
    const prev = last[0];
    let digest = prev ? prev.digest.toString('hex') : '';
    let events = prev ? BigInt(prev.events) : 0n;
    let upto: Row | undefined;
    const { rows: xmin } = await client.query<{ xmin: string }>('SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin');
    const after = prev ? '(transaction_id, position) > ($2::xid8, $3::bigint) AND ' : '';
    await walk(client, `${after}transaction_id < $1::xid8`, prev ? [xmin[0]!.xmin, prev.upto_txid, prev.upto_position] : [xmin[0]!.xmin], (r) => {
      digest = nextDigest(digest, r.hash);
      events++;
      upto = r;
    });
    if (!upto) {
      await client.query('COMMIT');
      return prev ? toCheckpoint(prev) : undefined;
    }
    const { rows } = await client.query<Parameters<typeof toCheckpoint>[0]>(
      `INSERT INTO log_checkpoints (upto_txid, upto_position, events, digest) VALUES ($1::xid8, $2, $3, $4)
       RETURNING seq::text, upto_txid::text, upto_position::text, events::text, digest, created_at`,
      [upto.transaction_id, upto.position, events.toString(), Buffer.from(digest, 'hex')],
    );
    await client.query('COMMIT');
    return toCheckpoint(rows[0]!);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export interface CheckpointMismatch {
  checkpoint: Checkpoint;
  /** What the log gives at that checkpoint's boundary now. */
  events: string;
  digest: string;
}

/**
 * Recomputes the running digest over the log in global order and compares it with `against`
 * (default: every stored checkpoint). Returns the first checkpoint that no longer matches.
 */
export async function verifyCheckpoints(pool: pg.Pool, against?: Checkpoint[]): Promise<{ checked: number; firstMismatch?: CheckpointMismatch; mismatches: number }> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const list = against ?? (await client.query<Parameters<typeof toCheckpoint>[0]>(`${SELECT_CHECKPOINT} ORDER BY seq`)).rows.map(toCheckpoint);
    const sorted = [...list].sort((a, b) => cmp(a.uptoTxid, a.uptoPosition, b.uptoTxid, b.uptoPosition));
    let i = 0;
    let digest = '';
    let events = 0n;
    let mismatches = 0;
    let firstMismatch: CheckpointMismatch | undefined;
    const settle = (cp: Checkpoint) => {
      if (events.toString() !== cp.events || digest !== cp.digest) {
        mismatches++;
        firstMismatch ??= { checkpoint: cp, events: events.toString(), digest };
      }
    };
    if (sorted.length) {
      const last = sorted.at(-1)!;
      await walk(client, '(transaction_id, position) <= ($1::xid8, $2::bigint)', [last.uptoTxid, last.uptoPosition], (r) => {
        // Boundaries passed without an event of their own (the event at the boundary is gone).
        while (i < sorted.length && cmp(r.transaction_id, r.position, sorted[i]!.uptoTxid, sorted[i]!.uptoPosition) > 0) settle(sorted[i++]!);
        digest = nextDigest(digest, r.hash);
        events++;
      });
      while (i < sorted.length) settle(sorted[i++]!);
    }
    await client.query('COMMIT');
    return { checked: sorted.length, firstMismatch, mismatches };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

function cmp(txA: string, posA: string, txB: string, posB: string): number {
  const a = BigInt(txA), b = BigInt(txB);
  if (a !== b) return a < b ? -1 : 1;
  const p = BigInt(posA), q = BigInt(posB);
  return p === q ? 0 : p < q ? -1 : 1;
}
