/**
 * Where projections' checkpoints are: the latest known checkpoint of every projection, kept in
 * memory and refreshed by notifications, so a reader can wait until a projection has passed a
 * position (read-your-writes). Rules:
 * - a checkpoint advance is announced where it is committed, in the same transaction: a
 *   PostgreSQL batch NOTIFYs `authledger_checkpoints` inside its transaction (delivered on commit,
 *   never for a rolled-back batch); a Redis batch PUBLISHes `<prefix>checkpoints` inside its MULTI.
 *   Two mechanisms, because each is atomic only with its own store's checkpoint: a notice can then
 *   never run ahead of the checkpoint it announces, and a committed one is never lost for a
 *   connected listener;
 * - in the runner's own process the advance is also emitted locally, before the notice's round
 *   trip (`localCheckpoints`);
 * - the cache only moves forwards; it is loaded after the listeners are up (and again after each
 *   reconnection), so no advance falls between the load and the first notice;
 * - waiting never polls while both listeners are up: a waiter wakes on an advance or its timeout.
 *   While a listener is down (reconnecting), waiters re-read the checkpoints every
 *   `degradedRefreshMs` instead: slower, never stale.
 */
import { EventEmitter } from 'node:events';
import type pg from 'pg';
import type { Redis } from 'ioredis';
import { comparePositions, START, type Position } from '../events/store';
import { PgListener } from '../infra/pg-listen';
import type { Projection } from './types';

export const PG_CHECKPOINT_CHANNEL = 'authledger_checkpoints';
export const redisCheckpointChannel = (prefix: string): string => `${prefix}checkpoints`;

/** The notice payload: `<projection> <commit> <prepare>`. */
export const checkpointNotice = (name: string, p: Position): string => `${name} ${p.commit} ${p.prepare}`;

function parseNotice(text: string): { name: string; position: Position } | undefined {
  const m = /^(\S+) (\d+) (\d+)$/.exec(text);
  return m ? { name: m[1]!, position: { commit: BigInt(m[2]!), prepare: BigInt(m[3]!) } } : undefined;
}

const local = new WeakMap<object, EventEmitter>();

/** Advances committed by runners of this process, per pool (one deployment): `advance(name, position)`. */
export function localCheckpoints(pool: object): EventEmitter {
  let e = local.get(pool);
  if (!e) {
    e = new EventEmitter();
    e.setMaxListeners(0);
    local.set(pool, e);
  }
  return e;
}

export interface FeedDeps {
  pool: pg.Pool;
  redis?: Redis;
  prefix: string;
  projections: readonly Projection[];
  log?: { warn(o: object, m?: string): void };
  degradedRefreshMs?: number;
}

interface Waiter {
  names: readonly string[];
  position: Position;
  resolve(ok: boolean): void;
}

export class CheckpointFeed {
  private readonly known = new Map<string, Position>();
  private readonly waiters = new Set<Waiter>();
  private readonly kinds = new Map<string, Projection['kind']>();
  private readonly listener: PgListener;
  private sub: Redis | undefined;
  private redisLive = false;
  private stopped = false;
  private degraded: NodeJS.Timeout | undefined;
  private readonly onLocal = (name: string, position: Position) => this.advance(name, position);

  constructor(private readonly deps: FeedDeps) {
    for (const p of deps.projections) this.kinds.set(p.name, p.kind);
    this.listener = new PgListener({
      pool: deps.pool, channel: PG_CHECKPOINT_CHANNEL, label: 'checkpoint listener', log: deps.log,
      onNotice: (text) => this.onNotice(text),
      onLive: () => this.settleDegraded(),
      // Re-read what was committed while no notice could arrive.
      onReconnect: () => void this.refresh().catch(() => undefined),
    });
  }

  get names(): string[] {
    return [...this.kinds.keys()];
  }

  /** Both listeners are up: waiting needs no reads. */
  get live(): boolean {
    return this.listener.live && (this.redisLive || !this.hasRedisProjections);
  }

  private get hasRedisProjections(): boolean {
    return [...this.kinds.values()].includes('redis') && !!this.deps.redis;
  }

  async start(): Promise<void> {
    localCheckpoints(this.deps.pool).on('advance', this.onLocal);
    await Promise.all([this.listener.start(), this.listenRedis()]);
    await this.refresh().catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    localCheckpoints(this.deps.pool).off('advance', this.onLocal);
    if (this.degraded) clearInterval(this.degraded);
    for (const w of this.waiters) w.resolve(false);
    this.waiters.clear();
    await this.listener.stop();
    this.sub?.disconnect();
    this.sub = undefined;
  }

