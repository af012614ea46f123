/**
 * How the EventStoreDB adapter survives a broken subscription (issue 19).
 * Rules:
 * - every failure is logged (warn; error once it keeps failing) and counted
 *   (`event_store_subscription_errors_total`, labels `source` and `reason`) — never silent;
 * - retries wait 100 ms · 2^(n-1), capped at 10 s; a subscription that stayed up longer than the
 *   cap, or delivered an event, starts again from the shortest delay;
 * - the wait ends early when the subscription is stopped or the store closed;
 * - an error before the server delivered anything that is not a connectivity error means the
 *   server refused the request (e.g. a filter it cannot run): the caller falls back once, loudly.
 * This folder may not import infra, so the logger and the counter come in as plain interfaces
 * (pino's Logger and prom-client's Counter fit them).
 */
import {
  CancelledError,
  DeadlineExceededError,
  NotLeaderError,
  TimeoutError,
  UnavailableError,
} from '@eventstore/db-client';
import { isTransportResetMessage } from './transport-reset';

export interface EsdbLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export type SubscriptionErrorSource = 'subscription' | 'watcher';
export type SubscriptionErrorReason = 'dropped' | 'filter_refused';

export interface SubscriptionErrorCounter {
  inc(labels: { source: SubscriptionErrorSource; reason: SubscriptionErrorReason }): void;
}

export interface EsdbStoreOptions {
  /** Where subscription failures are logged. Default: one JSON line on stderr per failure. */
  log?: EsdbLog;
  /** `event_store_subscription_errors_total` (src/infra/metrics.ts); absent: not counted. */
  subscriptionErrors?: SubscriptionErrorCounter;
  /** Shortest retry delay (ms, default 100); tests shorten it. */
  retryBaseMs?: number;
  /** Longest retry delay (ms, default 10 000). */
  retryMaxMs?: number;
}

export const stderrLog: EsdbLog = {
  warn: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'warn', msg, ...describe(obj) })}\n`),
  error: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'error', msg, ...describe(obj) })}\n`),
};

function describe(obj: object): object {
  const o = obj as { err?: unknown };
  return o.err instanceof Error ? { ...obj, err: { name: o.err.name, message: o.err.message } } : obj;
}

/** Errors that say "the connection or the node", not "your request". */
export function isConnectivityError(err: unknown): boolean {
  return err instanceof UnavailableError || err instanceof DeadlineExceededError || err instanceof TimeoutError
    || err instanceof NotLeaderError || err instanceof CancelledError;
}

/** A call whose connection was reset (./transport-reset.ts) or that found no node: db-client reconnects on the next call. */
export function isTransportReset(err: unknown): boolean {
  return err instanceof UnavailableError || (err instanceof Error && isTransportResetMessage(err.message));
}

/**
 * A read (never an append) tried once more, after `pauseMs`, when its connection was reset under
 * it: reads are idempotent, and a command's aggregate load or a query should not fail for a
 * connection the client replaces at once. A second failure is the caller's (a 503).
 */
export async function retryRead<T>(read: () => Promise<T>, pauseMs = 20): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (!isTransportReset(err)) throw err;
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    return read();
  }
}

/** Consecutive failures → next delay, with reset rules (see the module comment). */
export class Backoff {
  private failures = 0;
  private startedAt = Date.now();

  constructor(
    private readonly baseMs = 100,
    private readonly maxMs = 10_000,
  ) {}

  get attempts(): number {
    return this.failures;
  }

  /** A new attempt starts now. */
  started(): void {
    this.startedAt = Date.now();
  }

  /** The attempt delivered something: it works again. */
  succeeded(): void {
    this.failures = 0;
  }

  /** The attempt failed: the delay before the next one. */
  failed(): number {
    if (Date.now() - this.startedAt > this.maxMs) this.failures = 0;
    this.failures++;
    return Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.failures - 1, 20));
  }
}

/** A sleep that `wake()` ends early (stop, close). */
export class Sleeper {
  private wakers = new Set<() => void>();

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  wake(): void {
    for (const w of [...this.wakers]) w();
  }
}
