/**
 * One log-page read for the followers of a process that ask for the same page at once.
 *
 * After an append every follower of the process (the PostgreSQL projection group, each Redis
 * projection runner, each worker consumer, the realtime hub) wakes and reads the page after its
 * position; caught up, they all read the same page: one round trip and one index scan each,
 * ~9 per login before this. Now a read joins one already in flight when
 * - it starts where that one starts, with no upper bound (live reads; rebuilds read alone),
 * - no append signal came since that one was sent (so it sees every event the joiner was woken
 *   for: a signal follows its commit, and the shared read's snapshot was taken after the signal),
 * - that one asks for at least as many rows (a longer page is cut to the joiner's length, and
 *   then says nothing is held back: the joiner reads on anyway, its page being full),
 * - and fetches payloads for every event type the joiner wants.
 * To make the last hold, a live read fetches the payloads of every type a live reader of this
 * process has asked for (the union only grows; followers' type lists are fixed), not only its own.
 * Callers filter rows by their own types already (rows of other types are position-only to them).
 */
import type { EventRow } from './rows';

export interface PageRead {
  rows: EventRow[];
  heldBack: boolean;
}

interface InFlight {
  signal: number;
  maxCount: number;
  /** Union version the read was sent with; Infinity-like `all` when it fetched every type. */
  version: number;
  all: boolean;
  result: Promise<PageRead>;
}

export class SharedPageReads {
  private readonly inFlight = new Map<string, InFlight>();
  private readonly union = new Set<string>();
  private unionArray: string[] = [];
  private all = false;
  private version = 0;
  /** Per type list: the union version from which the union covers it. */
  private readonly coveredFrom = new WeakMap<readonly string[], number>();
  /** Reads answered by joining another (tests and metrics). */
  joined = 0;
  /** Reads sent to PostgreSQL through here. */
  sent = 0;

  /**
   * `signal` is the store's append-signal counter now; `read(types)` sends the real read
   * for the given types (undefined: every type).
   */
  read(key: string, signal: number, maxCount: number, types: readonly string[] | undefined, send: (types: readonly string[] | undefined) => Promise<PageRead>): Promise<PageRead> {
    const need = this.cover(types);
    const cur = this.inFlight.get(key);
    if (cur && cur.signal === signal && cur.maxCount >= maxCount && (cur.all || (need !== 'all' && need <= cur.version))) {
      this.joined++;
      return cur.maxCount === maxCount ? cur.result : cur.result.then((r) => (r.rows.length > maxCount ? { rows: r.rows.slice(0, maxCount), heldBack: false } : r));
    }
    this.sent++;
    const entry: InFlight = {
      signal,
      maxCount,
      version: this.version,
      all: this.all,
      result: send(this.all ? undefined : this.unionArray),
    };
    this.inFlight.set(key, entry);
    const clear = () => {
      if (this.inFlight.get(key) === entry) this.inFlight.delete(key);
    };
    entry.result.then(clear, clear);
    return entry.result;
  }

  /** Adds `types` to the union; the version from which it is covered ('all' for every type). */
  private cover(types: readonly string[] | undefined): number | 'all' {
    if (!types) {
      if (!this.all) {
        this.all = true;
        this.version++;
      }
      return 'all';
    }
    const known = this.coveredFrom.get(types);
    if (known !== undefined) return known;
    let grew = false;
    for (const t of types) {
      if (!this.union.has(t)) {
        this.union.add(t);
        grew = true;
      }
    }
    if (grew) {
      this.version++;
      this.unionArray = [...this.union].sort();
    }
    this.coveredFrom.set(types, this.version);
    return this.version;
  }
}
