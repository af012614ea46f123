/**
 * Rebuilding a projection from a log of 1,000,000 events (BENCH_QUICK: 100,000), blue/green
 * through rebuildProjection(), against two yardsticks measured in the same run:
 * - the target, 50,000 events/s (ratio = rebuild rate ÷ 50,000, target ≥ 1);
 * - the raw read floor: paging through the same log in the same order with plain SELECTs and no
 *   decoding or writing (ratio = rebuild rate ÷ raw read rate).
 * The log is seeded in SQL through append_to_stream() itself (same hash chain), 100 events per
 * stream, 90 % of them handled by the projection. The projection is batch-aware: per-stream
 * counters aggregated in memory and written with one multi-row upsert per batch.
 */
import { z } from 'zod';
import pg from 'pg';
import { createPool } from '../src/infra/db';
import { EventRegistry, defineEvent } from '../src/events/registry';
import { PostgresEventStore } from '../src/events/postgres/store';
import { rebuildProjection } from '../src/projections/rebuild';
import { ensureProjections } from '../src/projections/tables';
import type { PgProjection } from '../src/projections/types';
import type { RecordedEvent } from '../src/events/store';
import { report, scale } from './lib';
import { benchDatabase } from './pg-bench-db';

const EVENTS = scale(1_000_000, 100_000);
const PER_STREAM = 100;
const STREAMS_PER_TX = 100; // 10,000 events per seeding transaction
const BATCH = 5000;

const registry = new EventRegistry([
  defineEvent('BenchHappened', z.object({ n: z.number().int(), userId: z.string(), note: z.string() })),
  defineEvent('BenchNoted', z.object({ n: z.number().int(), userId: z.string(), note: z.string() })),
]);

const projection: PgProjection = {
  kind: 'postgres',
  name: 'bench_counters',
  version: 1,
  handles: ['BenchHappened'],
  tables: { bench_counters: 'CREATE TABLE {{table}} (stream text PRIMARY KEY, count integer NOT NULL, total bigint NOT NULL, last_revision bigint NOT NULL)' },
  async apply(events: RecordedEvent[], { client, table }) {
    const agg = new Map<string, { count: number; total: number; rev: bigint }>();
    for (const e of events) {
      const n = (e.data as { n: number }).n;
      const cur = agg.get(e.streamName);
      if (cur) {
        cur.count++;
        cur.total += n;
        cur.rev = e.revision;
      } else agg.set(e.streamName, { count: 1, total: n, rev: e.revision });
    }
    const streams: string[] = [];
    const counts: number[] = [];
    const totals: number[] = [];
    const revs: string[] = [];
    for (const [s, v] of agg) {
      streams.push(s);
      counts.push(v.count);
      totals.push(v.total);
      revs.push(v.rev.toString());
    }
    await client.query(
      `INSERT INTO ${table('bench_counters')} AS c (stream, count, total, last_revision)
         SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[])
         ON CONFLICT (stream) DO UPDATE SET count = c.count + EXCLUDED.count, total = c.total + EXCLUDED.total, last_revision = EXCLUDED.last_revision`,
      [streams, counts, totals, revs],
    );
  },
};

async function seed(pool: pg.Pool): Promise<number> {
  const txs = EVENTS / (PER_STREAM * STREAMS_PER_TX);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const t = next++;
      if (t >= txs) return;
      await pool.query(
        `SELECT count(*) FROM generate_series(1, $2::int) s,
           LATERAL append_to_stream('bench-' || $1 || '-' || s, 'no_stream',
             array(SELECT gen_random_uuid() FROM generate_series(1, $3::int)),
             array(SELECT CASE WHEN i % 10 = 0 THEN 'BenchNoted' ELSE 'BenchHappened' END FROM generate_series(1, $3::int) i),
             array_fill(1, ARRAY[$3::int]),
             array(SELECT jsonb_build_object('n', i, 'userId', gen_random_uuid()::text, 'note', 'a benchmark event with a short note') FROM generate_series(1, $3::int) i),
             array_fill('{"requestId":"bench"}'::jsonb, ARRAY[$3::int]), NULL, false)`,
        [t, STREAMS_PER_TX, PER_STREAM],
      );
    }
  };
  await Promise.all([worker(), worker()]);
  const { rows } = await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM events');
  return Number(rows[0]!.n);
}

async function rawRead(pool: pg.Pool): Promise<number> {
  const started = performance.now();
  let from = { c: '0', p: '0' };
  let total = 0;
  for (;;) {
    const { rows } = await pool.query<{ c: string; p: string }>(
      `SELECT transaction_id::text AS c, position::text AS p, stream_name, revision, event_id, event_type, schema_version, data, metadata, created_at
         FROM events WHERE (transaction_id, position) > ($1::text::xid8, $2::bigint) ORDER BY transaction_id, position LIMIT $3`,
      [from.c, from.p, BATCH],
    );
    total += rows.length;
    if (rows.length < BATCH) break;
    const last = rows.at(-1)!;
    from = { c: last.c, p: last.p };
  }
  return total / ((performance.now() - started) / 1000);
}

async function main() {
  const db = await benchDatabase('rebuild');
  const pool = createPool(db.url, 6);
  const store = new PostgresEventStore(pool, registry);
  try {
    const seedStart = performance.now();
    const n = await seed(pool);
    await pool.query('VACUUM ANALYZE events');
    report('rebuild: seed log via append_to_stream()', { events: n, seconds: (performance.now() - seedStart) / 1000 });
    await ensureProjections(pool, [projection]);
    const raw = await rawRead(pool);
    const r = await rebuildProjection(pool, store, projection, { batchSize: BATCH });
    const rate = r.events / r.seconds;
    const { rows } = await pool.query<{ n: string; s: string }>('SELECT sum(count)::text AS n, count(*)::text AS s FROM bench_counters');
    const ok = Number(rows[0]!.n) === n * 0.9 && Number(rows[0]!.s) === n / PER_STREAM;
    report('rebuild 1 projection from the log', {
      events: r.events,
      seconds: r.seconds,
      events_per_s: rate,
      raw_read_events_per_s: raw,
      vs_raw_read: rate / raw,
      read_model_correct: ok ? 'yes' : 'NO',
    }, { value: rate / 50_000, target: '>= 1 (events/s ÷ 50,000)' });
    if (!ok) process.exitCode = 1;
  } finally {
    await store.close();
    await pool.end();
    await db.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
