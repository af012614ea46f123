/**
 * Cleanup jobs, run as BullMQ job schedulers (repeatable jobs) on the `low` queue.
 * Rules:
 * - every job is idempotent and safe with several workers at once: expiry events are appended
 *   with the stream's current revision as expectedRevision and an event id derived from the
 *   stream, so a concurrent refresh wins cleanly (we retry next run) and two cleaners append once;
 * - a decision is re-made from the stream (the write side), never from the candidate index;
 * - Redis state follows at once (inline, revision-guarded, idempotent with the projections).
 */
import type { Job, Queue } from 'bullmq';
import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../src/config';
import { WrongExpectedVersionError, type EventStore } from '../src/events/store';
import type { InlineProjections } from '../src/projections/inline';
import { loadSession, runSessionCommand } from '../src/commands/identity/service';
import { sessionKey, userSessionsKey } from '../src/projections/session-state';
import { expireDueApiKeys } from '../src/commands/api-keys/handlers';
import { foldApiKeyUsage } from '../src/projections/api-key-usage';
import { derivedId } from './handlers';
import { writeCheckpoint } from '../src/events/postgres/checkpoints';
import { anchorFileName, writeAnchor } from '../src/ops/anchors';
import { sweepBlobs } from './blob-sweep';
import { blobStoreFor } from '../src/infra/blobs/store';

export interface CleanupDeps {
  config: Config;
  log: Logger;
  pool: pg.Pool;
  redis: Redis;
  prefix: string;
  store: EventStore;
  /** The inline projections of the commands the jobs run (`services.inline`). */
  inline: InlineProjections;
}

export const CLEANUP_JOBS = ['expire-sessions', 'expire-api-keys', 'fold-api-key-usage', 'prune-email-tokens', 'anchor-log', 'sweep-blobs'] as const;
export type CleanupJob = (typeof CLEANUP_JOBS)[number];

/**
 * Registers (or updates) one scheduler per cleanup job. Idempotent: every worker may call it.
 * The usage fold runs every `foldEveryMs` (USAGE_FOLD_INTERVAL): that interval bounds the usage
 * a loss of Redis can take (docs/redis.md).
 */
export async function scheduleCleanup(queue: Queue, everyMs: number, foldEveryMs = everyMs, anchorEveryMs = everyMs): Promise<void> {
  for (const name of CLEANUP_JOBS) {
    const every = name === 'fold-api-key-usage' ? foldEveryMs : name === 'anchor-log' ? anchorEveryMs : everyMs;
    await queue.upsertJobScheduler(`cleanup-${name}`, { every }, {
      name,
      data: {},
      opts: { attempts: 3, backoff: { type: 'exponential', delay: 5000 }, removeOnComplete: { count: 100 }, removeOnFail: { count: 1000 } },
    });
  }
}

/** The queues this process keeps the schedulers of (the worker role): what its /ready checks. */
const keepers = new Set<Queue>();

/** `/ready` of a process running the worker role: every cleanup scheduler is registered. */
export async function cleanupSchedulesCheck(): Promise<{ ok: boolean; detail?: unknown }> {
  if (!keepers.size) return { ok: true, detail: 'no worker role in this process' };
  const missing = [...new Set((await Promise.all([...keepers].map(missingCleanupSchedules))).flat())];
  return missing.length ? { ok: false, detail: { missing } } : { ok: true, detail: { schedulers: CLEANUP_JOBS.length } };
}

/** The cleanup schedulers missing from Redis (empty: all registered). */
export async function missingCleanupSchedules(queue: Queue): Promise<string[]> {
  const present = new Set((await queue.getJobSchedulers(0, -1)).map((s) => s.key));
  return CLEANUP_JOBS.map((n) => `cleanup-${n}`).filter((k) => !present.has(k));
}

/**
 * Keeps the schedulers registered: again on every Redis (re)connection — Redis may have come
 * back empty and taken them along (issue 21) — and checked once per interval in case the data
 * went without a reconnection (FLUSHALL, failover). Returns a stop function.
 */
export function keepCleanupScheduled(queue: Queue, redis: Redis, everyMs: number, foldEveryMs: number, log: Pick<Logger, 'info' | 'warn'>, anchorEveryMs = everyMs): () => void {
  let stopped = false;
  const register = (why: string) => {
    if (stopped) return;
    scheduleCleanup(queue, everyMs, foldEveryMs, anchorEveryMs).then(
      () => log.info({ why }, 'cleanup schedulers registered'),
      (err) => log.warn({ err: (err as Error).message, why }, 'could not register cleanup schedulers; retrying on the next check'),
    );
  };
  const onReady = () => register('redis reconnected');
  keepers.add(queue);
  redis.on('ready', onReady);
  const timer = setInterval(() => {
    missingCleanupSchedules(queue).then((missing) => { if (missing.length) register(`missing: ${missing.join(', ')}`); }, () => undefined);
  }, Math.max(1000, Math.min(everyMs, foldEveryMs, 30_000)));
  timer.unref();
  return () => {
    stopped = true;
    keepers.delete(queue);
    redis.off('ready', onReady);
    clearInterval(timer);
  };
}

