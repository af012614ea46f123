/**
 * A worker PROCESS (`ROLES=worker`, the real entry point) is killed with SIGKILL while it is
 * delivering a mail: the SMTP server (started here) holds the message and never answers 250.
 * A second worker process picks the stalled job up after the lock expires, delivers it, and the
 * mail arrives exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServices, type TestServices } from '../helpers/app';
import { streams } from '../../src/events/streams';
import { createQueues, type Queues } from '../../workers/queues';
import { startSmtpSink, type SmtpSink } from './smtp-sink';

const ROOT = path.resolve(__dirname, '../..');
let t: TestServices;
let sink: SmtpSink;
let queues: Queues;
const children: ChildProcess[] = [];

function startWorkerProcess(name: string): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'test',
      ROLES: 'worker',
      LOG_LEVEL: 'warn',
      DATABASE_URL: t.config.DATABASE_URL,
      REDIS_URL: t.config.REDIS_URL,
      REDIS_PREFIX: t.prefix,
      PASSWORD_PEPPER: t.config.PASSWORD_PEPPER,
      DATA_DIR: t.config.DATA_DIR,
      SMTP_URL: sink.url,
      WORKER_LOCK_DURATION_MS: '2000',
      CLEANUP_INTERVAL: '3600',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', () => undefined);
  // Only what looks like trouble (the development-defaults banner is expected here).
  child.stderr!.on('data', (d: Buffer) => {
    for (const line of String(d).split('\n')) if (/error|fail/i.test(line)) process.stderr.write(`[${name}] ${line}\n`);
  });
  children.push(child);
  return child;
}

const exited = (c: ChildProcess) => new Promise<void>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('exit', () => resolve())));

beforeAll(async () => {
  sink = await startSmtpSink();
  t = await testServices('wkill');
  queues = createQueues(t);
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(children.map(exited));
  await queues?.close();
  await t?.close();
  await sink?.close();
});

describe('worker killed mid-job', () => {
  it('the job is retried by another process and the mail arrives exactly once', async () => {
    const userId = randomUUID();
    const email = `killed.${userId.slice(0, 8)}@example.test`;
    await t.store.appendToStream(streams.user(userId), [
      { type: 'UserRegistered', data: { userId, email, name: 'K', passwordHash: 'x', source: 'bootstrap' } },
    ]);
    const held = sink.holdNext();
    const appended = await t.store.appendToStream(streams.user(userId), [{ type: 'PasswordChanged', data: { userId, passwordHash: 'y' } }]);
    const [event] = await t.store.readStream(streams.user(userId), { fromRevision: appended.nextExpectedRevision });
    const key = `password-changed-${event!.id}`;

    const first = startWorkerProcess('worker-1');
    await held; // the message is at the SMTP server, which has not answered 250
    first.kill('SIGKILL');
    await exited(first);
    expect(first.signalCode).toBe('SIGKILL');

    const job = await queues.byName.high.getJob(`mail-${key}`);
    expect(job).toBeDefined();
    expect(await job!.getState()).toBe('active'); // locked by a dead process

    startWorkerProcess('worker-2');
    const mail = await sink.waitFor((m) => m.messageId.includes(key), 45_000);
    expect(mail.to).toEqual([email]);
    expect(mail.subject).toBe('Your password was changed');

    // Give any duplicate the time to show up, then count.
    await new Promise((r) => setTimeout(r, 3000));
    expect(sink.mails.filter((m) => m.messageId.includes(key))).toHaveLength(1);
    expect(sink.aborted).toBe(1);
    const done = await queues.byName.high.getJob(`mail-${key}`);
    expect(await done!.getState()).toBe('completed');
    expect(done!.returnvalue).toBe('sent');

    // The idempotency key is per mail, not per job: a duplicate job (another id, same event)
    // finds the marker and sends nothing.
    const dup = await queues.byName.high.add('mail', done!.data, { jobId: `dup-${key}` });
    const deadline = Date.now() + 30_000;
    while (!(await dup.isCompleted()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect((await queues.byName.high.getJob(`dup-${key}`))!.returnvalue).toBe('already_sent');
    expect(sink.mails.filter((m) => m.messageId.includes(key))).toHaveLength(1);
  }, 90_000);

  it('several worker processes at once: every mail exactly once', async () => {
    // worker-2 is still running; add a third process, then 40 notices.
    startWorkerProcess('worker-3');
    await new Promise((r) => setTimeout(r, 3000));
    const keys: string[] = [];
    for (let i = 0; i < 40; i++) {
      const userId = randomUUID();
      await t.store.appendToStream(streams.user(userId), [
        { type: 'UserRegistered', data: { userId, email: `many.${i}.${userId.slice(0, 6)}@example.test`, name: 'M', passwordHash: 'x', source: 'bootstrap' } },
        { type: 'ApiKeyIssued', data: { keyId: `${i}`.padStart(16, '0'), userId, name: 'k', prefix: 'alk_x', secretHash: 'h', features: '*', expiresAt: null } },
      ]);
      const [e] = await t.store.readStream(streams.user(userId), { fromRevision: 1n });
      keys.push(`api-key-created-${e!.id}`);
    }
    const deadline = Date.now() + 45_000;
    while (keys.some((k) => !sink.mails.some((m) => m.messageId.includes(k))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 2000));
    for (const k of keys) expect(sink.mails.filter((m) => m.messageId.includes(k)), k).toHaveLength(1);
  }, 90_000);
});
