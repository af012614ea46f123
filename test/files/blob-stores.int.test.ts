import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { DiskBlobStore } from '../../src/infra/blobs/disk';
import { S3BlobStore } from '../../src/infra/blobs/s3';
import { blobStoreContract } from './blob-store-contract';
import { S3_BUCKET, S3_KEYS, startS3rver, type RunningS3 } from './stores';

let dir: string;
let s3: RunningS3;
const stores: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'authledger-blobs-'));
  s3 = await startS3rver(path.join(dir, 's3'));
});
afterAll(async () => {
  for (const s of stores) await s.close();
  await s3?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

blobStoreContract('disk', () => new DiskBlobStore(path.join(dir, 'disk')));
blobStoreContract('s3 (s3rver)', () => {
  const s = new S3BlobStore({ bucket: S3_BUCKET, region: 'us-east-1', endpoint: s3.endpoint, prefix: 'al/', credentials: S3_KEYS });
  stores.push(s);
  return s;
});
