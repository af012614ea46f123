/**
 * Where file bytes live (issue 15). Rules every adapter keeps (test/files/blob-store-contract.ts
 * runs one suite against each):
 * - `put` streams: it never holds a whole file in memory; when the source fails (a limit, a
 *   refused type, a client gone) it rejects and nothing of that key is left behind — readers
 *   never see a partial blob (disk: a temp file renamed at the end; S3: a multipart upload
 *   completed only at the end, aborted otherwise);
 * - keys are `<category>/<stored name>` (the seed's images/ documents/ files/ layout);
 * - `get` returns undefined for a missing key, and reads a byte range when asked;
 * - `delete` is idempotent; `list` yields every stored blob with its size and modification time
 *   (the sweeper's input).
 */
import type { Config } from '../../config';
import { DiskBlobStore } from './disk';
import { S3BlobStore } from './s3';
import type { BlobStore } from './types';

export { assertKey, isBlobKey, type BlobInfo, type BlobStore, type ByteRange } from './types';

export function uploadDir(config: Pick<Config, 'UPLOAD_DIR' | 'DATA_DIR'>): string {
  return config.UPLOAD_DIR ?? `${config.DATA_DIR.replace(/\/+$/, '')}/uploads`;
}

export function createBlobStore(config: Config): BlobStore {
  if (config.UPLOAD_STORE === 's3') {
    return new S3BlobStore({
      bucket: config.S3_BUCKET!,
      region: config.S3_REGION,
      endpoint: config.S3_ENDPOINT,
      prefix: config.S3_PREFIX,
      credentials: config.S3_ACCESS_KEY_ID ? { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY! } : undefined,
    });
  }
  return new DiskBlobStore(uploadDir(config));
}

/** Blob stores per configuration, one per process (the API's routes and the sweeper share it). */
const stores = new WeakMap<Config, BlobStore>();
export function blobStoreFor(config: Config): BlobStore {
  let s = stores.get(config);
  if (!s) {
    s = createBlobStore(config);
    stores.set(config, s);
  }
  return s;
}

