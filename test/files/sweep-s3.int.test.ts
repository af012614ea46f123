/**
 * The blob sweeper on the S3 store (s3rver, a real S3-protocol server started here): the sweep job
 * (real BullMQ) removes an orphan object past UPLOAD_ORPHAN_GRACE_SECONDS and keeps the claimed
 * one. It also tries to abort incomplete multipart uploads (ListMultipartUploads +
 * AbortMultipartUpload); s3rver 3.7 implements neither (NotImplemented), so here the job reports
 * `multipart: 'unsupported'`, still succeeds, and the incomplete upload stays. The abort path is
 * tested through a TEST SHIM (s3-multipart-shim.ts) that answers those two calls from s3rver's
 * on-disk state — not a real S3 server (docs/uploads.md: keep the lifecycle rule).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { bearer, newUser, runProjections } from '../helpers/users';
import type { ProjectorHandle } from '../../src/projections/runtime';
import { blobStoreFor } from '../../src/infra/blobs/store';
import { startWorkers, type WorkersHandle } from '../../workers/index';
import { sleep } from '../server/helpers';
import { multipart, pdf } from './helpers';
import { S3BlobStore as S3Store } from '../../src/infra/blobs/s3';
import { sweepBlobs } from '../../workers/blob-sweep';
import { startMultipartShim } from './s3-multipart-shim';
import { S3_BUCKET, S3_KEYS, useStore } from './stores';

describe('the blob sweeper on the s3 store (s3rver)', () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  let projector: ProjectorHandle;
  let workers: WorkersHandle | undefined;
  const store = useStore('s3');
  beforeAll(async () => {
    t = await testApp('files_sweep_s3', { ...store.env(), UPLOAD_ORPHAN_GRACE_SECONDS: '1' });
    projector = runProjections(t.services);
  });
  afterAll(async () => {
    await workers?.stop();
    await projector?.stop();
    await t?.close();
  });

  it('removes an orphan object, keeps the claimed one; multipart uploads: unsupported by s3rver, reported, the sweep still succeeds', async () => {
    const blobs = blobStoreFor(t.services.config) as S3Store;
    expect(blobs.kind).toBe('s3');
    const user = await newUser(t.app, 'sweeps3');
    const m = multipart([{ name: 'claimed.pdf', content: pdf() }]);
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/files', payload: m.payload, headers: { ...m.headers, ...bearer(user.token) } });
    expect(res.statusCode, res.body).toBe(201);
    const claimed = (res.json().items[0].url as string).replace(/^\/uploads\//, '');
    const orphan = `documents/${randomUUID()}.pdf`;
    await blobs.put(orphan, Readable.from([pdf()]));
    // A process killed mid-upload: a multipart upload with a part and no completion.
    const key = `al/files/${randomUUID()}.bin`;
    const started = await blobs.client.send(new CreateMultipartUploadCommand({ Bucket: S3_BUCKET, Key: key }));
    await blobs.client.send(new UploadPartCommand({ Bucket: S3_BUCKET, Key: key, UploadId: started.UploadId, PartNumber: 1, Body: Buffer.alloc(1024, 7) }));
    // What s3rver says to ListMultipartUploads (the sweeper's first call).
    await expect(blobs.client.send(new ListMultipartUploadsCommand({ Bucket: S3_BUCKET }))).rejects.toMatchObject({ name: 'NotImplemented' });
    await sleep(1100); // past the grace period

    workers = await startWorkers(t.services, { consumer: false, schedule: false });
    const job = await workers.queues.byName.low.add('sweep-blobs', {});
    const deadline = Date.now() + 30_000;
    while (!(await job.isCompleted()) && !(await job.isFailed()) && Date.now() < deadline) await sleep(100);
    expect(await job.isCompleted(), job.failedReason).toBe(true);
    const done = await workers.queues.byName.low.getJob(job.id!);
    expect(done?.returnvalue).toMatchObject({ removed: 1, aborted: 0, multipart: 'unsupported' });
    expect(done?.returnvalue.skipped).toBeUndefined();
    expect(await blobs.stat(orphan)).toBeUndefined();
    expect(await blobs.stat(claimed)).toBeDefined();
    const got = await t.app.inject({ method: 'GET', url: `/uploads/${claimed}`, headers: bearer(user.token) });
    expect(got.statusCode).toBe(200);
  });

  it('aborts incomplete multipart uploads under its prefix older than the grace period (through the shim: s3rver cannot list them)', async () => {
    const shim = await startMultipartShim(store.s3(), S3_BUCKET);
    const blobs = new S3Store({ bucket: S3_BUCKET, region: 'us-east-1', endpoint: shim.endpoint, prefix: 'shim/', credentials: S3_KEYS });
    try {
      const start = async (key: string, ageSeconds: number) => {
        const up = await blobs.client.send(new CreateMultipartUploadCommand({ Bucket: S3_BUCKET, Key: key }));
        await blobs.client.send(new UploadPartCommand({ Bucket: S3_BUCKET, Key: key, UploadId: up.UploadId, PartNumber: 1, Body: Buffer.alloc(512, 1) }));
        const when = new Date(Date.now() - ageSeconds * 1000);
        await fs.utimes(path.join(shim.uploadsDir, up.UploadId!), when, when);
        return up.UploadId!;
      };
      const earlier = await fs.readdir(shim.uploadsDir).catch(() => [] as string[]); // the first test's, under al/
      // Five old ones of ours (three pages of two), one young one, and old ones that are not ours.
      const oldOnes = [];
      for (let i = 0; i < 5; i++) oldOnes.push(await start(`shim/files/${randomUUID()}.bin`, 3600));
      const young = await start(`shim/documents/${randomUUID()}.pdf`, 0);
      const otherPrefix = await start(`al/files/${randomUUID()}.bin`, 3600);
      const notABlobKey = await start('shim/not-a-category/x.bin', 3600);

      const deps = { config: t.services.config, log: t.services.log, pool: t.services.pool, redis: t.services.redis, prefix: t.services.prefix, store: t.services.store };
      const result = await sweepBlobs(deps, blobs, { force: true });
      expect(result).toMatchObject({ aborted: 5 });
      expect(result.multipart).toBeUndefined();
      const left = (await fs.readdir(shim.uploadsDir)).sort();
      expect(left).toEqual([...earlier, young, otherPrefix, notABlobKey].sort());
      for (const id of oldOnes) expect(left).not.toContain(id);
      // A second sweep finds nothing more to abort.
      expect((await sweepBlobs(deps, blobs, { force: true })).aborted).toBe(0);
    } finally {
      await blobs.close();
      await shim.close();
    }
  });
});
