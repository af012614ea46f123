/**
 * The event → job consumer: a projection-like subscription to the event log with its own
 * checkpoint, turning events into BullMQ jobs (routing in jobs.ts).
 * Rules:
 * - enqueue first, then move the checkpoint: a crash in between replays the batch, and the
 *   replayed jobs carry the same ids (derived from event ids), so BullMQ adds nothing: no job is
 *   lost and none is enqueued twice;
 * - the checkpoint write is a compare-and-set on the previous position (like the projection
 *   engine), in the same transaction as the e-mail token index it maintains;
 * - at most one consumer runs across processes (a session advisory lock); others wait on standby
 *   and take over when the holder's connection dies;
 * - woken by an append after a partial page, it waits `gatherMs` (default 50) before reading: its
 *   jobs (mails, cleanups) are not latency-critical, so it reads the appends of that window as one
 *   page instead of one read per append, and it stays out of the way of the append's request and
 *   of the projection runners (read-your-writes waits for those) at the moment they need the CPU.
 */
import pg from 'pg';
import type { Queue } from 'bullmq';
import { START, hasPagedLog, type EventStore, type Position, type RecordedEvent } from '../src/events/store';
import { readBatch } from '../src/projections/engine';
import type { Services } from '../src/services';
import type { QueueName } from './queues';
import { ROUTED_EVENTS, routeEvent, type JobSpec } from './jobs';
import { AppendLoop } from '../src/infra/append-loop';
import { holdAdvisoryLock, inTransaction } from '../src/infra/db';

const CONSUMER_LOCK_NS = 1095582039;
export const DEFAULT_CONSUMER = 'jobs';
const TOKEN_EVENTS = ['EmailVerificationRequested', 'PasswordResetRequested', 'EmailTokenConsumed'];

/** Tables of the workers: consumer checkpoints and the index of outstanding e-mail tokens. */
export const WORKER_SCHEMA = `
CREATE TABLE IF NOT EXISTS worker_checkpoints (
  name             text PRIMARY KEY,
  commit_position  bigint NOT NULL DEFAULT 0,
  prepare_position bigint NOT NULL DEFAULT 0,
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS email_tokens (
  token_id    text PRIMARY KEY,
  kind        text NOT NULL,
  user_id     text NOT NULL,
  token_hash  text NOT NULL,
  expires_at  timestamptz NOT NULL,
  consumed_at timestamptz,
  created_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS email_tokens_expires_idx ON email_tokens (expires_at);
`;

/**
 * Startup task: create the worker tables (idempotent; serialised by an advisory lock). On the very
 * first start the consumer's checkpoint is set to the head of the log: reactions (mails) are for
 * what happens from now on, not for the history of an imported or pre-existing log.
 */
export async function ensureWorkerSchema(pool: pg.Pool, store?: Pick<EventStore, 'headPosition'>): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1, 0)', [CONSUMER_LOCK_NS]);
    await client.query(WORKER_SCHEMA);
    const { rowCount } = await client.query('SELECT 1 FROM worker_checkpoints WHERE name = $1', [DEFAULT_CONSUMER]);
    if (!rowCount && store) {
      const head = await store.headPosition();
      await client.query('INSERT INTO worker_checkpoints (name, commit_position, prepare_position) VALUES ($1, $2, $3)', [
        DEFAULT_CONSUMER, head.commit.toString(), head.prepare.toString(),
      ]);
    }
  });
}

/** The checkpoint without creating it (undefined when the consumer never ran). */
export async function readCheckpoint(db: pg.Pool | pg.ClientBase, name = DEFAULT_CONSUMER): Promise<Position | undefined> {
  const { rows } = await db.query<{ c: string; p: string }>(
    'SELECT commit_position::text AS c, prepare_position::text AS p FROM worker_checkpoints WHERE name = $1',
    [name],
  );
  const r = rows[0];
  return r && { commit: BigInt(r.c), prepare: BigInt(r.p) };
}

