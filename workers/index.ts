/**
 * Entry of the worker role (`ROLES=worker`, `npm run worker`; part of the default all-in-one
 * process). Starts:
 * - the event → job consumer (one active across all processes; the others stand by);
 * - one BullMQ Worker per queue (high, default, low) with WORKER_CONCURRENCY each; any number of
 *   processes may run them: BullMQ hands each job to one worker at a time and retries jobs
 *   whose worker died (stalled-job detection after WORKER_LOCK_DURATION_MS);
 * - the cleanup job schedulers (idempotent upsert by every worker process).
 */
import { Worker, type ConnectionOptions, type Processor } from 'bullmq';
import type { Services } from '../src/services';
import { bullConnection, bullPrefix, createQueues, QUEUE_NAMES, type QueueName, type Queues } from './queues';
import { EventJobConsumer, type ConsumerOptions } from './consumer';
import { mailProcessor, type HandlerDeps } from './handlers';
import { createMailer, type Mailer } from './mail/mailer';
import { CLEANUP_JOBS, cleanupProcessor, keepCleanupScheduled, scheduleCleanup } from './cleanup';

export interface WorkersHandle {
  queues: Queues;
  consumer?: EventJobConsumer;
  workers: Worker[];
  mailer: Mailer;
  stop(): Promise<void>;
}

export interface WorkerOptions {
  /** Run the event consumer here (default true). */
  consumer?: boolean | ConsumerOptions;
  /** Run job processors here (default true). */
  processors?: boolean;
  /** Register the cleanup schedulers (default true). */
  schedule?: boolean;
  /** Replace the processor (benchmarks). */
  processor?: Processor;
  concurrency?: number;
}

export async function startWorkers(services: Services, opts: WorkerOptions = {}): Promise<WorkersHandle> {
  const { config, log } = services;
  const queues = createQueues(services);
  const mailer = createMailer(config, log);
  const deps: HandlerDeps = { config, log, store: services.store, redis: services.redis, prefix: services.prefix, inline: services.inline, mailer };
  const mail = mailProcessor(deps);
  const cleanup = cleanupProcessor({ config, log, pool: services.pool, redis: services.redis, prefix: services.prefix, store: services.store, inline: services.inline });
  const cleanupNames = new Set<string>(CLEANUP_JOBS);
  const processor: Processor = opts.processor ?? (async (job) => (cleanupNames.has(job.name) ? cleanup(job) : mail(job)));

  const workers: Worker[] = [];
  if (opts.processors !== false) {
    for (const name of QUEUE_NAMES) {
      const connection = bullConnection(services);
      const worker = new Worker(name as QueueName, processor, {
        connection: connection as ConnectionOptions,
        prefix: bullPrefix(services),
        concurrency: opts.concurrency ?? config.WORKER_CONCURRENCY,
        lockDuration: config.WORKER_LOCK_DURATION_MS,
        stalledInterval: config.WORKER_LOCK_DURATION_MS,
        // A job whose process was killed counts as stalled; allow a few before failing it.
        maxStalledCount: 3,
      });
      worker.on('failed', (job, err) =>
        log.warn({ queue: name, job: job?.name, jobId: job?.id, attempt: job?.attemptsMade, err: err.message }, 'job failed'));
      worker.on('error', (err) => log.error({ queue: name, err: err.message }, 'worker error'));
      worker.on('closed', () => connection.disconnect());
      workers.push(worker);
    }
  }

  let consumer: EventJobConsumer | undefined;
  if (opts.consumer !== false) {
    consumer = new EventJobConsumer(services, queues.byName, typeof opts.consumer === 'object' ? opts.consumer : {});
    consumer.start();
  }
  let stopScheduling: (() => void) | undefined;
  if (opts.schedule !== false) {
    await scheduleCleanup(queues.byName.low, config.CLEANUP_INTERVAL * 1000, config.USAGE_FOLD_INTERVAL * 1000, config.ANCHOR_INTERVAL * 1000).catch((err) =>
      log.error({ err: (err as Error).message }, 'could not register cleanup schedulers'));
    stopScheduling = keepCleanupScheduled(queues.byName.low, services.redis, config.CLEANUP_INTERVAL * 1000, config.USAGE_FOLD_INTERVAL * 1000, log, config.ANCHOR_INTERVAL * 1000);
  }
  log.info({ queues: QUEUE_NAMES, mail: mailer.kind, consumer: Boolean(consumer) }, 'workers started');

  return {
    queues,
    consumer,
    workers,
    mailer,
    async stop() {
      stopScheduling?.();
      await consumer?.stop();
      // close() waits for active jobs to finish (main.ts bounds the whole shutdown to 10 s).
      await Promise.all(workers.map((w) => w.close().catch(() => undefined)));
      await queues.close();
      mailer.close();
    },
  };
}
