import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import S3rver from 's3rver';
import { DiskBlobStore } from '../../src/infra/blobs/disk';
import { S3BlobStore } from '../../src/infra/blobs/s3';
import { freePort } from '../server/helpers';
import { blobStoreContract } from './blob-store-contract';

let dir: string;
let s3: { close(): Promise<void> };
let port: number;
const stores: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'authledger-blobs-'));
  port = await freePort();
  const server = new S3rver({ port, address: '127.0.0.1', silent: true, directory: path.join(dir, 's3'), configureBuckets: [{ name: 'uploads', configs: [] }] });
  await server.run();
  s3 = server;
});
afterAll(async () => {
  for (const s of stores) await s.close();
  await s3?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

blobStoreContract('disk', () => new DiskBlobStore(path.join(dir, 'disk')));
blobStoreContract('s3 (s3rver)', () => {
  const s = new S3BlobStore({ bucket: 'uploads', region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, prefix: 'al/', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  stores.push(s);
  return s;
});
