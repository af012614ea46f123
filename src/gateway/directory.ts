/**
 * The service directory of one process: the `services` read model in memory, for the proxy and
 * for forward auth. Rules:
 * - loaded at start, then reloaded on every `SERVICES_CHANNEL` notice (the projection NOTIFYs in
 *   the transaction that changed the rows, so a reload after a notice sees the change) and every
 *   GATEWAY_REGISTRY_POLL_MS as a safety net (a lost LISTEN connection is reconnected and
 *   followed by a reload);
 * - reloads are coalesced: at most one in flight, one more queued;
 * - lookups never touch the database.
 */
import { EventEmitter } from 'node:events';
import type pg from 'pg';
import type { ServiceSpec } from '../events/service';
import { PgListener } from '../infra/pg-listen';
import { listServices, SERVICES_CHANNEL } from '../projections/services';

export interface DirectoryEntry {
  spec: ServiceSpec;
  /** Upstreams marked down in the registry (health events of any gateway process). */
  down: ReadonlySet<string>;
}

export class ServiceDirectory extends EventEmitter {
  private entries = new Map<string, DirectoryEntry>();
  private readonly listener: PgListener;
  private poll: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private started: Promise<void> | undefined;

  constructor(private readonly pool: pg.Pool, private readonly pollMs: number, private readonly log?: { warn(o: object, m?: string): void }) {
    super();
    this.setMaxListeners(0);
    // A reconnection is followed by a reload: notices sent while it was down are lost.
    this.listener = new PgListener({
      pool, channel: SERVICES_CHANNEL, label: 'service directory', log,
      onNotice: () => void this.reload().catch(() => undefined),
      onReconnect: () => void this.reload().catch(() => undefined),
    });
  }

  get(name: string): DirectoryEntry | undefined {
    return this.entries.get(name);
  }

  all(): DirectoryEntry[] {
    return [...this.entries.values()];
  }

  /** Idempotent; resolves once the first load is done (or failed: then the poll retries). */
  start(): Promise<void> {
    this.started ??= (async () => {
      await this.listener.start();
      await this.reload().catch((err) => this.log?.warn({ err }, 'service directory: first load failed; retrying'));
      this.poll = setInterval(() => void this.reload().catch(() => undefined), this.pollMs);
      this.poll.unref();
    })();
    return this.started;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.poll) clearInterval(this.poll);
    await this.listener.stop();
    await this.loading?.catch(() => undefined);
  }

  /** Re-reads the read model (coalesced). */
  reload(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      try {
        do {
          this.again = false;
          const rows = await listServices(this.pool);
          if (this.stopped) return;
          this.entries = new Map(rows.map((r) => [r.spec.name, { spec: r.spec, down: new Set(r.down) }]));
          this.emit('change', this.entries);
        } while (this.again && !this.stopped);
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }
}
