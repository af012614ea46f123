/**
 * No lost wake (src/infra/append-loop.ts): an append signalled after a ProjectionRunner's read and
 * before it sleeps wakes it, with no NOTIFY to rescue it (its LISTEN cannot connect). Before AppendLoop.sleep, a signal during the runner's
 * held-back check (countAfter) was dropped and the runner slept its idle wait; the echo of the
 * store's own NOTIFY used to hide that, so ignoring the echo (24bf76a, reverted) lost such wakes.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPool } from '../../src/infra/db';
import { PostgresEventStore } from '../../src/events/postgres/store';
import { ProjectionRunner, loadPgState } from '../../src/projections/engine';
import { PgGroupRunner } from '../../src/projections/group';
import { ensureProjections } from '../../src/projections/tables';
import { comparePositions, type LogBatch, type Position } from '../../src/events/store';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { sleep, testRegistry } from '../events/fixtures';
import { counterProjection } from './fixtures';

/**
 * Runs `race` (an append through this store) once, right after a read and before the runner sees
 * the page: the append commits and signals while the runner still has to apply what it read and
 * decide to sleep. A runner that then sleeps without looking again (it read a partial page, so it
 * waits for the next append) must have kept that signal (`dirty`), or it sleeps its idle wait.
 */
class Racing extends PostgresEventStore {
  race: (() => Promise<void>) | undefined;

  override async readHandledBatch(...args: Parameters<PostgresEventStore['readHandledBatch']>): Promise<LogBatch> {
    const batch = await super.readHandledBatch(...args);
    const r = this.race;
    this.race = undefined;
    if (r) await r();
    return batch;
  }
}

let db: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase('lostwake');
  pool = createPool(db.url, 6, () => undefined);
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

it('an append signalled between a read and the sleep wakes the runner, with no NOTIFY', async () => {
  // LISTEN goes to a closed port: only the local append signal can wake it before the 60 s idle wait.
  const store = new Racing(pool, testRegistry(), { listenConfig: { host: '127.0.0.1', port: 1, connectionTimeoutMillis: 500 } });
  const tag = `lw${randomUUID().slice(0, 6)}`;
  const p = counterProjection({ name: `lw_${tag}`, base: `lw_${tag}` });
  await ensureProjections(pool, [p]);
  const runner = new ProjectionRunner({ pool, store, idleWaitMs: 60_000 }, p);
  const passed = async (at: Position) => comparePositions((await loadPgState(pool, p.name))!.position, at) >= 0;
  const until = async (check: () => Promise<boolean>, ms: number) => {
    for (const end = Date.now() + ms; Date.now() < end; await sleep(20)) if (await check()) return true;
    return check();
  };
  runner.start();
  try {
    expect(await until(async () => runner.active, 10_000)).toBe(true);
    await sleep(300); // caught up and asleep
    let second: Position | undefined;
    store.race = async () => {
      second = (await store.appendToStream(`${tag}-2`, [{ type: 'ThingHappened', data: { n: 2 } }])).position;
    };
    const { position: first } = await store.appendToStream(`${tag}-1`, [{ type: 'ThingHappened', data: { n: 1 } }]);
    expect(await until(() => passed(first), 3000)).toBe(true);
    expect(await until(async () => second !== undefined, 3000)).toBe(true); // the race ran
    expect(await until(() => passed(second!), 3000)).toBe(true);
  } finally {
    await runner.stop();
    await store.close();
  }
}, 30_000);

/** Counts the log pages a runner reads. */
class Counting extends PostgresEventStore {
  reads = 0;
  override async readHandledBatch(...args: Parameters<PostgresEventStore['readHandledBatch']>): Promise<LogBatch> {
    this.reads++;
    return super.readHandledBatch(...args);
  }
}

it('after a partial page a runner waits for the next append: one read per append, not a second to find the page empty', async () => {
  const store = new Counting(pool, testRegistry(), { listenConfig: { host: '127.0.0.1', port: 1, connectionTimeoutMillis: 500 } });
  const tag = `pp${randomUUID().slice(0, 6)}`;
  const [a, b] = [counterProjection({ name: `ppa_${tag}`, base: `ppa_${tag}` }), counterProjection({ name: `ppb_${tag}`, base: `ppb_${tag}` })];
  await ensureProjections(pool, [a, b]);
  const single = new ProjectionRunner({ pool, store, idleWaitMs: 60_000 }, a);
  const group = new PgGroupRunner({ pool, store, idleWaitMs: 60_000 }, [b]);
  const passed = async (at: Position) => comparePositions((await loadPgState(pool, a.name))!.position, at) >= 0 && comparePositions((await loadPgState(pool, b.name))!.position, at) >= 0;
  single.start();
  group.start();
  try {
    for (const end = Date.now() + 10_000; !(single.active && group.active.length) && Date.now() < end;) await sleep(20);
    await sleep(300); // both caught up and asleep
    store.reads = 0;
    for (let i = 0; i < 5; i++) {
      const { position } = await store.appendToStream(`${tag}-${i}`, [{ type: 'ThingHappened', data: { n: i } }]);
      for (const end = Date.now() + 3000; !(await passed(position)) && Date.now() < end;) await sleep(10);
      expect(await passed(position)).toBe(true);
      await sleep(100);
    }
    // Two runners, five appends one at a time: one page each per append (two before this change).
    expect(store.reads).toBe(10);
  } finally {
    await single.stop();
    await group.stop();
    await store.close();
  }
}, 30_000);
