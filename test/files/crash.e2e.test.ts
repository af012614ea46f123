/**
 * A server process killed between blob write and event, for real (issue 15), on both stores
 * (describe.each: disk, and S3 through s3rver): the API runs as its own process (`tsx src/main.ts`); a test connection holds `LOCK TABLE events IN EXCLUSIVE MODE`
 * in an open transaction, so the upload's reads go on but its append (an INSERT) waits. Once the
 * blob is in the store and the append is seen waiting (pg_locks), the process is SIGKILLed
 * — with a second upload stopped mid-stream (disk: its temp file stays in UPLOAD_DIR/.tmp; S3: past
 * one 5 MB part, an incomplete multipart upload stays) — and the lock released. No FileUploaded of
 * either upload exists; the sweep job (workers/blob-sweep.ts, through real BullMQ) removes the
 * orphan blob (and on disk the stale temp file), and keeps the claimed blob. s3rver cannot list
 * multipart uploads, so there the job reports `multipart: 'unsupported'` and the parts stay.
 *
 * Why EXCLUSIVE and not ACCESS EXCLUSIVE: the upload reads the owner's stream (SELECT on events)
 * before it writes any blob; ACCESS EXCLUSIVE would block that read, and nothing would be written.
 * Why the dead process's backends are terminated before the lock is released: the append is one
 * autocommit statement, and PostgreSQL does not notice a dead client while a statement waits for a
 * lock (client_connection_check_interval did not end it here either): released first, the append
 * completes and commits, and the blob is claimed — consistent, but not the crash under test.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, TSX, freePort, run, sleep, until, type Proc } from '../server/helpers';
import { createTestDatabase, testRedisPrefix, REDIS_BASE, type TestDatabase } from '../helpers/db';
import { testConfig } from '../helpers/app';
import { createServices, silentLogger, type Services } from '../../src/services';
import { runStartup } from '../../src/compose';
import { runProjections } from '../helpers/users';
import type { ProjectorHandle } from '../../src/projections/runtime';
import { startWorkers, type WorkersHandle } from '../../workers/index';
import { DiskBlobStore } from '../../src/infra/blobs/disk';
import { S3BlobStore } from '../../src/infra/blobs/s3';
import type { BlobStore } from '../../src/infra/blobs/store';
import { multipart, pdf } from './helpers';
import { S3_BUCKET, S3_KEYS, STORES, s3Env, useStore } from './stores';

const PEPPER = 'test-pepper-test-pepper-test-pepper-0123456789';

async function post(port: number, url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}${url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: await res.json() as Record<string, unknown> };
}

/** Sends the head and `sent` bytes of a `declared`-byte file part, and never the rest. */
function startPartialUpload(port: number, token: string, declared: number, sent: number): http.ClientRequest {
  const boundary = `----cut${randomBytes(6).toString('hex')}`;
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const req = http.request({
    host: '127.0.0.1', port, method: 'POST', path: '/api/v1/files',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': head.length + declared + tail.length, authorization: `Bearer ${token}` },
  });
  req.on('error', () => undefined); // the server dies under it
  req.write(head);
  req.write(Buffer.concat([Buffer.from([0, 1, 2, 3]), randomBytes(sent - 4)]));
  return req;
}

const waitingOnEvents = async (c: pg.Client) =>
  Number((await c.query(`SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'events'::regclass AND NOT granted`)).rows[0].n);

async function keysIn(store: BlobStore, temp = false): Promise<string[]> {
  const out: string[] = [];
  for await (const b of store.list()) if (temp === b.key.startsWith('.tmp/')) out.push(b.key);
  return out.sort();
}

