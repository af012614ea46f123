/**
 * Test projections over the test events (test/events/fixtures.ts):
 * - `counterProjection`: per stream, how many ThingHappened, their sum and the last revision.
 *   Its updates are increments, so applying any event twice shows up as a wrong count. Batch-aware
 *   (one multi-row upsert per batch) or, with `perEvent`, one statement per event with an optional
 *   hook in the middle of each batch (the crash test kills the process there);
 * - `redisCounterProjection`: the same counts in a Redis hash (HINCRBY: not idempotent by itself).
 */
import type { RecordedEvent } from '../../src/events/store';
import type { PgProjection, RedisProjection } from '../../src/projections/types';

export interface CounterOptions {
  name?: string;
  base?: string;
  version?: number;
  perEvent?: boolean;
  /** perEvent only: awaited after half of each batch has been written (batch number from 1). */
  midBatch?: (batchNo: number) => Promise<void>;
  /**
   * Batch-aware only: read the batch's streams' rows first (one SELECT through ctx.client), then
   * hand the upsert to ctx.write (held by the group runner until COMMIT), as fold.ts does.
   */
  held?: boolean;
}

export function counterProjection(opts: CounterOptions = {}): PgProjection {
  const base = opts.base ?? 'counters';
  let batchNo = 0;
  return {
    kind: 'postgres',
    name: opts.name ?? base,
    version: opts.version ?? 1,
    handles: ['ThingHappened'],
    tables: {
      [base]: `CREATE TABLE {{table}} (stream text PRIMARY KEY, count integer NOT NULL, total bigint NOT NULL, last_revision bigint NOT NULL)`,
    },
    async apply(events, { client, table, write }) {
      const t = table(base);
      batchNo++;
      if (opts.perEvent) {
        for (let i = 0; i < events.length; i++) {
          if (opts.midBatch && i === Math.floor(events.length / 2)) await opts.midBatch(batchNo);
          const e = events[i]!;
          await client.query(
            `INSERT INTO ${t} AS c (stream, count, total, last_revision) VALUES ($1, 1, $2, $3)
               ON CONFLICT (stream) DO UPDATE SET count = c.count + 1, total = c.total + EXCLUDED.total, last_revision = EXCLUDED.last_revision`,
            [e.streamName, (e.data as { n: number }).n, e.revision.toString()],
          );
        }
        return;
      }
      const agg = aggregate(events);
      if (opts.held) {
        await client.query(`SELECT stream FROM ${t} WHERE stream = ANY($1::text[])`, [agg.streams]);
        return write(
          `INSERT INTO ${t} AS c (stream, count, total, last_revision)
             SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[])
             ON CONFLICT (stream) DO UPDATE SET count = c.count + EXCLUDED.count, total = c.total + EXCLUDED.total, last_revision = EXCLUDED.last_revision`,
          [agg.streams, agg.counts, agg.totals, agg.revisions],
        );
      }
      await client.query(
        `INSERT INTO ${t} AS c (stream, count, total, last_revision)
           SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[])
           ON CONFLICT (stream) DO UPDATE SET count = c.count + EXCLUDED.count, total = c.total + EXCLUDED.total, last_revision = EXCLUDED.last_revision`,
        [agg.streams, agg.counts, agg.totals, agg.revisions],
      );
    },
  };
}

function aggregate(events: RecordedEvent[]) {
  const m = new Map<string, { count: number; total: number; rev: bigint }>();
  for (const e of events) {
    const cur = m.get(e.streamName);
    const n = (e.data as { n: number }).n;
    if (cur) {
      cur.count++;
      cur.total += n;
      cur.rev = e.revision;
    } else m.set(e.streamName, { count: 1, total: n, rev: e.revision });
  }
  const streams: string[] = [];
  const counts: number[] = [];
  const totals: number[] = [];
  const revisions: string[] = [];
  for (const [s, v] of m) {
    streams.push(s);
    counts.push(v.count);
    totals.push(v.total);
    revisions.push(v.rev.toString());
  }
  return { streams, counts, totals, revisions };
}

export function redisCounterProjection(name = 'redis-counters'): RedisProjection {
  return {
    kind: 'redis',
    name,
    handles: ['ThingHappened'],
    async apply(events, { multi, key }) {
      for (const e of events) {
        multi.hincrby(key(`${name}:count`), e.streamName, 1);
        multi.hincrby(key(`${name}:total`), e.streamName, (e.data as { n: number }).n);
      }
    },
  };
}
