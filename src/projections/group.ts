/**
 * One runner for all the PostgreSQL projections of a process, on a PostgreSQL event log (the
 * projector's default there; src/projections/runtime.ts). Same guarantees as one
 * ProjectionRunner per projection (engine.ts), for less work per wake:
 * - one connection holds the advisory lock of every projection it runs (the same lock as a
 *   ProjectionRunner's, so the two never run one projection at once); a lock held elsewhere is
 *   retried every `standbyRetryMs`; batches run on that connection (fencing: the locks and an
 *   uncommitted batch die together);
 * - per wake: one log page read for all of them (the union of the event types they handle), and
 *   one transaction: one compare-and-set of every checkpoint (with its NOTIFY), then each
 *   projection's writes, in the fewest round trips the projections' reads allow (applyTogether in pg-batch.ts:
 *   the opening rides with the first read, held writes with COMMIT). Each checkpoint still commits
 *   with its own projection's writes;
 * - a projection whose writes fail, or a checkpoint moved by someone else (a rebuild's switch),
 *   rolls the shared transaction back; the batch is then applied once more, one transaction per
 *   projection (applyPgBatch): the failing one alone fails and backs off, a moved one writes
 *   nothing and reloads, the others advance;
 * - projections behind the others (back from a backoff, or a lock just taken) read their own
 *   pages in the same wake, so a catching-up projection never holds the others back;
 * - stops only at a batch boundary.
 */
import pg from 'pg';
import { comparePositions, type EventStore, type PagedLog, type Position } from '../events/store';
import { AppendLoop } from '../infra/append-loop';
import { applyPgBatch, RUNNER_LOCK_NS, type EngineDeps } from './engine';
import { localCheckpoints } from './checkpoint-feed';
import type { PgState } from './checkpoints';
import { rebuildProjection } from './rebuild';
import { applyTogether, type Part } from './pg-batch';
import type { PgProjection } from './types';


export class PgGroupRunner {
  private client: pg.Client | undefined;
  private readonly owned = new Set<string>();
  private readonly states = new Map<string, PgState>();
  private lockRetryAt = 0;
  private readonly failures = new Map<string, { count: number; until: number }>();
  private heldBackWaitMs = 1;
  private readonly batchSize: number;
  private readonly control: AppendLoop;
  /** Last position applied, per projection. */
  readonly positions = new Map<string, Position>();
  /** Transactions committed (for tests and metrics). */
  batches = 0;
  /** Short sleeps taken while committed events waited above the visibility horizon (tests). */
  heldBackSleeps = 0;
  /** The last step's page said committed events wait above the horizon. */
  private heldBack = false;
  /**
   * The last step may have left work (a full page, a rebuild, a failed projection's retry): step
   * again at once. After a partial page it waits for the next append instead of reading an
   * empty page to find out (the append's signal sets `dirty` even while a step runs).
   */
  private more = false;

  constructor(
    private readonly deps: EngineDeps & { store: EventStore & PagedLog },
    readonly projections: readonly PgProjection[],
  ) {
    this.batchSize = deps.batchSize ?? 500;
    this.control = new AppendLoop(deps.store);
  }

  /** Names of the projections whose lock this runner holds. */
  get active(): string[] {
    return [...this.owned];
  }

  start(): void {
    this.control.start(() => this.loop());
  }