export async function loadCheckpoint(db: pg.Pool | pg.ClientBase, name: string): Promise<Position> {
  await db.query('INSERT INTO worker_checkpoints (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [name]);
  const { rows } = await db.query<{ c: string; p: string }>(
    'SELECT commit_position::text AS c, prepare_position::text AS p FROM worker_checkpoints WHERE name = $1',
    [name],
  );
  const r = rows[0];
  return r ? { commit: BigInt(r.c), prepare: BigInt(r.p) } : START;
}

async function indexTokens(client: pg.ClientBase, events: RecordedEvent[]): Promise<void> {
  for (const e of events) {
    const d = e.data as Record<string, string>;
    if (e.type === 'EmailTokenConsumed') {
      await client.query('UPDATE email_tokens SET consumed_at = COALESCE(consumed_at, $2) WHERE token_id = $1', [d.tokenId, e.createdAt]);
    } else if (e.type === 'EmailVerificationRequested' || e.type === 'PasswordResetRequested') {
      await client.query(
        `INSERT INTO email_tokens (token_id, kind, user_id, token_hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (token_id) DO NOTHING`,
        [d.tokenId, e.type === 'PasswordResetRequested' ? 'reset' : 'verification', d.userId, d.tokenHash, d.expiresAt, e.createdAt],
      );
    }
  }
}

export interface ConsumerOptions {
  name?: string;
  /** Event types to read; default: every routed and token event. */
  handles?: readonly string[];
  route?: (e: RecordedEvent) => JobSpec[];
  batchSize?: number;
  idleWaitMs?: number;
  /** After a wait for new appends, how long to let them gather before reading (ms; 0: at once). */
  gatherMs?: number;
}

export interface ConsumerStats {
  events: number;
  jobs: number;
  batches: number;
}

export class EventJobConsumer {
  private lockClient: pg.Client | undefined;
  private readonly control: AppendLoop;
  readonly name: string;
  private readonly handles: readonly string[];
  private readonly route: (e: RecordedEvent) => JobSpec[];
  private readonly batchSize: number;
  private readonly idleWaitMs: number;
  private readonly gatherMs: number;
  /** The last step may have left work (a full page, events above the horizon, a lost compare-and-set). */
  private more = true;
  position: Position = START;
  private known: Position | undefined;
  active = false;
  readonly stats: ConsumerStats = { events: 0, jobs: 0, batches: 0 };

  constructor(
    private readonly services: Pick<Services, 'pool' | 'store' | 'log'>,
    private readonly queues: Record<QueueName, Queue>,
    opts: ConsumerOptions = {},
  ) {
    this.name = opts.name ?? DEFAULT_CONSUMER;
    this.handles = opts.handles ?? [...new Set([...ROUTED_EVENTS, ...TOKEN_EVENTS])];
    this.route = opts.route ?? routeEvent;
    this.batchSize = opts.batchSize ?? 500;
    this.idleWaitMs = opts.idleWaitMs ?? 1000;
    this.gatherMs = opts.gatherMs ?? 50;
    this.control = new AppendLoop(services.store);
  }

  start(): void {
    this.control.start(() => this.loop());
  }

  /** Stops at a batch boundary and releases the lock. */
  async stop(): Promise<void> {
    await this.control.stop();
  }

  private async acquireLock(): Promise<boolean> {
    if (this.lockClient) return true;
    const client = await holdAdvisoryLock(this.services.pool, CONSUMER_LOCK_NS, this.name, (c) => {
      if (this.lockClient === c) {
        this.lockClient = undefined;
        this.active = false;
        this.known = undefined;
      }
    });
    if (!client) return false;
    this.lockClient = client;
    this.active = true;
    return true;
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.control.stopped) {
      try {
        if (!(await this.acquireLock())) {
          await this.control.waker.sleep(2000); // standby: another process runs the consumer
          continue;
        }
        this.control.dirty = false;
        const progressed = await this.step();
        failures = 0;
        // After a partial page: wait for the next append (control.sleep returns at once when one
        // came during the step) instead of reading an empty page to find out.
        if (!progressed || !this.more) {
          await this.control.sleep(this.idleWaitMs);
          // A plain timer, not the waker: the next appends of the window must not end it.
          if (this.gatherMs > 0 && !this.control.stopped) await new Promise((resolve) => setTimeout(resolve, this.gatherMs));
        }
      } catch (err) {
        failures++;
        this.services.log.error({ err, consumer: this.name }, 'event consumer batch failed; retrying');
        await this.control.waker.sleep(Math.min(10_000, 200 * 2 ** Math.min(failures, 6)));
      }
    }
    const c = this.lockClient;
    this.lockClient = undefined;
    this.active = false;
    await c?.end().catch(() => undefined);
  }

  /** One batch: enqueue its jobs, then compare-and-set the checkpoint. Returns whether it progressed. */
  async step(): Promise<boolean> {
    const { pool, store } = this.services;
    // The checkpoint as this runner last wrote it; reloaded after a failed compare-and-set.
    const from = this.known ?? (await loadCheckpoint(pool, this.name));
    const batch = await readBatch(store, this.handles, from, this.batchSize);
    if (!batch.last) {
      this.known = from;
      this.position = from;
      return false;
    }
    const jobs = batch.events.flatMap((e) => this.route(e));
    await this.enqueue(jobs);
    const tokenEvents = batch.events.filter((e) => TOKEN_EVENTS.includes(e.type));
    if (!(await this.moveCheckpoint(from, batch.last, tokenEvents))) {
      // Someone else moved it (a reset, a second runner): our jobs were duplicates, deduped by id.
      this.known = undefined;
      this.more = true;
      return true;
    }
    this.known = batch.last;
    this.position = batch.last;
    // Committed events above the horizon: read again at once (as before), else wait for an append.
    this.more = batch.count >= this.batchSize || (batch.heldBack ?? false);
    this.stats.events += batch.events.length;
    this.stats.jobs += jobs.length;
    this.stats.batches++;
    return true;
  }

  private async moveCheckpoint(from: Position, to: Position, tokenEvents: RecordedEvent[]): Promise<boolean> {
    const cas = `UPDATE worker_checkpoints SET commit_position = $1, prepare_position = $2, updated_at = now()
      WHERE name = $3 AND commit_position = $4 AND prepare_position = $5`;
    const args = [to.commit.toString(), to.prepare.toString(), this.name, from.commit.toString(), from.prepare.toString()];
    if (!tokenEvents.length) {
      // One statement is its own transaction: one round trip.
      return (await this.services.pool.query(cas, args)).rowCount === 1;
    }
    const client = await this.services.pool.connect();
    try {
      await client.query('BEGIN');
      await indexTokens(client, tokenEvents);
      if ((await client.query(cas, args)).rowCount !== 1) {
        await client.query('ROLLBACK');
        return false;
      }
      await client.query('COMMIT');
      return true;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private async enqueue(jobs: JobSpec[]): Promise<void> {
    if (!jobs.length) return;
    const byQueue = new Map<QueueName, JobSpec[]>();
    for (const j of jobs) {
      const list = byQueue.get(j.queue) ?? [];
      list.push(j);
      byQueue.set(j.queue, list);
    }
    await Promise.all(
      [...byQueue].map(([q, list]) => this.queues[q].addBulk(list.map((j) => ({ name: j.name, data: j.data, opts: { jobId: j.jobId } })))),
    );
  }
}

/**
 * Events after the consumer's checkpoint (capped), for metrics and readiness. PostgreSQL counts
 * exactly (PagedLog); other adapters approximate with the prepare-position distance, as
 * projection lag does.
 */
export async function consumerLag(pool: pg.Pool, store: EventStore, name = DEFAULT_CONSUMER, cap = 1_000_000): Promise<number> {
  const p = (await readCheckpoint(pool, name)) ?? START;
  if (hasPagedLog(store)) return store.countAfter(p, cap);
  const head = await store.headPosition();
  return Math.min(cap, Number(head.prepare > p.prepare ? head.prepare - p.prepare : 0n));
}
