/**
 * One PostgreSQL LISTEN connection that comes back by itself (used by the checkpoint feed and the
 * gateway's service directory). Rules:
 * - a dedicated client (the pool's connection settings), never a pooled one: LISTEN is per session;
 * - a lost connection (error or end) or a failed LISTEN is retried every `retryMs` until `stop()`;
 *   each LISTEN that succeeds after the first attempt calls `onReconnect`, so the caller re-reads
 *   what it may have missed while no notice could arrive;
 * - `live` says whether notices can arrive now; `onLive` is told each change;
 * - after `stop()` nothing reconnects and no callback runs.
 */
import pg from 'pg';

export interface PgListenerOptions {
  pool: pg.Pool;
  channel: string;
  onNotice(payload: string | undefined): void;
  onLive?(live: boolean): void;
  onReconnect?(): void;
  /** Names the listener in log lines. */
  label: string;
  log?: { warn(o: object, m?: string): void };
  retryMs?: number;
}

export class PgListener {
  private client: pg.Client | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: PgListenerOptions) {
    if (!/^[a-z_][a-z0-9_]*$/.test(opts.channel)) throw new Error(`bad LISTEN channel ${opts.channel}`);
  }

  get live(): boolean {
    return !!this.client;
  }

  /** The first attempt; resolves either way (a failure is retried behind). */
  start(): Promise<void> {
    return this.connect(false);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }

  private async connect(again: boolean): Promise<void> {
    if (this.stopped) return;
    const { pool, channel, log, label } = this.opts;
    const settings = (pool as unknown as { options: pg.ClientConfig }).options;
    const client = new pg.Client({ ...settings });
    const down = () => {
      if (this.client !== client) return;
      this.client = undefined;
      this.opts.onLive?.(false);
      this.later();
    };
    client.on('error', down);
    client.on('end', down);
    client.on('notification', (msg) => {
      if (msg.channel === channel && !this.stopped) this.opts.onNotice(msg.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${channel}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      log?.warn({ err }, `${label}: PostgreSQL LISTEN failed; retrying`);
      this.later();
      return;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.opts.onLive?.(true);
    if (again) this.opts.onReconnect?.();
  }

  private later(): void {
    if (this.stopped || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.connect(true);
    }, this.opts.retryMs ?? 500);
    this.retry.unref();
  }
}
