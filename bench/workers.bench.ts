/**
 * Workers (issue 7), in one run on one machine:
 * 1. raw BullMQ: addBulk + process N no-op jobs at concurrency 50 (the baseline);
 * 2. the event → job stage: N events already in the log → the consumer (checkpointed, job ids
 *    from event ids) → BullMQ → the same no-op processing at concurrency 50. Target ≥ 0.8 of raw;
 * 3. the whole mail pipeline: M events → consumer → job → handler (reads the user stream,
 *    renders, idempotency marker) → nodemailer → a local SMTP sink (smtp-server, same process):
 *    mails/s reported as is.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import { SMTPServer } from 'smtp-server';
import { report, scale } from './lib';
import { benchDatabase } from './pg-bench-db';
import { loadConfig, type Config } from '../src/config';
import { createServices, silentLogger, type Services } from '../src/services';
import { runStartup } from '../src/compose';
import { streams } from '../src/events/streams';
import { bullConnection, DEFAULT_JOB_OPTIONS } from '../workers/queues';
import { startWorkers } from '../workers/index';

const CONCURRENCY = 50;
/** Pooled SMTP connections per process for the mail run (nodemailer option via the URL; default 5). */
const SMTP_CONNECTIONS = Number(process.env.BENCH_SMTP_CONNECTIONS ?? 20);

function configFor(dbUrl: string, prefix: string, extra: Record<string, string> = {}): Config {
  return loadConfig({
    ...process.env,
    NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: dbUrl, REDIS_PREFIX: prefix,
    PASSWORD_PEPPER: 'bench-pepper-bench-pepper-bench-pepper-0123', DATA_DIR: `/tmp/authledger-bench/${prefix.replaceAll(':', '_')}`,
    ADMIN_EMAIL: '', ADMIN_PASSWORD: '', WORKER_CONCURRENCY: String(CONCURRENCY), CLEANUP_INTERVAL: '3600', ...extra,
  });
}

