/**
 * File cleanup (issue 15): deleting a user deletes their files (metadata 404, blob gone); the
 * sweeper job removes an orphan blob (written without its event, as a crash between blob and
 * event leaves it) once past UPLOAD_ORPHAN_GRACE_SECONDS, and leaves claimed blobs alone.
 */
import { utimes } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { bearer, newAdmin, newUser, runProjections, type TestUser } from '../helpers/users';
import { streams } from '../../src/events/streams';
import type { ProjectorHandle } from '../../src/projections/runtime';
import { blobStoreFor, uploadDir } from '../../src/infra/blobs/store';
import { startWorkers, type WorkersHandle } from '../../workers/index';
import { multipart, pdf, png } from './helpers';

const GRACE = 3600;
let t: Awaited<ReturnType<typeof testApp>>;
let projector: ProjectorHandle;
let admin: TestUser;
beforeAll(async () => {
  t = await testApp('files_cleanup', { UPLOAD_ORPHAN_GRACE_SECONDS: String(GRACE), UPLOAD_STORE: 'disk' });
  projector = runProjections(t.services);
  admin = await newAdmin(t.app, t.services);
});
afterAll(async () => {
  await projector?.stop();
  await t?.close();
});

const blobs = () => blobStoreFor(t.services.config);
async function upload(user: TestUser, name: string, content: Buffer) {
  const m = multipart([{ name, content }]);
  const res = await t.app.inject({ method: 'POST', url: '/api/v1/files', payload: m.payload, headers: { ...m.headers, ...bearer(user.token) } });
  expect(res.statusCode, res.body).toBe(201);
  const f = res.json().items[0] as { id: string; url: string; content_url: string };
  // url is /uploads/<category>/<stored name>: the blob key is <category>/<stored name>.
  return { ...f, key: f.url.replace(/^\/uploads\//, ''), position: String(res.headers['x-log-position']) };
}
/** Makes a blob look older than the grace period (disk store: its mtime). */
async function age(key: string, seconds: number) {
  const when = new Date(Date.now() - seconds * 1000);
  await utimes(path.join(uploadDir(t.services.config), key), when, when);
}

describe('deleting a user', () => {
  it('deletes their files: metadata 404 (also for an admin), content 404, blob gone; others keep theirs', async () => {
    const doomed = await newUser(t.app, 'leaving');
    const keeper = await newUser(t.app, 'staying');
    const a = await upload(doomed, 'a.png', png());
    const b = await upload(doomed, 'b.pdf', pdf());
    const kept = await upload(keeper, 'k.pdf', pdf());
    for (const f of [a, b, kept]) expect(await blobs().stat(f.key)).toBeDefined();

    const del = await t.app.inject({ method: 'DELETE', url: `/api/v1/users/${doomed.id}`, headers: bearer(admin.token) });
    expect(del.statusCode, del.body).toBe(204);
    const after = { 'x-consistent-after': String(del.headers['x-log-position'] ?? b.position) };
    for (const f of [a, b]) {
      const meta = await t.app.inject({ method: 'GET', url: `/api/v1/files/${f.id}`, headers: { ...bearer(admin.token), ...after } });
      expect(meta.statusCode, meta.body).toBe(404);
      expect(meta.json().code).toBe('file_not_found');
      expect((await t.app.inject({ method: 'GET', url: f.content_url, headers: { ...bearer(admin.token), ...after } })).statusCode).toBe(404);
      expect(await blobs().stat(f.key)).toBeUndefined();
    }
    const events = await t.services.store.readStream(streams.userFiles(doomed.id));
    expect(events.filter((e) => e.type === 'FileDeleted').map((e) => (e.data as { reason?: string }).reason)).toEqual(['user_deleted', 'user_deleted']);
    expect(await blobs().stat(kept.key)).toBeDefined();
    const keptMeta = await t.app.inject({ method: 'GET', url: `/api/v1/files/${kept.id}`, headers: { ...bearer(keeper.token), ...after } });
    expect(keptMeta.statusCode).toBe(200);
  });
});

describe('the blob sweeper job', () => {
  let workers: WorkersHandle;
  afterAll(async () => workers?.stop());

  it('removes an orphan blob past the grace period, keeps a young orphan and every claimed blob', async () => {
    const user = await newUser(t.app, 'sweep');
    const claimed = await upload(user, 'claimed.pdf', pdf());
    // A crash between writing the blob and appending FileUploaded: a blob no event claims.
    const orphan = `documents/${randomUUID()}.pdf`;
    const young = `images/${randomUUID()}.png`;
    await blobs().put(orphan, Readable.from([pdf()]));
    await blobs().put(young, Readable.from([png()]));
    await age(orphan, GRACE + 60);
    await age(claimed.key, GRACE + 60);

    workers = await startWorkers(t.services, { consumer: false, schedule: false });
    const job = await workers.queues.byName.low.add('sweep-blobs', {});
    const deadline = Date.now() + 30_000;
    while (!(await job.isCompleted()) && !(await job.isFailed()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await job.isCompleted(), job.failedReason).toBe(true);
    const done = await workers.queues.byName.low.getJob(job.id!);
    expect(done?.returnvalue).toMatchObject({ removed: 1 });
    expect(done?.returnvalue.skipped).toBeUndefined();

    expect(await blobs().stat(orphan)).toBeUndefined();
    expect(await blobs().stat(young)).toBeDefined();
    expect(await blobs().stat(claimed.key)).toBeDefined();
    const got = await t.app.inject({ method: 'GET', url: claimed.content_url, headers: bearer(user.token) });
    expect(got.statusCode).toBe(200);
  });
});
