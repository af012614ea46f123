/**
 * No lost wake (src/infra/append-loop.ts): an append signalled after a ProjectionRunner's read found
 * nothing and before it sleeps wakes it, with no NOTIFY to rescue it (its LISTEN cannot connect). Before AppendLoop.sleep, a signal during the runner's
 * held-back check (countAfter) was dropped and the runner slept its idle wait; the echo of the
 * store's own NOTIFY used to hide that, so ignoring the echo (24bf76a, reverted) lost such wakes.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPool } from '../../src/infra/db';
import { PostgresEventStore } from '../../src/events/postgres/store';
import { ProjectionRunner, loadPgState } from '../../src/projections/engine';
import { ensureProjections } from '../../src/projections/tables';
import { comparePositions, type LogBatch, type Position } from '../../src/events/store';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { sleep, testRegistry } from '../events/fixtures';
import { counterProjection } from './fixtures';

/**
 * Runs `race` (an append through this store) once, after a read that found nothing: inside the
 * runner's held-back check when it makes one (old loops: countAfter's snapshot predates the append,
 * and the signal comes while the runner awaits its answer), else 50 ms later.
 */
class Racing extends PostgresEventStore {
  race: (() => Promise<void>) | undefined;
  private armed: NodeJS.Timeout | undefined;
  private async fire(): Promise<void> {
    clearTimeout(this.armed);
    this.armed = undefined;
    const r = this.race;
    this.race = undefined;
    if (r) await r();
  }

  override async readHandledBatch(...args: Parameters<PostgresEventStore['readHandledBatch']>): Promise<LogBatch> {
    const batch = await super.readHandledBatch(...args);
    if (!batch.last && this.race && !this.armed) this.armed = setTimeout(() => void this.fire(), 50);
    return batch;
  }

  override async countAfter(from: Position, cap: number): Promise<number> {
    const n = await super.countAfter(from, cap);
    if (this.armed) await this.fire();
    return n;
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

it('an append signalled between an empty read and the sleep wakes the runner, with no NOTIFY', async () => {
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