describe.each(STORES)('a server process killed between blob write and event (%s store)', (kind) => {
  const procs: Proc[] = [];
  const clients: pg.Client[] = [];
  let db: TestDatabase | undefined;
  let services: Services | undefined;
  let projector: ProjectorHandle | undefined;
  let workers: WorkersHandle | undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'authledger-crash-'));
  afterAll(async () => {
    for (const p of procs) p.kill('SIGKILL');
    for (const c of clients) await c.end().catch(() => undefined);
    await workers?.stop();
    await projector?.stop();
    await services?.close();
    await db?.drop().catch(() => undefined);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  const fixture = useStore(kind);
  const uploads = path.join(dataDir, 'uploads');
  /** The s3rver directories of its incomplete multipart uploads. */
  const s3Uploads = () => {
    if (kind !== 's3') return [];
    const dir = path.join(fixture.s3().directory, S3_BUCKET, '._S3rver_uploads');
    return fs.existsSync(dir) ? fs.readdirSync(dir).filter((id) => fs.existsSync(path.join(dir, id, '1'))) : [];
  };

  it('leaves an orphan blob (and a cut upload); no event claims them; the sweep job removes the orphan and stale temp files, keeps claimed blobs', async () => {
    const storeEnv = fixture.env();
    const inspect: BlobStore = kind === 's3'
      ? new S3BlobStore({ bucket: S3_BUCKET, region: 'us-east-1', endpoint: fixture.s3().endpoint, prefix: s3Env(fixture.s3()).S3_PREFIX, credentials: S3_KEYS })
      : new DiskBlobStore(uploads);
    db = await createTestDatabase('filecrash');
    const port = await freePort();
    const prefix = testRedisPrefix('filecrash');
    const server = run(TSX, [path.join(ROOT, 'src/main.ts')], {
      NODE_ENV: 'test', HOST: '127.0.0.1', PORT: String(port), ROLES: 'api', DATABASE_URL: db.url, REDIS_URL: REDIS_BASE, REDIS_PREFIX: prefix,
      DATA_DIR: dataDir, ...storeEnv, PASSWORD_PEPPER: PEPPER, BCRYPT_COST: '4', RATE_LIMIT_PER_MINUTE: '0', RATE_LIMIT_AUTH_PER_MINUTE: '0',
      COOKIE_SECURE: 'false', LOG_LEVEL: 'warn',
    });
    procs.push(server);
    await until('server up', async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.ok, 60_000);
    const email = `crash-${randomBytes(4).toString('hex')}@example.com`;
    const password = `Plum-${randomBytes(6).toString('hex')}-Harbour!`;
    const signup = await post(port, '/api/v1/auth/signup', { email, password, name: 'Crash' });
    expect(signup.status, `${JSON.stringify(signup.json)} ${server.output().slice(-3000)}`).toBe(201);
    const token = (await post(port, '/api/v1/auth/login', { email, password })).json.access_token as string;

    // A file that lands: its blob is claimed by its FileUploaded.
    const kept = multipart([{ name: 'kept.pdf', content: pdf() }]);
    const ok = await fetch(`http://127.0.0.1:${port}/api/v1/files`, { method: 'POST', headers: { ...kept.headers, authorization: `Bearer ${token}` }, body: kept.payload });
    expect(ok.status).toBe(201);
    const claimedKey = ((await ok.json()) as { items: { url: string }[] }).items[0]!.url.replace(/^\/uploads\//, '');
    expect(await keysIn(inspect)).toEqual([claimedKey]);

    // The second upload stops mid-stream. Disk: its bytes so far sit in a temp file. S3: one 5 MB
    // part is sent, so an incomplete multipart upload exists.
    const cut = kind === 's3' ? startPartialUpload(port, token, 8 * 1024 * 1024, 6 * 1024 * 1024) : startPartialUpload(port, token, 4 * 1024 * 1024, 256 * 1024);
    if (kind === 's3') await until('a part of the cut upload in s3rver', () => s3Uploads().length > 0, 60_000);
    else await until('a temp file of the cut upload', async () => (await keysIn(inspect, true)).length > 0 && fs.statSync(path.join(uploads, (await keysIn(inspect, true))[0]!)).size > 0, 30_000);

    // Appends wait on the lock; reads go on.
    const locker = new pg.Client({ connectionString: db.url });
    clients.push(locker);
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE events IN EXCLUSIVE MODE');
    const body = multipart([{ name: 'orphan.pdf', content: pdf() }]);
    const pending = fetch(`http://127.0.0.1:${port}/api/v1/files`, { method: 'POST', headers: { ...body.headers, authorization: `Bearer ${token}` }, body: body.payload })
      .then((r) => r.status, () => 'connection lost');
    const orphanKey = await until('the orphan blob written', async () => (await keysIn(inspect)).find((k) => k !== claimedKey), 30_000);
    await until('the append waiting on the lock', async () => (await waitingOnEvents(locker)) > 0, 30_000);

    server.kill('SIGKILL');
    expect((await server.exited).signal).not.toBeNull();
    cut.destroy();
    expect(await pending).toBe('connection lost');
    // The dead process's append still waits in its backend: PostgreSQL does not notice a dead
    // client while a statement waits for a lock, and would commit it once the lock is released
    // (the blob would then be claimed: consistent, but not the crash this test is about). End
    // those backends first, as if the process had died before sending the append.
    const others = `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`;
    await locker.query(`SELECT pg_terminate_backend(pid) FROM (${others}) o`);
    // Their transactions are over once they hold no lock (a terminated backend may linger a while).
    await until('the killed server\'s transactions aborted', async () =>
      (await locker.query(`SELECT 1 FROM pg_locks WHERE pid IN (${others}) LIMIT 1`)).rows.length === 0, 30_000);
    await locker.query('ROLLBACK');

    const uploaded = await locker.query(`SELECT data->>'storageKey' AS key FROM events WHERE event_type = 'FileUploaded'`);
    expect(uploaded.rows.map((r) => r.key)).toEqual([claimedKey]);
    expect(await keysIn(inspect, true)).toHaveLength(kind === 'disk' ? 1 : 0);
    expect(await keysIn(inspect)).toEqual([claimedKey, orphanKey].sort());
    const incomplete = s3Uploads();
    expect(incomplete).toHaveLength(kind === 's3' ? 1 : 0);

    // The sweep job, through real BullMQ, by a worker on the same database and store.
    services = await createServices(testConfig({
      DATABASE_URL: db.url, REDIS_PREFIX: prefix, DATA_DIR: dataDir, ...storeEnv, UPLOAD_ORPHAN_GRACE_SECONDS: '1',
    }), { log: silentLogger(), migrate: false });
    await runStartup(services);
    projector = runProjections(services);
    await sleep(1100); // every leftover is older than the grace period now
    workers = await startWorkers(services, { consumer: false, schedule: false });
    const job = await workers.queues.byName.low.add('sweep-blobs', {});
    await until('the sweep job done', async () => (await job.isCompleted()) || (await job.isFailed()), 30_000);
    expect(await job.isCompleted(), job.failedReason).toBe(true);
    const done = await workers.queues.byName.low.getJob(job.id!);
    expect(done?.returnvalue.skipped).toBeUndefined();
    // Disk: the orphan and the temp file. S3: the orphan; s3rver cannot list the cut upload's parts.
    expect(done?.returnvalue).toMatchObject(kind === 'disk' ? { removed: 2 } : { removed: 1, aborted: 0, multipart: 'unsupported' });

    expect(await inspect.stat(orphanKey)).toBeUndefined();
    expect(await keysIn(inspect, true)).toEqual([]);
    expect(await keysIn(inspect)).toEqual([claimedKey]);
    expect(s3Uploads()).toEqual(incomplete);
    await inspect.close();
  }, 180_000);
});
