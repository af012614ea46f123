/**
 * The event → job consumer: one job per event, whatever happens to the consumer (restart,
 * replay of a batch whose checkpoint was never written, two consumers at once).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServices, type TestServices } from '../helpers/app';
import { streams } from '../../src/events/streams';
import { createQueues, type Queues } from '../../workers/queues';
import { EventJobConsumer, ensureWorkerSchema, loadCheckpoint } from '../../workers/consumer';
import { START } from '../../src/events/store';

let t: TestServices;
let queues: Queues;

async function jobCount(): Promise<number> {
  const counts = await Promise.all(queues.all.map((q) => q.getJobCountByTypes('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed')));
  return counts.reduce((a, b) => a + b, 0);
}

async function appendPasswordChanges(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const userId = randomUUID();
    await t.store.appendToStream(streams.user(userId), [{ type: 'PasswordChanged', data: { userId, passwordHash: 'x' } }]);
  }
}

async function drain(c: EventJobConsumer): Promise<void> {
  while (await c.step()) {
    // until caught up
  }
}

beforeAll(async () => {
  t = await testServices('wconsumer');
  queues = createQueues(t);
});
afterAll(async () => {
  await queues.close();
  await t.close();
});

describe('event consumer', () => {
  it('enqueues one job per routed event and moves its checkpoint', async () => {
    await appendPasswordChanges(30);
    const c = new EventJobConsumer(t, queues.byName, { batchSize: 7 });
    await drain(c);
    expect(await jobCount()).toBe(30);
    expect(c.stats.jobs).toBe(30);
    const cp = await loadCheckpoint(t.pool, 'jobs');
    expect(cp.prepare).toBeGreaterThan(0n);
    // Job ids come from event ids; the high queue holds the notices.
    const [job] = await queues.byName.high.getJobs(['waiting', 'prioritized'], 0, 0);
    expect(job!.id).toMatch(/^mail-password-changed-[0-9a-f-]{36}$/);
  });

  it('a restarted consumer resumes from its checkpoint: no duplicate jobs, new events enqueued', async () => {
    const before = await jobCount();
    await appendPasswordChanges(5);
    const restarted = new EventJobConsumer(t, queues.byName);
    await drain(restarted);
    expect(restarted.stats.events).toBe(5);
    expect(await jobCount()).toBe(before + 5);
  });

  it('replaying events whose checkpoint was lost (crash after enqueue) adds no job', async () => {
    const before = await jobCount();
    // The crash window: jobs enqueued, checkpoint not written. Rewind it to the start.
    await t.pool.query('UPDATE worker_checkpoints SET commit_position = 0, prepare_position = 0 WHERE name = $1', ['jobs']);
    expect(await loadCheckpoint(t.pool, 'jobs')).toEqual(START);
    const replaying = new EventJobConsumer(t, queues.byName);
    await drain(replaying);
    expect(replaying.stats.jobs).toBe(35); // every event was routed again …
    expect(await jobCount()).toBe(before); // … and BullMQ added none of them
  });

  it('two consumers running at once: one is active, the other stands by; no duplicates', async () => {
    const before = await jobCount();
    const a = new EventJobConsumer(t, queues.byName, { idleWaitMs: 50 });
    const b = new EventJobConsumer(t, queues.byName, { idleWaitMs: 50 });
    a.start();
    b.start();
    await appendPasswordChanges(20);
    const deadline = Date.now() + 15_000;
    while ((await jobCount()) < before + 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect([a.active, b.active].filter(Boolean)).toHaveLength(1);
    await a.stop();
    await b.stop();
    expect(await jobCount()).toBe(before + 20);
    expect(a.stats.jobs + b.stats.jobs).toBe(20);
  });

  it('woken by an append, it lets the appends of its gather window arrive and reads them as one page', async () => {
    const before = await jobCount();
    const c = new EventJobConsumer(t, queues.byName, { idleWaitMs: 10_000, gatherMs: 400 });
    c.start();
    try {
      // Idle first: the start's read found nothing after the checkpoint and the loop sleeps.
      const idle = Date.now() + 5000;
      while (!c.active && Date.now() < idle) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 100));
      const batches = c.stats.batches;
      await appendPasswordChanges(4); // one append at a time, well within the window
      const deadline = Date.now() + 10_000;
      while (c.stats.events < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(c.stats.events).toBe(4);
      expect(c.stats.batches - batches).toBe(1);
      expect(await jobCount()).toBe(before + 4);
    } finally {
      await c.stop();
    }
  });

  it('a first start on an existing log begins at its head: history is not mailed', async () => {
    const before = await jobCount();
    await appendPasswordChanges(3);
    await t.pool.query('DELETE FROM worker_checkpoints');
    await ensureWorkerSchema(t.pool, t.store); // what every process runs at start
    expect(await loadCheckpoint(t.pool, 'jobs')).toEqual(await t.store.headPosition());
    const c = new EventJobConsumer(t, queues.byName);
    await drain(c);
    expect(c.stats.jobs).toBe(0);
    await appendPasswordChanges(1);
    await drain(c);
    expect(await jobCount()).toBe(before + 1);
  });
});
