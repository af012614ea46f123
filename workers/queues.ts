/**
 * The BullMQ queues and their policies, in one place.
 * Rules:
 * - three queues by priority, as in seed 003: `high` (security notices, password resets),
 *   `default` (verification), `low` (bulk and cleanup); separate queues, so a backlog of low work
 *   never delays a security notice, and each has its own workers;
 * - every connection has `maxRetriesPerRequest: null` (BullMQ requires it for blocking calls) and
 *   every key starts with `${services.prefix}bull`;
 * - retries with exponential backoff; completed jobs are kept a day (their ids dedupe replays),
 *   failed ones a month, so they can be inspected and retried from Bull Board.
 */
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { Services } from '../src/services';

export const QUEUE_NAMES = ['high', 'default', 'low'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export const bullPrefix = (services: Pick<Services, 'prefix'>) => `${services.prefix}bull`;

/** A dedicated ioredis connection for BullMQ (offline queue on, no per-request retry limit). */
export function bullConnection(services: Pick<Services, 'config'>): Redis {
  const conn = new Redis(services.config.REDIS_URL, { maxRetriesPerRequest: null, enableReadyCheck: true });
  conn.on('error', () => undefined);
  return conn;
}

export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  // 2 s, 4 s, 8 s … ~4 min: a flaky SMTP server gets several minutes before a job is failed.
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: { age: 24 * 3600, count: 100_000 },
  removeOnFail: { age: 30 * 24 * 3600 },
};

export interface Queues {
  byName: Record<QueueName, Queue>;
  all: Queue[];
  connection: Redis;
  close(): Promise<void>;
}

export function createQueues(services: Pick<Services, 'config' | 'prefix'>): Queues {
  const connection = bullConnection(services);
  const prefix = bullPrefix(services);
  const make = (name: QueueName) => {
    const q = new Queue(name, { connection: connection as ConnectionOptions, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
    // A Queue re-emits its connection's errors; with no listener that is a throw (seen as an
    // unhandled rejection when the app closes before the queue finished connecting). Enqueue
    // callers see failures on their own promises.
    q.on('error', () => undefined);
    return q;
  };
  const byName = { high: make('high'), default: make('default'), low: make('low') };
  const all = Object.values(byName);
  return {
    byName,
    all,
    connection,
    async close() {
      // Closing a queue while its connection is still initialising rejects BullMQ's own init
      // promise where nobody can catch it: let initialisation settle first (at most 2 s: with
      // Redis down the connection retries forever and would never settle).
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(all.map((q) => q.waitUntilReady().catch(() => undefined))),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, 2000);
        }),
      ]);
      clearTimeout(timer);
      await Promise.all(all.map((q) => q.close().catch(() => undefined)));
      connection.disconnect();
    },
  };
}
