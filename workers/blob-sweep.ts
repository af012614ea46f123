/**
 * The blob sweeper (issue 15), a cleanup job: removes blobs that no live file claims — the blob of
 * an upload whose process died between writing it and appending FileUploaded, a temp file of a
 * killed writer, the blob of a deleted file whose removal did not happen. Rules:
 * - the claims are read from the `files` read model only once it has passed the log head taken
 *   at the start, so every event committed before the sweep is in them (else the sweep is skipped);
 *   the wait is read-your-writes' own (src/projections/checkpoint-feed.ts): it wakes on the
 *   projection's checkpoint notice, it does not poll;
 * - a blob is removed only when unclaimed *and* older than UPLOAD_ORPHAN_GRACE_SECONDS: an upload
 *   in flight has written its blob but not yet its event (and dedupe only ever points at a blob a
 *   live file claims, so an unclaimed old blob can never become claimed again);
 * - at most once per UPLOAD_SWEEP_INTERVAL across workers (a Redis NX key), however often the
 *   cleanup scheduler fires;
 * - temp files of a killed writer (disk: `.tmp/<name>.part`, listed by the store) are never
 *   claimed, so they go once older than the grace period;
 * - S3: incomplete multipart uploads (a process killed mid-upload) started before the grace period
 *   are aborted (ListMultipartUploads + AbortMultipartUpload). A server that cannot list them
 *   (s3rver: NotImplemented) is reported as `multipart: 'unsupported'` with a warning, and the sweep
 *   still succeeds: keep the bucket lifecycle rule that aborts them (docs/uploads.md).
 */
import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../src/config';
import type { EventStore } from '../src/events/store';
import type { BlobStore } from '../src/infra/blobs/store';
import { claimedStorageKeys, filesProjection } from '../src/projections/files';
import { CheckpointFeed } from '../src/projections/checkpoint-feed';

export interface SweepDeps {
  config: Config;
  log: Pick<Logger, 'info' | 'warn'>;
  pool: pg.Pool;
  redis: Redis;
  prefix: string;
  store: EventStore;
}

export interface SweepResult {
  checked: number;
  removed: number;
  /** Incomplete multipart uploads aborted (stores that have them). */
  aborted?: number;
  /** The store could not list its incomplete multipart uploads (or failed to): nothing aborted. */
  multipart?: 'unsupported' | 'failed';
  skipped?: 'projection_behind' | 'recently_swept';
}

const lacksMultipartListing = (err: unknown): boolean => {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotImplemented' || e.Code === 'NotImplemented' || e.$metadata?.httpStatusCode === 501;
};

async function abortIncomplete(deps: SweepDeps, blobs: BlobStore, before: Date): Promise<Pick<SweepResult, 'aborted' | 'multipart'>> {
  if (!blobs.abortIncompleteUploads) return {};
  try {
    const aborted = await blobs.abortIncompleteUploads(before);
    if (aborted) deps.log.info({ aborted }, 'blob sweep aborted incomplete multipart uploads');
    return { aborted };
  } catch (err) {
    const unsupported = lacksMultipartListing(err);
    deps.log.warn({ err: (err as Error).message }, unsupported
      ? 'blob sweep: the store cannot list incomplete multipart uploads; rely on a bucket lifecycle rule'
      : 'blob sweep: aborting incomplete multipart uploads failed');
    return { aborted: 0, multipart: unsupported ? 'unsupported' : 'failed' };
  }
}

export async function sweepBlobs(deps: SweepDeps, blobs: BlobStore, opts: { now?: number; waitMs?: number; force?: boolean } = {}): Promise<SweepResult> {
  if (!opts.force) {
    const first = await deps.redis.set(`${deps.prefix}blobsweep:last`, String(Date.now()), 'EX', deps.config.UPLOAD_SWEEP_INTERVAL, 'NX');
    if (first !== 'OK') return { checked: 0, removed: 0, skipped: 'recently_swept' };
  }
  const head = await deps.store.headPosition();
  const feed = new CheckpointFeed({ pool: deps.pool, prefix: deps.prefix, projections: [filesProjection], log: deps.log });
  let current: boolean;
  try {
    await feed.start();
    current = await feed.wait([filesProjection.name], head, opts.waitMs ?? 10_000);
  } finally {
    await feed.stop();
  }
  if (!current) {
    deps.log.warn({ projection: 'files' }, 'blob sweep skipped: the files read model is behind the log');
    return { checked: 0, removed: 0, skipped: 'projection_behind' };
  }
  const claimed = await claimedStorageKeys(deps.pool);
  const now = opts.now ?? Date.now();
  const graceMs = deps.config.UPLOAD_ORPHAN_GRACE_SECONDS * 1000;
  let checked = 0;
  const doomed: string[] = [];
  for await (const b of blobs.list()) {
    checked++;
    if (!claimed.has(b.key) && now - b.modifiedAt.getTime() >= graceMs) doomed.push(b.key);
  }
  for (const key of doomed) await blobs.delete(key);
  if (doomed.length) deps.log.info({ removed: doomed.length, checked }, 'blob sweep removed unclaimed blobs');
  return { checked, removed: doomed.length, ...(await abortIncomplete(deps, blobs, new Date(now - graceMs))) };
}
