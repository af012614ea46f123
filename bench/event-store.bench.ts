/**
 * Event store appends and delivery (PostgreSQL adapter), each against a baseline in the same run:
 * 1. single-event appends from 16 concurrent writers vs raw single-row INSERTs (16 writers) into
 *    an equivalent table (same columns and indexes, no revision check, no idempotency, no hash);
 * 2. 100-event batches from 16 writers vs raw 100-row INSERTs (16 writers);
 * 3. append → subscriber delivery latency under the load of (1), the subscriber in another
 *    store (its own pool and LISTEN connection: woken by NOTIFY, as another process would be).
 * Targets: ratio ≥ 0.7 for (1) and (2); p99 < 50 ms for (3).
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { z } from 'zod';
import { createPool } from '../src/infra/db';
import { EventRegistry, defineEvent } from '../src/events/registry';
import { PostgresEventStore } from '../src/events/postgres/store';
import type { NewEvent } from '../src/events/store';
import { percentile, report, scale } from './lib';
import { benchDatabase } from './pg-bench-db';

const WRITERS = 16;
const SECONDS = scale(3, 1); // per run; each side runs 4 times
const BenchEvent = defineEvent('BenchHappened', z.object({ n: z.number().int(), userId: z.string(), note: z.string() }));
const registry = new EventRegistry([BenchEvent]);
const payload = (n: number) => ({ n, userId: randomUUID(), note: 'a benchmark event with a short note' });

async function forSeconds(seconds: number, writer: (w: number) => Promise<number>): Promise<number> {
  const until = Date.now() + seconds * 1000;
  const counts = await Promise.all(
    Array.from({ length: WRITERS }, async (_, w) => {
      let n = 0;
      while (Date.now() < until) n += await writer(w);
      return n;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

async function main() {
  const db = await benchDatabase('events');
  const pool = createPool(db.url, WRITERS + 2);
  const subPool = createPool(db.url, 3);
  const store = new PostgresEventStore(pool, registry);
  try {
    await pool.query(`CREATE TABLE raw_events (LIKE events INCLUDING DEFAULTS INCLUDING INDEXES INCLUDING IDENTITY)`);
    const rawRevision = new Map<string, number>();
    const nextRev = (s: string, k = 1) => {
      const r = rawRevision.get(s) ?? 0;
      rawRevision.set(s, r + k);
      return r;
    };
    const rawInsert = async (stream: string, events: { id: string; data: unknown }[]) => {
      const rev0 = nextRev(stream, events.length);
      if (events.length === 1) {
        await pool.query(
          `INSERT INTO raw_events (stream_name, revision, event_id, event_type, schema_version, data, metadata, hash)
           VALUES ($1, $2, $3, 'BenchHappened', 1, $4, '{}', '\\x00')`,
          [stream, rev0, events[0]!.id, JSON.stringify(events[0]!.data)],
        );
        return;
      }
      await pool.query(
        `INSERT INTO raw_events (stream_name, revision, event_id, event_type, schema_version, data, metadata, hash)
         SELECT $1, $2::bigint + r - 1, id, 'BenchHappened', 1, d, '{}', '\\x00'
           FROM unnest($3::uuid[], $4::jsonb[]) WITH ORDINALITY AS t(id, d, r)`,
        [stream, rev0, events.map((e) => e.id), events.map((e) => JSON.stringify(e.data))],
      );
    };
    // No caller-supplied ids (the common case): the store generates them and skips the idempotency probe.
    const newEvents = (k: number, n0: number): NewEvent[] => Array.from({ length: k }, (_, i) => ({ type: 'BenchHappened', data: payload(n0 + i) }));
    const rawEvents = (k: number, n0: number) => Array.from({ length: k }, (_, i) => ({ id: randomUUID(), data: payload(n0 + i) }));
    // Each writer cycles over 50 streams of its own (realistic: many aggregates, no conflicts).
    const streamOf = (kind: string, w: number, i: number) => `${kind}-${w}-${i % 50}`;

    // Warm-up (connections, plans).
    await forSeconds(0.5, async (w) => { await store.appendToStream(streamOf('warm', w, 0), newEvents(1, 0)); return 1; });
    await forSeconds(0.5, async (w) => { await rawInsert(streamOf('rawwarm', w, 0), rawEvents(1, 0)); return 1; });

    // The machine is shared: raw and store runs alternate in short rounds (raw, store, store,
    // raw, …) so a change of background load hits both sides alike.
    const ROUNDS = 4;
    async function compare(rawRun: () => Promise<number>, storeRun: () => Promise<number>) {
      let raw = 0;
      let ours = 0;
      for (let r = 0; r < ROUNDS; r++) {
        if (r % 2 === 0) {
          raw += await rawRun();
          ours += await storeRun();
        } else {
          ours += await storeRun();
          raw += await rawRun();
        }
      }
      return { raw: raw / (SECONDS * ROUNDS), ours: ours / (SECONDS * ROUNDS) };
    }
    const slice = () => SECONDS; // seconds per run inside a round

    // 1. Single-event appends.
    let i1 = 0;
    let i2 = 0;
    const single = await compare(
      () => forSeconds(slice(), async (w) => { await rawInsert(streamOf('raw1', w, i1++), rawEvents(1, i1)); return 1; }),
      () => forSeconds(slice(), async (w) => { await store.appendToStream(streamOf('s1', w, i2++), newEvents(1, i2)); return 1; }),
    );
    report('append single events, 16 writers', { raw_events_per_s: single.raw, store_events_per_s: single.ours }, { value: single.ours / single.raw, target: '>= 0.7' });

    // 2. 100-event batches.
    let i3 = 0;
    let i4 = 0;
    const batch = await compare(
      () => forSeconds(slice(), async (w) => { await rawInsert(streamOf('raw100', w, i3++), rawEvents(100, i3)); return 100; }),
      () => forSeconds(slice(), async (w) => { await store.appendToStream(streamOf('s100', w, i4++), newEvents(100, i4)); return 100; }),
    );
    report('append 100-event batches, 16 writers', { raw_events_per_s: batch.raw, store_events_per_s: batch.ours }, { value: batch.ours / batch.raw, target: '>= 0.7' });

    // 3. Delivery latency under the load of (1): a subscriber in another store (NOTIFY-woken, as
    //    another process would be), then one on the writers' own store (woken in-process).
    const subStore = new PostgresEventStore(subPool, registry);
    await latency('another store, woken by LISTEN/NOTIFY', subStore, 'lat-');
    await latency('same store, woken in-process', store, 'lat2-');
    await subStore.close();
    report('machine', { load_average_1m: os.loadavg()[0]!, cpus: os.cpus().length });

    async function latency(label: string, subscriber: PostgresEventStore, kind: string) {
      const head = await store.headPosition();
      const sub = subscriber.subscribeToAll({ fromPosition: head, filter: { streamPrefixes: [`${kind}`] } });
      // Keyed by data.n (unique per append in this phase).
      const startedAt = new Map<number, number>();
      const ackedAt = new Map<number, number>();
      const fromStart: number[] = [];
      const fromAck: number[] = [];
      const consumer = (async () => {
        for await (const e of sub) {
          const now = performance.now();
          const key = (e.data as { n: number }).n;
          const s = startedAt.get(key);
          if (s !== undefined) fromStart.push(now - s);
          const a = ackedAt.get(key);
          if (a !== undefined) fromAck.push(Math.max(0, now - a));
        }
      })();
      await sleep(200);
      let i5 = 0;
      const delivered = await forSeconds(SECONDS, async (w) => {
        const key = i5++;
        const events = newEvents(1, key);
        startedAt.set(key, performance.now());
        await store.appendToStream(streamOf(kind.slice(0, -1), w, key), events);
        ackedAt.set(key, performance.now());
        return 1;
      });
      const deadline = Date.now() + 10_000;
      while (fromStart.length < startedAt.size && Date.now() < deadline) await sleep(20);
      await sub.unsubscribe();
      await consumer.catch(() => undefined);
      fromStart.sort((a, b) => a - b);
      fromAck.sort((a, b) => a - b);
      report(`append → subscriber delivery under 16-writer load (${label})`, {
        events: delivered,
        received: fromStart.length,
        p50_ms_from_commit: percentile(fromAck, 50),
        p99_ms_from_commit: percentile(fromAck, 99),
        p50_ms_from_append_call: percentile(fromStart, 50),
        p99_ms_from_append_call: percentile(fromStart, 99),
        max_ms_from_append_call: fromStart.at(-1) ?? NaN,
      }, { value: percentile(fromStart, 99) / 50, target: '< 1 (p99 from the append call ÷ 50 ms)' });
      if (fromStart.length !== startedAt.size) console.log(`[bench] WARNING: delivered ${fromStart.length} of ${startedAt.size}`);
    }
  } finally {
    await store.close();
    await pool.end();
    await subPool.end();
    await db.drop();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
