/**
 * Log lines joined into one string per turn of the event loop before they reach the batched
 * destination (src/infra/logger.ts), so that its per-write bookkeeping is paid per block, not per
 * line: sonic-boom measures the UTF-8 length of the whole pending buffer on every write, which
 * flattens it — a copy of up to 4 KiB per line, the largest part of an access line's cost once the
 * line is one string (issue 12). Rules enforced here:
 * - every line of every logger on the destination passes here, in order: joining never reorders;
 * - lines reach the destination as soon as 4 KiB are waiting, else at the end of the current turn
 *   (setImmediate); from there the destination's own batching (LOG_BATCH) applies unchanged;
 * - flush, flushSync and end hand over what is waiting first; on process exit (process.exit, an
 *   uncaught exception) what is waiting is handed over and written synchronously, like the
 *   destination's own exit flush, so no line is lost that was not lost before.
 */
import type { DestinationStream } from 'pino';

/** What createLogger's destinations (pino.destination: sonic-boom) offer. */
export interface BatchedDestination extends DestinationStream {
  flush(cb?: (err?: Error | null) => void): void;
  flushSync(): void;
  end(): void;
}

const HAND_OVER_AT = 4096;

/** One exit listener for all batches, holding them weakly (a discarded logger is not kept). */
const batches = new Set<WeakRef<LineBatch>>();
let exitHooked = false;
function onExit(batch: LineBatch): void {
  for (const ref of batches) if (!ref.deref()) batches.delete(ref);
  batches.add(new WeakRef(batch));
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', () => {
    for (const ref of batches) ref.deref()?.exitFlush();
  });
}

export class LineBatch implements DestinationStream {
  private waiting = '';
  private scheduled = false;
  private readonly handOverSoon = () => {
    this.scheduled = false;
    this.handOver();
  };
  private ended = false;

  constructor(private readonly dest: BatchedDestination) {
    onExit(this);
  }

  /** On process exit: what is waiting is handed over and written synchronously. */
  exitFlush(): void {
    if (!this.waiting || this.ended) return;
    this.handOver();
    try {
      this.dest.flushSync();
    } catch {
      // As pino's own exit flush: a destination that cannot write now is not fixed by throwing.
    }
  }

  write(line: string): boolean {
    this.waiting += line;
    if (this.waiting.length >= HAND_OVER_AT) this.handOver();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.handOverSoon);
    }
    return true;
  }

  flush(cb?: (err?: Error | null) => void): void {
    this.handOver();
    this.dest.flush(cb);
  }

  flushSync(): void {
    this.handOver();
    this.dest.flushSync();
  }

  end(): void {
    this.handOver();
    this.ended = true;
    this.dest.end();
  }

  private handOver(): void {
    if (!this.waiting) return;
    const block = this.waiting;
    this.waiting = '';
    this.dest.write(block);
  }
}