/** Sessions whose Redis state says they are past their idle or absolute lifetime (or vanished); SCAN, never KEYS. */
async function sessionCandidates(deps: CleanupDeps, now: number): Promise<{ sessionId: string; userId: string }[]> {
  const { redis, prefix, config } = deps;
  const out: { sessionId: string; userId: string }[] = [];
  const idleMs = config.REFRESH_IDLE_TTL * 1000;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${userSessionsKey(prefix, '')}*`, 'COUNT', 500);
    cursor = next;
    for (const key of keys) {
      const userId = key.slice(userSessionsKey(prefix, '').length);
      const ids = await redis.smembers(key);
      if (!ids.length) continue;
      const p = redis.pipeline();
      for (const sid of ids) p.hmget(sessionKey(prefix, sid), 'status', 'lastUsedAt', 'expiresAt');
      const res = (await p.exec()) ?? [];
      ids.forEach((sessionId, i) => {
        const [status, lastUsedAt, expiresAt] = (res[i]?.[1] ?? []) as (string | null)[];
        const gone = !status; // the hash lived out its TTL: the session certainly ended
        const absolute = expiresAt ? Date.parse(expiresAt) <= now : false;
        const idle = lastUsedAt ? Date.parse(lastUsedAt) + idleMs <= now : false;
        if (gone || absolute || idle) out.push({ sessionId, userId });
      });
    }
  } while (cursor !== '0');
  return out;
}

/** Candidates from the `sessions` read model (when the projector keeps it), capped per run. */
async function sessionCandidatesFromReadModel(deps: CleanupDeps, now: number): Promise<{ sessionId: string; userId: string }[]> {
  const view = await deps.pool.query(`SELECT 1 FROM pg_views WHERE viewname = 'sessions'`);
  if (!view.rowCount) return [];
  const { rows } = await deps.pool.query<{ id: string; user_id: string }>(
    `SELECT id, user_id FROM sessions WHERE status = 'active'
       AND (expires_at <= $1 OR COALESCE(last_rotated_at, created_at) <= $2) LIMIT 5000`,
    [new Date(now), new Date(now - deps.config.REFRESH_IDLE_TTL * 1000)],
  );
  return rows.map((r) => ({ sessionId: r.id, userId: r.user_id }));
}

/**
 * Sessions past their lifetime: from the Redis session state (always there: commands write it
 * inline) and from the read model (catches sessions whose Redis state is gone). Each is decided
 * again from its stream before anything is appended.
 */
export async function expireSessions(deps: CleanupDeps, now = Date.now()): Promise<{ expired: number; raced: number; checked: number }> {
  const seen = new Set<string>();
  const candidates = [...(await sessionCandidates(deps, now)), ...(await sessionCandidatesFromReadModel(deps, now))]
    .filter((c) => !seen.has(c.sessionId) && seen.add(c.sessionId));
  let expired = 0;
  let raced = 0;
  for (const c of candidates) {
    // First and last event only (identity's loader): the cost does not grow with the session's age.
    const loaded = await loadSession(deps.store, c.sessionId);
    const { state, revision } = loaded;
    if (revision === 'no_stream' || state.status !== 'active') {
      // Unknown or ended already (the projection may lag): just make the Redis set agree.
      await deps.redis.srem(userSessionsKey(deps.prefix, c.userId), c.sessionId);
      continue;
    }
    try {
      // The session decider's expiry rule, decided on the revision just read (a race is decided again next run).
      const r = await runSessionCommand(
        deps, c.sessionId,
        { type: 'Expire', now: new Date(now), idleSeconds: deps.config.REFRESH_IDLE_TTL, eventId: derivedId(`session-expired|${c.sessionId}|${revision}`) },
        { causationId: 'cleanup' },
        { loaded },
      );
      if (r.appended.length) expired++;
    } catch (err) {
      if (!(err instanceof WrongExpectedVersionError)) throw err;
      raced++; // a refresh or logout got there first: decided again next run
    }
  }
  return { expired, raced, checked: candidates.length };
}

/** Expires API keys past `expires_at` through the write side's decider (idempotent, race-safe). */
export async function expireApiKeys(deps: CleanupDeps, now = new Date()): Promise<{ expired: number }> {
  const exists = await deps.pool.query(`SELECT 1 FROM pg_views WHERE viewname = 'api_keys'`);
  if (!exists.rowCount) return { expired: 0 };
  return { expired: await expireDueApiKeys(deps, now) };
}

/** Deletes spent and expired tokens from the token index (the log keeps only their hashes). */
export async function pruneEmailTokens(deps: Pick<CleanupDeps, 'pool'>, now = new Date()): Promise<{ pruned: number }> {
  const { rowCount } = await deps.pool.query('DELETE FROM email_tokens WHERE consumed_at IS NOT NULL OR expires_at <= $1', [now]);
  return { pruned: rowCount ?? 0 };
}

/**
 * The log's tamper evidence (issue 20 §10): a checkpoint of the cross-stream chain in PostgreSQL
 * and, with ANCHOR_DIR, a signed anchor file there (keep that directory on other storage).
 */
export async function anchorLog(deps: CleanupDeps): Promise<{ checkpoint?: string; anchor?: string }> {
  if (deps.store.kind !== 'postgres') return {};
  if (deps.config.ANCHOR_DIR) {
    const file = anchorFileName(deps.config.ANCHOR_DIR);
    const a = await writeAnchor(deps.pool, deps.config, file);
    return { checkpoint: a.anchor.seq, anchor: file };
  }
  const cp = await writeCheckpoint(deps.pool, { waitForHeadMs: 2000 });
  return { checkpoint: cp?.seq };
}

export function cleanupProcessor(deps: CleanupDeps) {
  return async (job: Job): Promise<unknown> => {
    switch (job.name as CleanupJob) {
      case 'expire-sessions':
        return expireSessions(deps);
      case 'expire-api-keys':
        return expireApiKeys(deps);
      case 'fold-api-key-usage':
        return foldApiKeyUsage({ pool: deps.pool, redis: deps.redis, prefix: deps.prefix });
      case 'prune-email-tokens':
        return pruneEmailTokens(deps);
      case 'anchor-log':
        return anchorLog(deps);
      case 'sweep-blobs':
        return sweepBlobs(deps, blobStoreFor(deps.config));
      default:
        throw new Error(`unknown cleanup job ${job.name}`);
    }
  };
}