  async stop(): Promise<void> {
    await this.control.stop();
    // Also after drain() or step() without start(): the locks go with the connection.
    const c = this.client;
    this.client = undefined;
    this.owned.clear();
    this.states.clear();
    await c?.end().catch(() => undefined);
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.control.stopped) {
      try {
        this.control.dirty = false;
        const progressed = await this.step();
        failures = 0;
        if ((progressed && this.more) || this.control.dirty) {
          this.heldBackWaitMs = 1;
          continue;
        }
        // Committed events above the visibility horizon (the empty page's own statement says so):
        // look again soon (see engine.ts).
        if (this.owned.size && this.heldBack) {
          await this.control.sleep(this.heldBackWaitMs);
          this.heldBackWaitMs = Math.min(this.heldBackWaitMs * 2, 32);
          this.heldBackSleeps++;
        } else {
          this.heldBackWaitMs = 1;
          const standby = this.owned.size < this.projections.length ? this.deps.standbyRetryMs ?? 2000 : Infinity;
          await this.control.sleep(Math.min(this.deps.idleWaitMs ?? 1000, standby));
        }
      } catch (err) {
        failures++;
        this.deps.log?.error({ err }, 'projection group batch failed; retrying');
        await this.control.waker.sleep(Math.min(10_000, 200 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  /** One round: every projection it runs gets at most one batch. Whether there may be more to do now. */
  async step(): Promise<boolean> {
    this.heldBack = false;
    this.more = false;
    const client = await this.connection();
    await this.takeLocks(client);
    const now = Date.now();
    const names = [...this.owned].filter((n) => (this.failures.get(n)?.until ?? 0) <= now);
    if (!names.length) return false;
    // Checkpoints are read once and then kept: this runner is their only writer while it holds
    // their locks, and a change by anyone else (a rebuild's switch) fails the compare-and-set,
    // which drops the kept one.
    const missing = names.filter((n) => !this.states.has(n));
    if (missing.length) for (const [n, st] of await loadStates(client, missing)) this.states.set(n, st);
    const states = this.states;
    const ready: { projection: PgProjection; state: PgState }[] = [];
    for (const p of this.projections) {
      if (!names.includes(p.name)) continue;
      const state = states.get(p.name);
      if (!state) throw new Error(`projection ${p.name} has no state row (ensureProjections not run)`);
      if (state.schemaVersion > p.version) continue; // a newer build's (rolling deploy): never rebuilt back
      if (state.schemaVersion < p.version) {
        this.deps.log?.info({ projection: p.name, from: state.schemaVersion, to: p.version }, 'projection version changed: rebuilding');
        this.states.delete(p.name);
        await this.guarded(p.name, () => rebuildProjection(this.deps.pool, this.deps.store, p));
        this.more = true;
        return true;
      }
      ready.push({ projection: p, state });
      this.positions.set(p.name, state.position);
    }
    return this.round(client, ready);
  }

  /** Reads one page from the oldest checkpoint; applies it to all behind its end; the rest read on. */
  private async round(client: pg.Client, ready: { projection: PgProjection; state: PgState }[]): Promise<boolean> {
    if (!ready.length) return false;
    const from = ready.map((r) => r.state.position).reduce((a, b) => (comparePositions(a, b) <= 0 ? a : b));
    const types = [...new Set(ready.flatMap((r) => r.projection.handles))];
    // On the lock connection: one statement (the horizon, the page, whether events wait above
    // the horizon), never queued behind requests for a pool connection.
    const batch = await this.deps.store.readHandledBatch(from, this.batchSize, types, undefined, client);
    this.heldBack ||= batch.heldBack ?? false;
    const last = batch.last;
    if (!last) return false;
    if (batch.count >= this.batchSize) this.more = true;
    const parts: Part[] = [];
    const ahead: typeof ready = [];
    for (const r of ready) {
      if (comparePositions(r.state.position, last) >= 0) {
        ahead.push(r);
        continue;
      }
      const handles = new Set(r.projection.handles);
      parts.push({ ...r, events: batch.events.filter((e) => handles.has(e.type) && comparePositions(e.position, r.state.position) > 0) });
    }
    await this.apply(client, parts, last);
    // Projections ahead of a full page read their own (never held back by one catching up).
    if (ahead.length && batch.count >= this.batchSize) await this.round(client, ahead);
    return true;
  }

  /** One transaction for every part; when a projection's writes fail, one transaction each. */
  private async apply(client: pg.Client, parts: Part[], to: Position): Promise<void> {
    let applied: Part[];
    for (const part of parts) this.states.delete(part.projection.name); // kept again below once committed
    try {
      applied = await applyTogether(client, parts, to);
    } catch (err) {
      this.deps.log?.warn({ err, projections: parts.map((p) => p.projection.name) }, 'projection group batch failed; applying one projection at a time');
      applied = [];
      this.more = true;
      for (const part of parts) {
        const ok = await this.guarded(part.projection.name, () => applyPgBatch(client, part.projection, part.state, part.events, to));
        if (ok) applied.push(part);
      }
    }
    for (const part of applied) {
      this.states.set(part.projection.name, { ...part.state, position: to });
      this.committed(part.projection.name, to);
    }
  }

  /** Runs one projection's work; a failure backs that projection off alone (false). */
  private async guarded<T>(name: string, fn: () => Promise<T>): Promise<T | false> {
    try {
      const out = await fn();
      this.failures.delete(name);
      return out;
    } catch (err) {
      const count = (this.failures.get(name)?.count ?? 0) + 1;
      this.failures.set(name, { count, until: Date.now() + Math.min(10_000, 200 * 2 ** Math.min(count, 6)) });
      this.deps.log?.error({ err, projection: name }, 'projection batch failed; retrying');
      return false;
    }
  }

  private committed(name: string, to: Position): void {
    this.batches++;
    this.positions.set(name, to);
    localCheckpoints(this.deps.pool).emit('advance', name, to);
  }

  /** The lock connection (a new one after a loss: every lock went with the old one). */
  private async connection(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = new pg.Client((this.deps.pool as unknown as { options: pg.ClientConfig }).options);
    client.on('error', () => undefined);
    await client.connect().catch(async (err: unknown) => {
      await client.end().catch(() => undefined);
      throw err;
    });
    client.on('end', () => {
      if (this.client !== client) return;
      this.client = undefined;
      this.owned.clear();
      this.states.clear();
      this.lockRetryAt = 0;
    });
    this.client = client;
    return client;
  }

  /** Tries the locks not held yet (all at start, then every standbyRetryMs). */
  private async takeLocks(client: pg.Client): Promise<void> {
    const missing = this.projections.map((p) => p.name).filter((n) => !this.owned.has(n));
    if (!missing.length || Date.now() < this.lockRetryAt) return;
    this.lockRetryAt = Date.now() + (this.deps.standbyRetryMs ?? 2000);
    const { rows } = await client.query<{ name: string; ok: boolean }>(
      'SELECT n AS name, pg_try_advisory_lock($1, hashtext(n)) AS ok FROM unnest($2::text[]) n',
      [RUNNER_LOCK_NS, missing],
    );
    for (const r of rows) {
      if (!r.ok) continue;
      this.owned.add(r.name);
      this.deps.log?.info({ projection: r.name }, 'projection runner active');
    }
  }

  /** Steps until nothing is left (tests and tools). */
  async drain(): Promise<void> {
    while (await this.step());
  }
}

async function loadStates(db: pg.ClientBase, names: string[]): Promise<Map<string, PgState>> {
  const { rows } = await db.query<{ name: string; generation: number; schema_version: number; c: string; p: string }>(
    'SELECT name, generation, schema_version, commit_position::text AS c, prepare_position::text AS p FROM projections WHERE name = ANY($1)',
    [names],
  );
  return new Map(rows.map((r) => [r.name, { generation: r.generation, schemaVersion: r.schema_version, position: { commit: BigInt(r.c), prepare: BigInt(r.p) } }]));
}