  /** The latest checkpoint known for a projection. */
  position(name: string): Position {
    return this.known.get(name) ?? START;
  }

  /** Every named projection's checkpoint is at or past `position` (from memory). */
  passed(names: readonly string[], position: Position): boolean {
    for (const n of names) if (comparePositions(this.position(n), position) < 0) return false;
    return true;
  }

  /**
   * Resolves true once every named projection has passed `position`, false after `timeoutMs`.
   * Immediate when the cache already says so.
   */
  wait(names: readonly string[], position: Position, timeoutMs: number): Promise<boolean> {
    for (const n of names) if (!this.kinds.has(n)) throw new Error(`unknown projection ${n}`);
    if (this.passed(names, position)) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        names,
        position,
        resolve: (ok) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          this.settleDegraded();
          resolve(ok);
        },
      };
      const timer = setTimeout(() => waiter.resolve(this.passed(names, position)), timeoutMs);
      this.waiters.add(waiter);
      this.settleDegraded();
    });
  }

  /** Records an advance (never moves backwards) and wakes the waiters it satisfies. */
  advance(name: string, position: Position): void {
    const cur = this.known.get(name);
    if (cur && comparePositions(cur, position) >= 0) return;
    this.known.set(name, position);
    for (const w of [...this.waiters]) if (w.names.includes(name) && this.passed(w.names, w.position)) w.resolve(true);
  }

  /** Re-reads every checkpoint (start, reconnection, degraded mode). */
  async refresh(): Promise<void> {
    const pgNames = [...this.kinds].filter(([, k]) => k === 'postgres').map(([n]) => n);
    const redisNames = [...this.kinds].filter(([, k]) => k === 'redis').map(([n]) => n);
    const [{ rows }, raw] = await Promise.all([
      this.deps.pool.query<{ name: string; c: string; p: string }>(
        'SELECT name, commit_position::text AS c, prepare_position::text AS p FROM projections WHERE name = ANY($1)',
        [pgNames],
      ),
      this.deps.redis && redisNames.length
        ? this.deps.redis.mget(...redisNames.map((n) => `${this.deps.prefix}projection:${n}:checkpoint`))
        : Promise.resolve([] as (string | null)[]),
    ]);
    for (const r of rows) this.advance(r.name, { commit: BigInt(r.c), prepare: BigInt(r.p) });
    raw.forEach((v, i) => {
      if (!v) return;
      const [c, p] = v.split(':');
      this.advance(redisNames[i]!, { commit: BigInt(c!), prepare: BigInt(p!) });
    });
  }

  private onNotice(text: string | undefined): void {
    const n = text ? parseNotice(text) : undefined;
    if (n && this.kinds.has(n.name)) this.advance(n.name, n.position);
  }

  /** Degraded mode: a listener is down and someone waits → re-read now and then. */
  private settleDegraded(): void {
    const need = !this.live && this.waiters.size > 0 && !this.stopped;
    if (need && !this.degraded) {
      this.degraded = setInterval(() => void this.refresh().catch(() => undefined), this.deps.degradedRefreshMs ?? 100);
      this.degraded.unref();
    } else if (!need && this.degraded) {
      clearInterval(this.degraded);
      this.degraded = undefined;
    }
  }

  private async listenRedis(): Promise<void> {
    if (!this.deps.redis || !this.hasRedisProjections) return;
    const channel = redisCheckpointChannel(this.deps.prefix);
    const sub = this.deps.redis.duplicate({ enableOfflineQueue: true, lazyConnect: true, maxRetriesPerRequest: null });
    this.sub = sub;
    const down = () => {
      this.redisLive = false;
      this.settleDegraded();
    };
    sub.on('error', () => undefined);
    sub.on('close', down);
    sub.on('end', down);
    sub.on('message', (ch: string, text: string) => {
      if (ch === channel) this.onNotice(text);
    });
    sub.on('ready', () => {
      // ioredis re-subscribes on reconnect; confirm, then re-read what passed meanwhile.
      void sub.subscribe(channel).then(() => {
        this.redisLive = true;
        this.settleDegraded();
        return this.refresh();
      }).catch(() => undefined);
    });
    // The first connection: 'ready' fires during connect() and subscribes; wait for that here.
    await sub.connect().catch(() => undefined);
    await sub.subscribe(channel).then(() => {
      this.redisLive = true;
    }, () => undefined);
  }
}
