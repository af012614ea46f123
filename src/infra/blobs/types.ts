/** The blob store's interface (rules: store.ts) and its key format. */
import type { Readable } from 'node:stream';

export interface BlobInfo {
  key: string;
  size: number;
  modifiedAt: Date;
}

/** Inclusive byte range. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface BlobStore {
  readonly kind: 'disk' | 's3';
  put(key: string, body: Readable): Promise<void>;
  get(key: string, range?: ByteRange): Promise<Readable | undefined>;
  stat(key: string): Promise<BlobInfo | undefined>;
  delete(key: string): Promise<void>;
  list(): AsyncIterable<BlobInfo>;
  /**
   * Stores whose interrupted writes are invisible to `list` (S3 multipart uploads) abort those
   * started before `before` and say how many; rejects when the server cannot list them.
   */
  abortIncompleteUploads?(before: Date): Promise<number>;
  close(): Promise<void>;
}

const KEY = /^(images|documents|files)\/[A-Za-z0-9-]{1,100}(\.[a-z0-9]{1,10})?$/;
/** Keys are made by the upload command; anything else (a traversal, a stray file) is refused. */
export function assertKey(key: string): void {
  if (!KEY.test(key)) throw new Error(`not a blob key: ${JSON.stringify(key).slice(0, 120)}`);
}
export const isBlobKey = (key: string): boolean => KEY.test(key);
