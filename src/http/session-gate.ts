/**
 * Is session <sid> still active? Answered from memory on the hot path. Rules:
 * - the truth is the Redis session hash (`status` = active); a missing hash is "not active";
 * - a session seen active is remembered only while this process is subscribed to
 *   `<prefix>session-ended`; every ended session is published there (by the command that ends
 *   it, and again by the projection), so each process forgets it at once;
 * - an ended session is remembered as ended (sticky, beating any in-flight lookup) until every
 *   access token of it has expired;
 * - while the subscription is down nothing is remembered as active: every check asks Redis
 *   (and fails closed when Redis cannot answer);
 * - while Redis is rebuilding its session state (it came back empty, src/projections/redis-epoch.ts)
 *   a session Redis does not know is asked of the log (`fallback`): active if its stream says so.
 *   Bounded cost: the stream's last event (and its first when needed), once per session — the
 *   answer is remembered like any other.
 */
import type { Redis } from 'ioredis';
import type { EventStore } from '../events/store';
import { streams } from '../events/streams';
import { sessionEndedChannel, sessionKey } from '../projections/session-state';

/** Asks the log about sessions Redis does not know, while Redis rebuilds. */
export interface SessionLogFallback {
  /** Whether the session state in Redis is being rebuilt (asked at most once a second). */
  rebuilding(): Promise<boolean>;
  activeInLog(sid: string): Promise<boolean>;
}

/** Is the session active according to its stream? Its last event, and its first when the last does not say when it expires. */
export async function sessionActiveInLog(store: EventStore, sid: string, now = Date.now()): Promise<boolean> {
  const name = streams.session(sid);
  const [last] = await store.readStream(name, { direction: 'backwards', maxCount: 1 });
  if (!last || last.type === 'SessionRevoked' || last.type === 'SessionExpired') return false;
  let expiresAt = (last.data as { expiresAt?: string }).expiresAt;
  if (!expiresAt) {
    const [first] = await store.readStream(name, { maxCount: 1 });
    if (first?.type !== 'SessionStarted') return false;
    expiresAt = (first.data as { expiresAt?: string }).expiresAt;
  }
  return !!expiresAt && Date.parse(expiresAt) > now;
}

export class SessionGate {
  private readonly active = new Map<string, number>();
  private readonly ended = new Map<string, number>();
  private sub: Redis | undefined;
  private subscribed = false;
  /** Bumped whenever the subscription drops: lookups started before it cannot fill the cache. */
  private epoch = 0;
  private sweep: NodeJS.Timeout | undefined;
  private readonly echoes = new Map<string, Set<() => void>>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly opts: { endedMemoryMs: number; activeMemoryMs?: number; maxEntries?: number; fallback?: SessionLogFallback },
  ) {}

  /** Sessions answered from the log while Redis was rebuilding (tests, metrics). */
  logAnswers = 0;
  private rebuildingUntil = 0;
  private rebuildingValue = false;

  private async rebuilding(): Promise<boolean> {
    const fb = this.opts.fallback;
    if (!fb) return false;
    if (Date.now() < this.rebuildingUntil) return this.rebuildingValue;
    this.rebuildingValue = await fb.rebuilding();
    this.rebuildingUntil = Date.now() + 1000;
    return this.rebuildingValue;
  }

  async start(): Promise<void> {
    const sub = this.redis.duplicate({ enableOfflineQueue: true, lazyConnect: true, maxRetriesPerRequest: null });
    this.sub = sub;
    const channel = sessionEndedChannel(this.prefix);
    const down = () => {
      this.subscribed = false;
      this.epoch++;
      this.active.clear();
    };
    sub.on('error', () => undefined);
    sub.on('close', down);
    sub.on('end', down);
    sub.on('message', (ch: string, sid: string) => {
      if (ch !== channel) return;
      this.markEnded(sid);
      const waiters = this.echoes.get(sid);
      if (waiters) for (const w of waiters) w();
    });
    sub.on('ready', () => {
      // ioredis re-subscribes on reconnect; confirm before trusting the cache again.
      void sub.subscribe(channel).then(() => {
        this.epoch++;
        this.subscribed = true;
      }, () => undefined);
    });
    await sub.connect().catch(() => undefined);
    this.sweep = setInterval(() => this.prune(), 30_000);
    this.sweep.unref();
  }

  async stop(): Promise<void> {
    if (this.sweep) clearInterval(this.sweep);
    this.subscribed = false;
    this.sub?.disconnect();
    this.sub = undefined;
  }

  /** Records locally that a session ended (also called by commands in this process, before publishing). */
  markEnded(sid: string): void {
    this.active.delete(sid);
    this.ended.set(sid, Date.now() + this.opts.endedMemoryMs);
    if (this.ended.size > (this.opts.maxEntries ?? 200_000)) this.prune();
  }

  /**
   * A promise settled when this process's subscription delivers the end of `sid` (or after
   * `timeoutMs`). Register it before ending the session: the command answers only once the
   * news is out on the pub/sub channel, which every process reads from the same Redis pass.
   */
  expectEnded(sid: string, timeoutMs = 100): { done: Promise<void>; cancel(): void } {
    if (!this.subscribed) return { done: Promise.resolve(), cancel: () => undefined };
    let finish!: () => void;
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(() => finish(), timeoutMs);
      finish = () => {
        clearTimeout(timer);
        const set = this.echoes.get(sid);
        set?.delete(finish);
        if (set && !set.size) this.echoes.delete(sid);
        resolve();
      };
    });
    let set = this.echoes.get(sid);
    if (!set) this.echoes.set(sid, (set = new Set()));
    set.add(finish);
    return { done, cancel: finish };
  }

  /** Sync answer when memory knows (true/false), undefined when Redis must be asked. */
  known(sid: string): boolean | undefined {
    if (this.ended.has(sid)) return false;
    const until = this.active.get(sid);
    if (until !== undefined && until > Date.now()) return true;
    return undefined;
  }

  async isActive(sid: string): Promise<boolean> {
    const k = this.known(sid);
    if (k !== undefined) return k;
    const epoch = this.epoch;
    const status = await this.redis.hget(sessionKey(this.prefix, sid), 'status');
    let ok = status === 'active';
    if (status === null && this.opts.fallback && (await this.rebuilding())) {
      ok = await this.opts.fallback.activeInLog(sid);
      this.logAnswers++;
    }
    if (ok && this.subscribed && epoch === this.epoch && !this.ended.has(sid)) {
      if (this.active.size >= (this.opts.maxEntries ?? 200_000)) this.active.clear();
      this.active.set(sid, Date.now() + (this.opts.activeMemoryMs ?? 300_000));
    }
    return ok && !this.ended.has(sid);
  }

  get isSubscribed(): boolean {
    return this.subscribed;
  }

  private prune(): void {
    const now = Date.now();
    for (const [sid, until] of this.ended) if (until <= now) this.ended.delete(sid);
    for (const [sid, until] of this.active) if (until <= now) this.active.delete(sid);
  }
}