async function wipe(services: Services) {
  let cursor = '0';
  do {
    const [next, keys] = await services.redis.scan(cursor, 'MATCH', `${services.prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await services.redis.del(...keys);
  } while (cursor !== '0');
}

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 600_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('benchmark timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** 1. Raw BullMQ add + process, no-op jobs. */
async function raw(services: Services, n: number): Promise<number> {
  const connection = bullConnection(services);
  const prefix = `${services.prefix}rawbull`;
  const queue = new Queue('raw', { connection: connection as ConnectionOptions, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
  let done = 0;
  const workerConn = bullConnection(services);
  const worker = new Worker('raw', async () => undefined, { connection: workerConn as ConnectionOptions, prefix, concurrency: CONCURRENCY });
  worker.on('completed', () => done++);
  await worker.waitUntilReady();
  const started = performance.now();
  for (let i = 0; i < n; i += 500) {
    await queue.addBulk(Array.from({ length: Math.min(500, n - i) }, (_, j) => ({ name: 'noop', data: { i: i + j }, opts: { jobId: `raw-${randomUUID()}` } })));
  }
  await waitUntil(() => done >= n);
  const seconds = (performance.now() - started) / 1000;
  await worker.close();
  await queue.close();
  workerConn.disconnect();
  connection.disconnect();
  return n / seconds;
}

async function appendPasswordChanges(services: Services, n: number): Promise<void> {
  // One stream, appended in batches: the log holds n routed events before the clock starts.
  const userId = randomUUID();
  for (let i = 0; i < n; i += 1000) {
    const batch = Array.from({ length: Math.min(1000, n - i) }, () => ({ type: 'PasswordChanged', data: { userId, passwordHash: 'x' } }));
    await services.store.appendToStream(streams.user(userId), batch);
  }
}

/** 2. Events in the log → consumer → jobs → no-op processing. Also the enqueue stage alone. */
async function eventToJob(services: Services, n: number): Promise<{ endToEnd: number; enqueueOnly: number }> {
  await appendPasswordChanges(services, n);
  // Enqueue stage alone (no processors): how fast the consumer turns events into jobs.
  const enqueuer = await startWorkers(services, { processors: false, schedule: false, consumer: { batchSize: 500, idleWaitMs: 5 } });
  let started = performance.now();
  await waitUntil(() => enqueuer.consumer!.stats.jobs >= n);
  const enqueueOnly = n / ((performance.now() - started) / 1000);
  await enqueuer.stop();
  await wipe(services);
  await services.pool.query('DELETE FROM worker_checkpoints');

  let done = 0;
  const handle = await startWorkers(services, {
    schedule: false, consumer: { batchSize: 500, idleWaitMs: 5 }, processor: async () => undefined, concurrency: CONCURRENCY,
  });
  for (const w of handle.workers) w.on('completed', () => done++);
  await Promise.all(handle.workers.map((w) => w.waitUntilReady()));
  started = performance.now();
  await waitUntil(() => done >= n);
  const endToEnd = n / ((performance.now() - started) / 1000);
  await handle.stop();
  return { endToEnd, enqueueOnly };
}

/** 3. Real mails through the whole pipeline into an SMTP sink. */
async function mailPipeline(services: Services, m: number, received: () => number): Promise<number> {
  for (let i = 0; i < m; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, m - i) }, async () => {
      const userId = randomUUID();
      await services.store.appendToStream(streams.user(userId), [
        { type: 'UserRegistered', data: { userId, email: `b.${userId.slice(0, 8)}@example.test`, name: 'B', passwordHash: 'x', source: 'bootstrap' } },
        { type: 'PasswordChanged', data: { userId, passwordHash: 'y' } },
      ]);
    }));
  }
  const handle = await startWorkers(services, { schedule: false, consumer: { batchSize: 500, idleWaitMs: 5 }, concurrency: CONCURRENCY });
  const started = performance.now();
  await waitUntil(() => received() >= m);
  const rate = m / ((performance.now() - started) / 1000);
  await handle.stop();
  return rate;
}

async function main() {
  const n = scale(20_000, 3_000);
  const m = scale(3_000, 300);
  let received = 0;
  const smtp = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false,
    onData(stream, _s, cb) {
      stream.on('data', () => undefined);
      stream.on('end', () => { received++; cb(); });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
  const smtpPort = (smtp.server.address() as { port: number }).port;

  // The machine is shared: interleave rounds of the baseline and the pipeline and take medians,
  // so a load spike does not land on one side only. Each run gets a fresh database and prefix.
  const rounds = scale(3, 1);
  const series: Record<string, number[]> = { raw: [], eventToJob: [], enqueueOnly: [] };
  const fresh = async (label: string, run: (s: Services) => Promise<void>) => {
    const db = await benchDatabase(`workers_${label}`);
    const prefix = `bench:workers:${randomBytes(4).toString('hex')}:`;
    const services = await createServices(configFor(db.url, prefix, { SMTP_URL: `smtp://127.0.0.1:${smtpPort}?maxConnections=${SMTP_CONNECTIONS}` }), { log: silentLogger(), migrate: false });
    try {
      await runStartup(services);
      await run(services);
    } finally {
      await wipe(services).catch(() => undefined);
      await services.close();
      await db.drop();
    }
  };
  for (let i = 0; i < rounds; i++) {
    await fresh('raw', async (s) => { series.raw!.push(await raw(s, n)); });
    await fresh('pipeline', async (s) => {
      const r = await eventToJob(s, n);
      series.eventToJob!.push(r.endToEnd);
      series.enqueueOnly!.push(r.enqueueOnly);
    });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const results: Record<string, number> = { raw: median(series.raw!), eventToJob: median(series.eventToJob!), enqueueOnly: median(series.enqueueOnly!) };
  await fresh('mail', async (s) => { results.mails = await mailPipeline(s, m, () => received); });
  smtp.close();

  report('bullmq raw add+process (no-op, concurrency 50)', { jobs: n, rounds, jobs_per_s: results.raw!, all: series.raw!.map(Math.round).join('/') });
  report('event → job → no-op process (consumer, concurrency 50)', { events: n, jobs_per_s: results.eventToJob!, all: series.eventToJob!.map(Math.round).join('/'), enqueue_stage_only_per_s: results.enqueueOnly! }, { value: results.eventToJob! / results.raw!, target: '≥ 0.8 of raw' });
  report('mail pipeline event → job → SMTP sink', { mails: m, smtp_connections: SMTP_CONNECTIONS, mails_per_s: results.mails!, of_raw: results.mails! / results.raw! });
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
