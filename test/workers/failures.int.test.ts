/**
 * Failures: a mail job retries with backoff while SMTP is down, lands in the failed set when its
 * attempts are exhausted (kept, inspectable, counted in /metrics), and an admin retries it from
 * Bull Board once SMTP is back: the mail then arrives.
 */
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { testApp, type TestServices } from '../helpers/app';
import { adminLogin, bearer } from '../helpers/auth';
import { streams } from '../../src/events/streams';
import { startWorkers, type WorkersHandle } from '../../workers/index';
import { DEFAULT_JOB_OPTIONS } from '../../workers/queues';
import { startSmtpSink, type SmtpSink } from './smtp-sink';
import { METRICS_ENV, metricsAuth } from '../helpers/security';

let app: FastifyInstance;
let s: TestServices;
let close: () => Promise<void>;
let workers: WorkersHandle;
let sink: SmtpSink | undefined;
let port: number;

beforeAll(async () => {
  const probe = await startSmtpSink();
  port = probe.port;
  await probe.close(); // nothing listens there now: SMTP is "down"
  const t = await testApp('wfail', { SMTP_URL: `smtp://127.0.0.1:${port}`, CLEANUP_INTERVAL: '3600', ...METRICS_ENV });
  app = t.app;
  s = t.services;
  close = t.close;
  workers = await startWorkers(s, { consumer: false, schedule: false });
});
afterAll(async () => {
  await workers?.stop();
  await close?.();
  await sink?.close();
});

const until = async (check: () => Promise<boolean>, ms = 20_000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('failed jobs', () => {
  it('policy: exponential backoff, several attempts, failures kept', () => {
    expect(DEFAULT_JOB_OPTIONS.attempts).toBeGreaterThanOrEqual(5);
    expect(DEFAULT_JOB_OPTIONS.backoff).toMatchObject({ type: 'exponential' });
    expect(DEFAULT_JOB_OPTIONS.removeOnFail).toMatchObject({ age: expect.any(Number) });
  });

  it('exhausted → failed set (inspectable, in /metrics) → an admin retries it → delivered', async () => {
    const userId = randomUUID();
    const email = `retry.${userId.slice(0, 8)}@example.test`;
    await s.store.appendToStream(streams.user(userId), [{ type: 'UserRegistered', data: { userId, email, name: 'R', passwordHash: 'x', source: 'bootstrap' } }]);
    const eventId = randomUUID();
    const jobId = `mail-password-changed-${eventId}`;
    const job = await workers.queues.byName.high.add(
      'mail',
      { kind: 'password-changed', userId, eventId, eventAt: new Date().toISOString() },
      { jobId, attempts: 3, backoff: { type: 'exponential', delay: 100 } },
    );
    await until(async () => (await job.getState()) === 'failed');
    const failed = (await workers.queues.byName.high.getJob(jobId))!;
    expect(failed.attemptsMade).toBe(3);
    expect(failed.failedReason).toMatch(/ECONNREFUSED|connect/i);

    const metrics = await app.inject({ method: 'GET', url: '/metrics', headers: metricsAuth });
    expect(metrics.body).toMatch(/authledger_queue_jobs\{queue="high",state="failed"\} 1/);

    const admin = await adminLogin(app, s);
    const list = await app.inject({ method: 'GET', url: '/admin/queues/api/queues?activeQueue=high&status=failed', headers: bearer(admin.accessToken) });
    expect(list.statusCode).toBe(200);
    expect(JSON.stringify(list.json())).toContain(jobId);

    // The same from a shell: `npm run cli -- jobs failed high`.
    const cli = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'jobs', 'failed', 'high'], {
      cwd: path.resolve(__dirname, '../..'),
      env: { ...process.env, DATABASE_URL: s.config.DATABASE_URL, REDIS_URL: s.config.REDIS_URL, REDIS_PREFIX: s.prefix, LOG_LEVEL: 'silent' },
    });
    expect(cli.stdout).toContain(jobId);
    expect(cli.stdout).toContain('attempts=3');

    sink = await startSmtpSink(port); // SMTP is back
    const anon = await app.inject({ method: 'PUT', url: `/admin/queues/api/queues/high/${jobId}/retry` });
    expect(anon.statusCode).toBe(401);
    const retry = await app.inject({ method: 'PUT', url: `/admin/queues/api/queues/high/${jobId}/retry`, headers: bearer(admin.accessToken) });
    expect(retry.statusCode).toBe(204);
    const mail = await sink.waitFor((m) => m.to.includes(email));
    expect(mail.subject).toBe('Your password was changed');
    await until(async () => (await job.getState()) === 'completed');
  });
});
