/**
 * The blob sweeper (issue 15), a cleanup job: removes blobs that no live file claims — the blob of
 * an upload whose process died between writing it and appending FileUploaded, a temp file of a
 * killed writer, the blob of a deleted file whose removal did not happen. Rules:
 * - the claims are read from the `files` read model only once it has passed the log head taken
 *   at the start, so every event committed before the sweep is in them (else the sweep is skipped);
 * - a blob is removed only when unclaimed *and* older than UPLOAD_ORPHAN_GRACE_SECONDS: an upload
 *   in flight has written its blob but not yet its event (and dedupe only ever points at a blob a
 *   live file claims, so an unclaimed old blob can never become claimed again);
 * - at most once per UPLOAD_SWEEP_INTERVAL across workers (a Redis NX key), however often the
 *   cleanup scheduler fires.
 */
import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../src/config';
import { comparePositions, type EventStore } from '../src/events/store';
import type { BlobStore } from '../src/infra/blobs/store';
import { claimedStorageKeys, filesProjection } from '../src/projections/files';
import { projectionPosition } from '../src/projections/engine';

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
  skipped?: 'projection_behind' | 'recently_swept';
}

export async function sweepBlobs(deps: SweepDeps, blobs: BlobStore, opts: { now?: number; waitMs?: number; force?: boolean } = {}): Promise<SweepResult> {
  if (!opts.force) {
    const first = await deps.redis.set(`${deps.prefix}blobsweep:last`, String(Date.now()), 'EX', deps.config.UPLOAD_SWEEP_INTERVAL, 'NX');
    if (first !== 'OK') return { checked: 0, removed: 0, skipped: 'recently_swept' };
  }
  const head = await deps.store.headPosition();
  const deadline = Date.now() + (opts.waitMs ?? 10_000);
  for (;;) {
    const at = await projectionPosition({ pool: deps.pool, redis: deps.redis, redisPrefix: deps.prefix }, filesProjection);
    if (comparePositions(at, head) >= 0) break;
    if (Date.now() > deadline) {
      deps.log.warn({ projection: 'files' }, 'blob sweep skipped: the files read model is behind the log');
      return { checked: 0, removed: 0, skipped: 'projection_behind' };
    }
    await new Promise((r) => setTimeout(r, 100));
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
  return { checked, removed: doomed.length };
}
