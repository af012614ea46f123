/**
 * Receiving an upload: multipart parts streamed into the blob store (issue 15). Rules:
 * - streamed, never buffered: each part flows through `Intake` (byte count, sha256, sniffing on
 *   the first SNIFF_BYTES) into `BlobStore.put`; only the sniff sample is held in memory;
 * - nothing is written before the type is known: the sample is held back until it is sniffed,
 *   and a mismatch fails the part (415 content_mismatch);
 * - limits: UPLOAD_MAX_BYTES per file (413 file_too_large), UPLOAD_MAX_FILES per request
 *   (413 too_many_files), the owner's remaining quota across the request (413 quota_exceeded);
 * - any failure removes every blob this request wrote (the put of the failing one cleans up
 *   after itself): nothing half-written stays behind. A crash leaves blobs no event claims,
 *   which the sweeper removes (workers/blob-sweep.ts).
 */
import { createHash, randomUUID } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import type { MultipartFile } from '@fastify/multipart';
import { domainError, errors } from '../../errors';
import type { BlobStore } from '../../infra/blobs/store';
import { categoryOf, extensionOf, sanitiseName, sniff, SNIFF_BYTES, type Sniffed } from './categories';
import { quotaExceeded, type NewFile } from './decide';

export interface IntakeLimits {
  maxBytes: number;
  maxFiles: number;
  /** 0: no quota. */
  quotaBytes: number;
  /** The owner's live bytes before this request. */
  usedBytes: number;
}

export const fileTooLarge = (maxBytes: number) =>
  domainError('file_too_large', `A file is larger than ${maxBytes} bytes.`, { extra: { max_bytes: maxBytes } });

/** Counts, hashes and sniffs the bytes that pass; fails on a limit or a type mismatch. */
export class Intake extends Transform {
  size = 0;
  sniffed?: Sniffed;
  private readonly hash = createHash('sha256');
  private head: Buffer[] = [];
  private headLength = 0;

  constructor(private readonly ext: string, private readonly maxBytes: number, private readonly allowed: number, private readonly onQuota: () => Error) {
    super();
  }

  get sha256(): string {
    return this.hash.copy().digest('hex');
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) return done(fileTooLarge(this.maxBytes));
    if (this.size > this.allowed) return done(this.onQuota());
    this.hash.update(chunk);
    if (this.sniffed) return done(null, chunk);
    this.head.push(chunk);
    this.headLength += chunk.length;
    if (this.headLength < SNIFF_BYTES) return done();
    this.release(done);
  }

  override _flush(done: TransformCallback): void {
    if (this.sniffed) return done();
    this.release(done);
  }

  private release(done: TransformCallback): void {
    const held = Buffer.concat(this.head);
    this.head = [];
    sniff(this.ext, held.subarray(0, SNIFF_BYTES)).then((s) => {
      this.sniffed = s;
      done(null, held);
    }, (err) => done(err));
  }
}

/** Multipart's own limit errors as catalog errors (413 problem+json). */
function fromMultipart(err: unknown, limits: IntakeLimits): unknown {
  const code = (err as { code?: string }).code;
  if (code === 'FST_REQ_FILE_TOO_LARGE') return fileTooLarge(limits.maxBytes);
  if (code === 'FST_FILES_LIMIT') return domainError('too_many_files', `At most ${limits.maxFiles} files per request.`, { extra: { max_files: limits.maxFiles } });
  if (code === 'FST_PARTS_LIMIT' || code === 'FST_FIELDS_LIMIT') return domainError('too_many_files', 'Too many parts in this request.');
  if (code === 'FST_INVALID_MULTIPART_CONTENT_TYPE') return domainError('unsupported_media_type', 'Send the files as multipart/form-data.');
  if (code === 'FST_MP_PREMATURE_CLOSE') return domainError('client_closed_request', 'The request ended before its files did.');
  if (code === 'FST_PROTO_VIOLATION') return errors.badRequest('A field name is not allowed.');
  return err;
}

export interface Received {
  files: NewFile[];
  /** Every key this request wrote (remove them when the command fails; the unclaimed ones after it succeeds). */
  written: string[];
}

/** Streams every file part of the request into the blob store. */
export async function receiveFiles(request: FastifyRequest, blobs: BlobStore, limits: IntakeLimits): Promise<Received> {
  const written: string[] = [];
  const files: NewFile[] = [];
  let allowed = limits.quotaBytes > 0 ? limits.quotaBytes - limits.usedBytes : Number.MAX_SAFE_INTEGER;
  try {
    const parts = request.parts({
      // One byte over the limit reaches Intake, which refuses it with the catalog error.
      limits: { fileSize: limits.maxBytes + 1, files: limits.maxFiles, fields: 20, fieldSize: 4096, parts: limits.maxFiles + 20 },
    });
    for await (const part of parts) {
      if (part.type !== 'file') continue;
      const file = part as MultipartFile;
      if (!file.filename) {
        file.file.resume(); // an empty file input of a form
        continue;
      }
      const name = sanitiseName(file.filename);
      const ext = extensionOf(name);
      const category = categoryOf(ext);
      const key = `${category}/${randomUUID()}${ext ? `.${ext}` : ''}`;
      const intake = new Intake(ext, limits.maxBytes, allowed, () => quotaExceeded(limits.quotaBytes, limits.usedBytes));
      const source = file.file;
      source.on('error', (err) => intake.destroy(err));
      written.push(key);
      await blobs.put(key, source.pipe(intake));
      if (source.truncated) throw fileTooLarge(limits.maxBytes);
      allowed -= intake.size;
      files.push({ fileId: randomUUID(), name, category, contentType: intake.sniffed!.contentType, size: intake.size, sha256: intake.sha256, candidateKey: key });
    }
    if (!files.length) throw errors.badRequest('No file in the request (send multipart/form-data with one or more file parts).', 'upload_empty');
    return { files, written };
  } catch (err) {
    await removeAll(blobs, written);
    throw fromMultipart(err, limits);
  }
}

export async function removeAll(blobs: BlobStore, keys: Iterable<string>): Promise<void> {
  await Promise.all([...keys].map((k) => blobs.delete(k).catch(() => undefined)));
}
