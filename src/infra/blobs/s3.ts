/**
 * The S3 blob store (any S3-compatible server: AWS, MinIO, Ceph, s3rver in tests), for several API
 * processes or hosts. Uploads go through `@aws-sdk/lib-storage` multipart uploads: one part
 * (5 MB) is buffered at a time, the object appears only when the upload completes, and a failed
 * source aborts it (no parts are left behind).
 */
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { assertKey, isBlobKey, type BlobInfo, type BlobStore, type ByteRange } from './types';

export interface S3Options {
  bucket: string;
  region: string;
  endpoint?: string;
  prefix?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

const PART_SIZE = 5 * 1024 * 1024;

const notFound = (err: unknown): boolean => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
};

export class S3BlobStore implements BlobStore {
  readonly kind = 's3' as const;
  readonly client: S3Client;
  private readonly prefix: string;

  constructor(private readonly opts: S3Options) {
    this.prefix = opts.prefix ?? '';
    this.client = new S3Client({
      region: opts.region,
      ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: true } : {}),
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      // Checksums on every request need the whole body or trailers some servers do not speak.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  private name(key: string): string {
    assertKey(key);
    return `${this.prefix}${key}`;
  }

  async put(key: string, body: Readable): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.opts.bucket, Key: this.name(key), Body: body },
      partSize: PART_SIZE,
      queueSize: 1,
      leavePartsOnError: false,
    });
    // A source that fails mid-way must fail the upload (lib-storage reads it as an iterator).
    let sourceError: unknown;
    body.once('error', (err) => { sourceError = err; void upload.abort().catch(() => undefined); });
    try {
      await upload.done();
    } catch (err) {
      body.destroy();
      await upload.abort().catch(() => undefined);
      throw sourceError ?? err;
    }
    if (sourceError) {
      await this.delete(key).catch(() => undefined);
      throw sourceError;
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({
        Bucket: this.opts.bucket, Key: this.name(key), ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
      }));
      return r.Body as Readable;
    } catch (err) {
      if (notFound(err)) return undefined;
      throw err;
    }
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.opts.bucket, Key: this.name(key) }));
      return { key, size: Number(r.ContentLength ?? 0), modifiedAt: r.LastModified ?? new Date(0) };
    } catch (err) {
      if (notFound(err)) return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.opts.bucket, Key: this.name(key) }));
  }

  async *list(): AsyncIterable<BlobInfo> {
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: this.prefix || undefined, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        if (!o.Key?.startsWith(this.prefix)) continue;
        yield { key: o.Key.slice(this.prefix.length), size: Number(o.Size ?? 0), modifiedAt: o.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /**
   * Aborts the incomplete multipart uploads of this store (under the prefix, blob keys only)
   * started before `before`: a process killed mid-upload leaves its parts, billed and invisible
   * to `list`. ListMultipartUploads + AbortMultipartUpload; a server without them (s3rver answers
   * NotImplemented) makes this reject — keep the bucket's lifecycle rule (docs/uploads.md).
   */
  async abortIncompleteUploads(before: Date): Promise<number> {
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.client.send(new ListMultipartUploadsCommand({
        Bucket: this.opts.bucket, Prefix: this.prefix || undefined, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker,
      }));
      for (const u of page.Uploads ?? []) {
        if (!u.Key?.startsWith(this.prefix) || !u.UploadId || !isBlobKey(u.Key.slice(this.prefix.length))) continue;
        // An upload without a start time is never taken for an old one.
        if (!u.Initiated || u.Initiated.getTime() >= before.getTime()) continue;
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.opts.bucket, Key: u.Key, UploadId: u.UploadId }));
        aborted++;
      }
      const more = page.IsTruncated === true && (page.NextKeyMarker !== keyMarker || page.NextUploadIdMarker !== uploadIdMarker);
      keyMarker = more ? page.NextKeyMarker : undefined;
      uploadIdMarker = more ? page.NextUploadIdMarker : undefined;
    } while (keyMarker !== undefined || uploadIdMarker !== undefined);
    return aborted;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
