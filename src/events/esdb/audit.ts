/**
 * The EventStoreDB adapter's `audit-log` capability, built on the store's own reads.
 * Rules (the same answers as the PostgreSQL adapter's SQL, src/events/postgres/audit.ts):
 * - a user's events: each stream the `user_streams` index lists, read whole (a stream read is
 *   EventStoreDB's cheap, indexed path), cut at the index's checkpoint, plus a forward scan of
 *   `$all` after the checkpoint only; an event counts when its data carries the `userId`;
 * - admin search: an exact stream is a stream read; anything else scans `$all` forwards in pages
 *   (types and prefixes filtered before decoding), stopping at `limit`;
 * - events of types this build does not know are no part of any answer: they are skipped before
 *   decoding (a shared `$all` may hold other applications' events);
 * - a search by event types alone (the features a user's state depends on) keeps what it found
 *   and where it stopped, per type set, and reads only the log's tail the next time: a
 *   state-as-of does not rescan `$all` (up to CACHE_LIMIT events per type set; past that, no cache);
 * - every read is already stable: EventStoreDB positions are assigned at commit, so no later
 *   append lands before an event once it is readable (`stable` needs nothing here).
 */
import {
  START,
  auditFilterMatches,
  comparePositions,
  sortForAudit,
  type AuditFilter,
  type AuditSearch,
  type EventStore,
  type Position,
  type ReadAllOptions,
  type RecordedEvent,
  type UserStreamIndex,
} from '../store';

const PAGE = 1000;
/** Events a type-only search keeps in memory per type set. */
const CACHE_LIMIT = 10_000;

const ownedBy = (userId: string) => (e: RecordedEvent) => (e.data as { userId?: unknown } | null)?.userId === userId;

/** Visits the log after `from` in pages; `visit` returns false to stop. */
async function scan(store: EventStore, from: Position, filter: ReadAllOptions['filter'] & object, visit: (e: RecordedEvent) => boolean | void): Promise<void> {
  let cursor = from;
  for (;;) {
    const page = await store.readAll({ fromPosition: cursor, maxCount: PAGE, ...(filter ? { filter } : {}) });
    for (const e of page) if (visit(e) === false) return;
    if (page.length < PAGE) return;
    cursor = page.at(-1)!.position;
  }
}

export class ScanningAuditLog {
  constructor(private readonly store: EventStore) {}

  /** Type-only searches: per sorted type set, the events found so far and where the scan stopped. */
  private readonly byTypes = new Map<string, { events: RecordedEvent[]; position: Position; running?: Promise<void> }>();

  /** Every event of `types` in log order, from the cache plus the tail after it. */
  private async eventsOfTypes(types: readonly string[]): Promise<RecordedEvent[] | undefined> {
    const key = [...types].sort().join('\u0000');
    let entry = this.byTypes.get(key);
    if (!entry) this.byTypes.set(key, (entry = { events: [], position: START }));
    const e = entry;
    // One tail scan at a time per type set; concurrent callers share it.
    e.running ??= scan(this.store, e.position, { eventTypes: types }, (ev) => {
      e.events.push(ev);
      e.position = ev.position;
    }).finally(() => {
      e.running = undefined;
    });
    await e.running;
    if (e.events.length > CACHE_LIMIT) {
      this.byTypes.delete(key);
      return undefined;
    }
    return e.events;
  }

  /** The asked-for types, or every type the registry knows. */
  private known(types: readonly string[] | undefined): readonly string[] {
    return types?.length ? types : this.store.registry.types();
  }

  async readUserEvents(userId: string, index: UserStreamIndex, f: AuditFilter = {}): Promise<RecordedEvent[]> {
    const mine = ownedBy(userId);
    const out: RecordedEvent[] = [];
    const keep = (e: RecordedEvent) => mine(e) && auditFilterMatches(f, e);
    const reads = [...new Set(index.streams)].map(async (stream) => {
      for (const e of await this.store.readStream(stream)) {
        if (comparePositions(e.position, index.checkpoint) <= 0 && keep(e)) out.push(e);
      }
    });
    await Promise.all(reads);
    const tailFrom = f.after && comparePositions(f.after, index.checkpoint) > 0 ? f.after : index.checkpoint;
    await scan(this.store, tailFrom, { eventTypes: this.known(f.types) }, (e) => {
      if (keep(e)) out.push(e);
    });
    sortForAudit(out, f.order);
    return f.limit ? out.slice(0, Math.floor(f.limit)) : out;
  }

  async searchEvents(f: AuditSearch): Promise<RecordedEvent[]> {
    const keep = (e: RecordedEvent) =>
      auditFilterMatches(f, e)
      && (!f.stream || e.streamName === f.stream)
      && (!f.streamPrefix || e.streamName.startsWith(f.streamPrefix))
      && (!f.actor || e.metadata.actorUserId === f.actor);
    const limit = f.limit ? Math.floor(f.limit) : Infinity;
    const out: RecordedEvent[] = [];
    const typeOnly = f.types?.length && !f.stream && !f.streamPrefix && !f.actor && !f.after;
    const cached = typeOnly ? await this.eventsOfTypes(f.types!) : undefined;
    if (cached) {
      for (const e of cached) if (keep(e)) out.push(e);
    } else if (f.stream) {
      for (const e of await this.store.readStream(f.stream)) if (keep(e)) out.push(e);
    } else {
      // Log order: the first `limit` matches end the scan; time order must see them all.
      const enough = f.order !== 'time';
      const filter = { eventTypes: this.known(f.types), ...(f.streamPrefix ? { streamPrefixes: [f.streamPrefix] } : {}) };
      await scan(this.store, f.after ?? START, filter, (e) => {
        if (keep(e)) out.push(e);
        return !(enough && out.length >= limit);
      });
    }
    sortForAudit(out, f.order);
    return out.slice(0, limit);
  }

  async findUserIdByEmail(email: string): Promise<string | undefined> {
    let found: string | undefined;
    await scan(this.store, START, { eventTypes: ['UserRegistered', 'UserProfileUpdated'] }, (e) => {
      const d = e.data as { email?: unknown; userId?: unknown };
      if (typeof d.email === 'string' && d.email.toLowerCase() === email && typeof d.userId === 'string') found = d.userId;
    });
    return found;
  }
}
