/**
 * Blue/green rebuilds: the new generation is filled beside the live one (which keeps serving and
 * keeps being updated), then the views switch atomically; dry runs compare and drop; a version
 * bump makes the runner rebuild on its own.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../src/infra/db';
import { PostgresEventStore } from '../../src/events/postgres/store';
import { ProjectionRunner, loadPgState, projectionLag } from '../../src/projections/engine';
import { RebuildInProgressError, rebuildProjection } from '../../src/projections/rebuild';
import { ensureProjections } from '../../src/projections/tables';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { sleep, testRegistry } from '../events/fixtures';
import { counterProjection } from './fixtures';

let db: TestDatabase;
let pool: pg.Pool;
let store: PostgresEventStore;

beforeAll(async () => {
  db = await createTestDatabase('rebuild');
  pool = createPool(db.url, 8, () => undefined);
  store = new PostgresEventStore(pool, testRegistry(), { pollIntervalMs: 100 });
});
afterAll(async () => {
  await store.close();
  await pool.end();
  await db.drop();
});

let total = { count: 0, sum: 0 };
async function seed(tag: string, n: number) {
  for (let i = 0; i < n; i += 10) {
    const events = Array.from({ length: 10 }, (_, k) => ({ type: 'ThingHappened', data: { n: i + k } }));
    await store.appendToStream(`${tag}-${(i / 10) % 7}`, events);
    total.count += 10;
    total.sum += events.reduce((a, e) => a + e.data.n, 0);
  }
}
/** Read through the view, as queries do. */
async function served(view: string) {
  const { rows } = await pool.query<{ count: number; sum: string }>(`SELECT coalesce(sum(count), 0)::int AS count, coalesce(sum(total), 0)::text AS sum FROM ${view}`);
  return { count: rows[0]!.count, sum: Number(rows[0]!.sum) };
}
const viewTarget = async (view: string) =>
  (await pool.query<{ d: string }>('SELECT definition AS d FROM pg_views WHERE viewname = $1', [view])).rows[0]?.d ?? '';
const tableExists = async (t: string) => ((await pool.query('SELECT 1 FROM pg_class WHERE relname = $1', [t])).rowCount ?? 0) > 0;
async function waitCaughtUp(p: Parameters<typeof projectionLag>[1]) {
  for (let i = 0; i < 600; i++) {
    if ((await projectionLag({ pool, store }, p)) === 0) return;
    await sleep(50);
  }
  throw new Error('projection never caught up');
}

