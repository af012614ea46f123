/**
 * The start/stop of a loop that sleeps until an append wakes it (the projection runners, the
 * workers' event consumer). Rules:
 * - `start(loop)` runs the loop once (a second start while it runs does nothing) and subscribes
 *   to the store's appends: each sets `dirty` and ends the loop's current `waker` sleep;
 * - `sleep(ms)` is the loop's wait for new work: it returns at once when an append came since the
 *   loop last cleared `dirty`. A signal that arrives while the loop is awake (between its last read
 *   and its sleep, e.g. during an await after the read found nothing) is therefore never lost: the
 *   waker alone ends only a sleep in progress, and such a signal would wait for the next one or the
 *   idle timeout;
 * - `stop()` sets `stopped`, unsubscribes, wakes the loop and waits for it to return (the loop
 *   checks `stopped` at its batch boundaries).
 */
import { Waker } from './waker';

export interface AppendSource {
  onAppended(listener: () => void): () => void;
}

export class AppendLoop {
  stopped = false;
  /** An append came since the loop last cleared this. */
  dirty = false;
  readonly waker = new Waker();
  private running: Promise<void> | undefined;
  private offAppended: (() => void) | undefined;

  constructor(private readonly source: AppendSource) {}

  start(loop: () => Promise<void>): void {
    if (this.running) return;
    this.stopped = false;
    this.offAppended = this.source.onAppended(() => {
      this.dirty = true;
      this.waker.wake();
    });
    this.running = loop();
  }

  /** Sleeps up to `ms`, ended by an append; at once when one came since `dirty` was cleared, or when stopped. */
  sleep(ms: number): Promise<void> {
    if (this.dirty || this.stopped) return Promise.resolve();
    return this.waker.sleep(ms);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.offAppended?.();
    this.offAppended = undefined;
    this.waker.wake();
    await this.running;
    this.running = undefined;
  }
}
