/**
 * Both blob stores for app-level tests: `describe.each(STORES)(…, (kind) => { const store = useStore(kind); … })`.
 * The s3 store is a real S3-protocol server (s3rver) started on a free port for the describe block;
 * its files live under a temp directory removed at the end.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import S3rver from 's3rver';
import { freePort } from '../server/helpers';

export const STORES = ['disk', 's3'] as const;
export type StoreKind = (typeof STORES)[number];

export const S3_BUCKET = 'uploads';
export const S3_KEYS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface RunningS3 {
  endpoint: string;
  /** s3rver's own directory (its objects and multipart uploads on disk). */
  directory: string;
  close(): Promise<void>;
}

/** A real S3-protocol server (s3rver) on a free port with one bucket, `uploads`. */
export async function startS3rver(directory: string): Promise<RunningS3> {
  const port = await freePort();
  const server = new S3rver({ port, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: S3_BUCKET, configs: [] }] });
  await server.run();
  return { endpoint: `http://127.0.0.1:${port}`, directory, close: () => server.close() };
}

/** Configuration overrides that point the app at the s3 store. */
export const s3Env = (s3: RunningS3, prefix = 'al/'): Record<string, string> => ({
  UPLOAD_STORE: 's3', S3_ENDPOINT: s3.endpoint, S3_BUCKET, S3_REGION: 'us-east-1',
  S3_ACCESS_KEY_ID: S3_KEYS.accessKeyId, S3_SECRET_ACCESS_KEY: S3_KEYS.secretAccessKey, S3_PREFIX: prefix,
});

export interface StoreFixture {
  /** Overrides for testApp (read inside beforeAll, after this fixture's own beforeAll ran). */
  env(): Record<string, string>;
  /** The running s3rver (s3 only). */
  s3(): RunningS3;
}

/** Registers beforeAll/afterAll in the calling describe block: disk needs nothing, s3 an s3rver. */
export function useStore(kind: StoreKind): StoreFixture {
  let dir: string | undefined;
  let s3: RunningS3 | undefined;
  beforeAll(async () => {
    if (kind !== 's3') return;
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'authledger-s3-'));
    s3 = await startS3rver(dir);
  });
  afterAll(async () => {
    await s3?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });
  return { env: () => (kind === 's3' ? s3Env(s3!) : { UPLOAD_STORE: 'disk' }), s3: () => s3! };
}
