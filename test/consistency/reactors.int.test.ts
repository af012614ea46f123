/**
 * A worker that reads a read model after the log moved waits for it with the checkpoint feed
 * (issue 11; the static rule is reactors.unit): the blob sweeper reads the `files` claims only
 * once the files projection has passed the log head it started from. A blob whose FileUploaded
 * the projector has not applied yet, aged past the grace period, is exactly what a sweep without
 * the wait would delete.
 */
import { utimes } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { bearer, newUser } from '../helpers/users';
import { startProjector, type ProjectorHandle } from '../../src/projections/runtime';
import { blobStoreFor, uploadDir } from '../../src/infra/blobs/store';
import { sweepBlobs } from '../../workers/blob-sweep';
import { multipart, png } from '../files/helpers';

const GRACE = 60;

describe('the blob sweeper waits for the files read model', () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  let projector: ProjectorHandle | undefined;

  beforeAll(async () => {
    t = await testApp('rywsweep', { UPLOAD_ORPHAN_GRACE_SECONDS: String(GRACE), UPLOAD_STORE: 'disk' });
  }, 60_000);

  afterAll(async () => {
    await projector?.stop();
    await t?.close();
  });

  it('skips while the projection is behind, then wakes when it passes and keeps the claimed blob', async () => {
    // No projector running: the upload's FileUploaded is in the log, not in the files read model.
    const user = await newUser(t.app, 'sweeper');
    const m = multipart([{ name: 'a.png', content: png() }]);
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/files', payload: m.payload, headers: { ...m.headers, ...bearer(user.token) } });
    expect(res.statusCode, res.body).toBe(201);
    const key = String(res.json().items[0].url).replace(/^\/uploads\//, '');
    const old = new Date(Date.now() - 2 * GRACE * 1000);
    await utimes(path.join(uploadDir(t.services.config), key), old, old);
    const blobs = blobStoreFor(t.services.config);

    const started = Date.now();
    const behind = await sweepBlobs(t.services, blobs, { force: true, waitMs: 300 });
    expect(behind.skipped).toBe('projection_behind');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await blobs.stat(key)).toBeDefined();

    // The projector starts while the sweep waits: the sweep wakes on its checkpoint and runs.
    const sweeping = sweepBlobs(t.services, blobs, { force: true, waitMs: 30_000 });
    setTimeout(() => {
      projector = startProjector(t.services);
    }, 200);
    const swept = await sweeping;
    expect(swept.skipped).toBeUndefined();
    expect(swept.checked).toBeGreaterThanOrEqual(1);
    expect(swept.removed).toBe(0);
    expect(await blobs.stat(key)).toBeDefined();
  }, 60_000);
});