describe('blue/green rebuild', () => {
  const tag = `rb${randomUUID().slice(0, 6)}`;
  const base = 'rb_counters';
  const p = counterProjection({ name: 'rb', base });
  let runner: ProjectionRunner;

  beforeAll(async () => {
    total = { count: 0, sum: 0 };
    await ensureProjections(pool, [p]);
    await seed(tag, 500);
    runner = new ProjectionRunner({ pool, store, batchSize: 50, idleWaitMs: 50 }, p);
    runner.start();
    await waitCaughtUp(p);
  });
  afterAll(async () => runner.stop());

  it('--dry-run builds the new generation up to the live checkpoint, reports no difference, switches nothing', async () => {
    const report = await rebuildProjection(pool, store, p, { dryRun: true, batchSize: 64 });
    expect(report).toMatchObject({ switched: false, dryRun: true, fromGeneration: 1, toGeneration: 2 });
    expect(report.tables[base]).toEqual({ live: 7, rebuilt: 7, differing: 0 });
    expect(report.position).toEqual((await loadPgState(pool, p.name))!.position);
    expect(await tableExists(`${base}_v2`)).toBe(false);
    expect(await viewTarget(base)).toContain(`${base}_v1`);
  });

  it('--dry-run reports rows that differ from what the log says', async () => {
    const client = await pool.connect();
    try {
      // Stop the runner briefly so the tampering is not mixed with live updates.
      await runner.stop();
      await client.query(`UPDATE ${base}_v1 SET count = count + 1 WHERE stream = $1`, [`${tag}-0`]);
      const report = await rebuildProjection(pool, store, p, { dryRun: true });
      expect(report.tables[base]!.differing).toBe(2); // one row on each side
      await client.query(`UPDATE ${base}_v1 SET count = count - 1 WHERE stream = $1`, [`${tag}-0`]);
    } finally {
      client.release();
      runner.start();
    }
  });

  it('rebuilds into a fresh versioned table while the old one serves and keeps updating, then switches atomically', async () => {
    let during: { view: string; servedCount: number; newRows: number; oldRows: number } | undefined;
    // A reader hammering the view throughout: it must never fail, nor see the total go down
    // (a half-built or empty generation would show as a drop).
    const readerPool = createPool(db.url, 2, () => undefined);
    let reading = true;
    const seenCounts: number[] = [];
    const readerErrors: string[] = [];
    const reader = (async () => {
      while (reading) {
        try {
          const { rows } = await readerPool.query<{ count: number }>(`SELECT coalesce(sum(count), 0)::int AS count FROM ${base}`);
          seenCounts.push(rows[0]!.count);
        } catch (err) {
          readerErrors.push((err as Error).message);
        }
      }
    })();
    const report = await rebuildProjection(pool, store, p, {
      batchSize: 40,
      beforeSwitch: async () => {
        // Bulk phase done: the old generation still serves; live appends keep flowing into it.
        await seed(tag, 100);
        await waitCaughtUp(p);
        during = {
          view: await viewTarget(base),
          servedCount: (await served(base)).count,
          newRows: Number((await pool.query(`SELECT count(*) FROM ${base}_v2`)).rows[0].count),
          oldRows: Number((await pool.query(`SELECT count(*) FROM ${base}_v1`)).rows[0].count),
        };
      },
    });
    await sleep(100);
    reading = false;
    await reader;
    await readerPool.end();
    expect(readerErrors).toEqual([]);
    expect(seenCounts.length).toBeGreaterThan(10);
    for (let i = 1; i < seenCounts.length; i++) expect(seenCounts[i]!).toBeGreaterThanOrEqual(seenCounts[i - 1]!);
    expect(during!.view).toContain(`${base}_v1`);
    expect(during!.servedCount).toBe(total.count); // the old generation is live and current
    expect(during!.newRows).toBe(7);
    expect(report).toMatchObject({ switched: true, fromGeneration: 1, toGeneration: 2 });
    expect(report.events).toBeGreaterThanOrEqual(600); // bulk + the tail caught up inside the switch
    expect(await viewTarget(base)).toContain(`${base}_v2`);
    expect(await tableExists(`${base}_v1`)).toBe(false);
    expect(await served(base)).toEqual(total);
    const state = (await loadPgState(pool, p.name))!;
    expect(state.generation).toBe(2);
    // The live runner noticed (its compare-and-set names the generation) and carries on in v2.
    await seed(tag, 70);
    await waitCaughtUp(p);
    expect(await served(base)).toEqual(total);
  });

  it('one rebuild per projection at a time', async () => {
    let release!: () => void;
    let reached!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const atGate = new Promise<void>((r) => (reached = r));
    const first = rebuildProjection(pool, store, p, { dryRun: true, beforeSwitch: () => { reached(); return gate; } });
    await atGate; // the first rebuild holds the lock and waits before its switch
    await expect(rebuildProjection(pool, store, p, { dryRun: true })).rejects.toBeInstanceOf(RebuildInProgressError);
    release();
    expect((await first).switched).toBe(false);
  });

  it('a version bump makes the runner rebuild blue/green on its own, then carry on', async () => {
    await runner.stop();
    const v2 = counterProjection({ name: 'rb', base, version: 2 });
    runner = new ProjectionRunner({ pool, store, batchSize: 50, idleWaitMs: 50 }, v2);
    runner.start();
    for (let i = 0; i < 400 && (await loadPgState(pool, 'rb'))!.schemaVersion !== 2; i++) await sleep(50);
    const state = (await loadPgState(pool, 'rb'))!;
    expect(state).toMatchObject({ schemaVersion: 2, generation: 3 });
    expect(await viewTarget(base)).toContain(`${base}_v3`);
    await seed(tag, 30);
    await waitCaughtUp(v2);
    expect(await served(base)).toEqual(total);
    // An old build (version 1) that gets the lock later leaves the newer projection alone.
    await runner.stop();
    const old = new ProjectionRunner({ pool, store, batchSize: 50 }, p);
    await seed(tag, 10);
    expect(await old.step()).toBe(false);
    expect((await loadPgState(pool, 'rb'))!).toMatchObject({ schemaVersion: 2, generation: 3 });
    runner = new ProjectionRunner({ pool, store, batchSize: 50, idleWaitMs: 50 }, v2);
    runner.start();
    await waitCaughtUp(v2);
    expect(await served(base)).toEqual(total);
  });
});
