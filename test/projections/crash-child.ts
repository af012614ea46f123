/**
 * A projector process for the crash test (spawned with `node --import tsx`): runs the per-event
 * counter projection and exits 0 once it has caught up. With PAUSE_AT_BATCH=n it prints
 * `MID n` half-way through batch n and stalls there, so the parent can SIGKILL it mid-batch.
 * With GROUP=<name of a second projection> it runs both in one PgGroupRunner (one transaction
 * per batch for the two) instead of one ProjectionRunner.
 */
import { createPool } from '../../src/infra/db';
import { PostgresEventStore } from '../../src/events/postgres/store';
import { ProjectionRunner, projectionLag } from '../../src/projections/engine';
import { testRegistry } from '../events/fixtures';
import { PgGroupRunner } from '../../src/projections/group';
import { counterProjection } from './fixtures';

const url = process.env.DB_URL!;
const pauseAt = Number(process.env.PAUSE_AT_BATCH ?? 0);
const pool = createPool(url, 4, () => undefined);
const store = new PostgresEventStore(pool, testRegistry());
const projection = counterProjection({
  name: process.env.PROJECTION ?? 'crash',
  base: process.env.BASE ?? 'crash_counters',
  perEvent: true,
  midBatch: async (n) => {
    if (n === pauseAt) {
      process.stdout.write(`MID ${n}\n`);
      await new Promise((r) => setTimeout(r, 60_000));
    }
  },
});
const deps = { pool, store, batchSize: Number(process.env.BATCH_SIZE ?? 200), idleWaitMs: 50 };
const partner = process.env.GROUP ? counterProjection({ name: process.env.GROUP, base: process.env.GROUP }) : undefined;
const runner = partner ? new PgGroupRunner(deps, [projection, partner]) : new ProjectionRunner(deps, projection);
runner.start();
const active = () => (runner instanceof PgGroupRunner ? runner.active.length === 2 : runner.active);
const timer = setInterval(async () => {
  if (active() && (await projectionLag(deps, projection)) === 0 && (!partner || (await projectionLag(deps, partner)) === 0)) {
    clearInterval(timer);
    await runner.stop();
    await store.close();
    await pool.end();
    process.stdout.write('DONE\n');
    process.exit(0);
  }
}, 100);
