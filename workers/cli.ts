/**
 * `npm run cli -- jobs …`: the queues from a shell (Bull Board's essentials without a browser).
 * - `jobs status`: per queue, jobs by state, and the event consumer's checkpoint and lag;
 * - `jobs failed [queue]`: the failed jobs (id, name, attempts, reason) — never their data;
 * - `jobs retry-failed [queue]`: retry every failed job (of one queue or all).
 */
import type { Command } from 'commander';
import { loadConfig } from '../src/config';

async function withQueues<T>(fn: (ctx: { queues: import('./queues').Queues; pool: import('pg').Pool }) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const { createQueues } = await import('./queues');
  const { createPool } = await import('../src/infra/db');
  const queues = createQueues({ config, prefix: config.REDIS_PREFIX });
  const pool = createPool(config.DATABASE_URL, 2);
  try {
    return await fn({ queues, pool });
  } finally {
    await queues.close();
    await pool.end();
  }
}

const pick = (queues: import('./queues').Queues, name?: string) => {
  if (!name) return queues.all;
  const q = queues.all.find((x) => x.name === name);
  if (!q) throw new Error(`no queue ${name} (queues: ${queues.all.map((x) => x.name).join(', ')})`);
  return [q];
};

export function addJobCommands(program: Command): void {
  const jobs = program.command('jobs').description('background job queues (BullMQ): status, failed jobs, retries');

  jobs.command('status').description('jobs per queue and state; the event consumer checkpoint and lag').action(async () => {
    await withQueues(async ({ queues, pool }) => {
      for (const q of queues.all) {
        const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed');
        console.log(`${q.name.padEnd(8)} ${Object.entries(counts).map(([k, v]) => `${k}=${v}`).join(' ')}`);
      }
      const { consumerLag, readCheckpoint } = await import('./consumer');
      const cp = await readCheckpoint(pool).catch(() => undefined);
      if (!cp) {
        console.log('consumer: never ran');
        return;
      }
      const { createEventStore } = await import('../src/infra/event-store');
      const store = await createEventStore(loadConfig(), pool);
      try {
        console.log(`consumer checkpoint=${cp.commit}/${cp.prepare} lag=${await consumerLag(pool, store)} events`);
      } finally {
        await store.close();
      }
    });
  });

  jobs.command('failed').description('list failed jobs (exhausted retries)').argument('[queue]', 'high | default | low').action(async (name?: string) => {
    await withQueues(async ({ queues }) => {
      for (const q of pick(queues, name)) {
        for (const j of await q.getFailed(0, 199)) {
          console.log(`${q.name}\t${j.id}\t${j.name}\tattempts=${j.attemptsMade}\t${new Date(j.finishedOn ?? j.timestamp).toISOString()}\t${j.failedReason}`);
        }
      }
    });
  });

  jobs.command('retry-failed').description('retry every failed job').argument('[queue]', 'high | default | low').action(async (name?: string) => {
    await withQueues(async ({ queues }) => {
      for (const q of pick(queues, name)) {
        const before = await q.getFailedCount();
        await q.retryJobs({ state: 'failed', count: 1000 });
        console.log(`${q.name}: ${before} failed job(s) moved back to waiting`);
      }
    });
  });
}
