/**
 * The upstreams of one service: discovery, health and balancing (issue 14). Rules:
 * - an upstream is a static http(s) URL or `dns+srv://_http._tcp.name[/base]`, resolved with
 *   resolveSrv (lowest priority group; http to each target's port), cached GATEWAY_DNS_CACHE_SECONDS
 *   (resolveSrv reports no TTL); a failed resolution keeps the last answer; with GATEWAY_DNS_SERVERS
 *   (`resolveTargets`) the targets' names are resolved there too (A, else AAAA, else left to the
 *   system), since names a service-discovery DNS answers (Consul, CoreDNS) are unknown to the system's;
 * - with `health_path`, every target is checked every `health_interval_ms` (GET, 2xx/3xx within
 *   min(interval, 2 s) is healthy); a target that refused a proxied request is unhealthy at once
 *   (passive check) until a check passes — or, with no health_path, for 5 s;
 * - requests go to healthy targets only (round robin, or least in-flight); none healthy → the
 *   caller answers 503 at once, without trying;
 * - each transition of a registered static upstream is reported (`onHealth`) so the registry
 *   records UpstreamMarkedDown/Up.
 */
import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import type { ServiceSpec } from '../events/service';
import { upstreamHealthy } from './metrics';

const PASSIVE_DOWN_MS = 5000;

export interface Target {
  /** Origin plus base path, e.g. http://10.0.0.5:8080/base (no trailing slash). */
  base: string;
  /** The registered upstream it came from (a static URL, or the dns+srv:// one). */
  source: string;
  healthy: boolean;
  /** For targets without health checks: unhealthy until then after a refused request. */
  downUntil: number;
  inFlight: number;
}

export interface PoolDeps {
  resolver: dns.Resolver;
  dnsCacheMs: number;
  /** Resolve SRV target names with `resolver` too (a resolver of its own: GATEWAY_DNS_SERVERS). */
  resolveTargets?: boolean;
  onHealth?(service: string, upstream: string, up: boolean, reason: string): void;
  log?: { warn(o: object, m?: string): void };
}

const trimBase = (u: URL) => `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;

export class UpstreamPool {
  private spec: ServiceSpec;
  private targets = new Map<string, Target>();
  private srv = new Map<string, { at: number; bases: string[]; pending?: Promise<void> }>();
  private rr = 0;
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private stopped = false;

  constructor(spec: ServiceSpec, private readonly deps: PoolDeps, registryDown: ReadonlySet<string> = new Set()) {
    this.spec = spec;
    this.rebuild(registryDown);
  }

  get name() {
    return this.spec.name;
  }

  /** A new definition: targets that stay keep their state. */
  update(spec: ServiceSpec): void {
    const health = spec.health_path !== this.spec.health_path || spec.health_interval_ms !== this.spec.health_interval_ms;
    this.spec = spec;
    for (const k of this.srv.keys()) if (!spec.upstreams.includes(k)) this.srv.delete(k);
    this.rebuild(new Set());
    if (health) this.restartHealth();
  }

  private rebuild(registryDown: ReadonlySet<string>): void {
    const next = new Map<string, Target>();
    const add = (base: string, source: string) => {
      const old = this.targets.get(base);
      next.set(base, old ?? { base, source, healthy: !(this.spec.health_path && registryDown.has(source)), downUntil: 0, inFlight: 0 });
    };
    for (const u of this.spec.upstreams) {
      const url = new URL(u);
      if (url.protocol === 'dns+srv:') for (const b of this.srv.get(u)?.bases ?? []) add(b, u);
      else add(trimBase(url), u);
    }
    for (const [k, t] of this.targets) if (!next.has(k)) upstreamHealthy.remove(this.spec.name, t.base);
    this.targets = next;
    for (const t of next.values()) upstreamHealthy.set({ service: this.spec.name, upstream: t.base }, t.healthy ? 1 : 0);
  }

  /** Resolves dns+srv upstreams whose answer is older than the cache time. */
  private async refreshSrv(): Promise<void> {
    const now = Date.now();
    const work: Promise<void>[] = [];
    for (const u of this.spec.upstreams) {
      if (!u.startsWith('dns+srv:')) continue;
      const cached = this.srv.get(u);
      if (cached && now - cached.at < this.deps.dnsCacheMs) continue;
      if (cached?.pending) {
        if (!cached.bases.length) work.push(cached.pending);
        continue;
      }
      const entry = cached ?? { at: 0, bases: [] };
      const url = new URL(u);
      entry.pending = this.deps.resolver.resolveSrv(url.hostname).then(async (records) => {
        const best = Math.min(...records.map((r) => r.priority));
        const base = url.pathname.replace(/\/+$/, '');
        const hosts = await Promise.all(records.filter((r) => r.priority === best).map(async (r) => (await this.hostsOf(r.name.replace(/\.$/, ''))).map((h) => `http://${h}:${r.port}${base}`)));
        entry.bases = [...new Set(hosts.flat())].sort();
        entry.at = Date.now();
        this.rebuild(new Set());
      }, (err) => {
        entry.at = Date.now();
        this.deps.log?.warn({ err, upstream: u }, 'gateway: SRV resolution failed; keeping the last answer');
      }).finally(() => {
        entry.pending = undefined;
      });
      this.srv.set(u, entry);
      // Without any answer yet the request waits for this one; otherwise it is refreshed behind.
      if (!entry.bases.length) work.push(entry.pending);
    }
    if (work.length) await Promise.all(work);
  }

  /** A SRV target's addresses (URL host form), or its name for the system to resolve. */
  private async hostsOf(name: string): Promise<string[]> {
    if (!this.deps.resolveTargets || isIP(name)) return [isIP(name) === 6 ? `[${name}]` : name];
    const v4 = await this.deps.resolver.resolve4(name).catch(() => [] as string[]);
    if (v4.length) return v4;
    const v6 = await this.deps.resolver.resolve6(name).catch(() => [] as string[]);
    return v6.length ? v6.map((a) => `[${a}]`) : [name];
  }

  private usable(t: Target, now: number): boolean {
    return t.healthy && t.downUntil <= now;
  }

  /** A healthy target not in `exclude`, or undefined (none healthy). */
  /** A healthy target (a promise only when SRV upstreams may need resolving first). */
  pick(exclude?: ReadonlySet<Target>): Target | undefined | Promise<Target | undefined> {
    if (this.srv.size || this.hasSrv) return this.refreshSrv().then(() => this.choose(exclude));
    return this.choose(exclude);
  }

  private get hasSrv(): boolean {
    return this.spec.upstreams.some((u) => u.startsWith('dns+srv:'));
  }

  private choose(exclude?: ReadonlySet<Target>): Target | undefined {
    const now = Date.now();
    // Round robin over targets that are all usable (the usual case): no list made per request.
    if (!exclude && this.spec.balance !== 'least_in_flight') {
      let all = true;
      for (const t of this.targets.values()) {
        if (!this.usable(t, now)) {
          all = false;
          break;
        }
      }
      if (all && this.targets.size) {
        let i = this.rr++ % this.targets.size;
        for (const t of this.targets.values()) if (i-- === 0) return t;
      }
    }
    const ok: Target[] = [];
    for (const t of this.targets.values()) if (this.usable(t, now) && !exclude?.has(t)) ok.push(t);
    if (!ok.length) return undefined;
    if (this.spec.balance === 'least_in_flight') {
      let best = ok[0]!;
      for (const t of ok) if (t.inFlight < best.inFlight) best = t;
      // Ties go round robin, so idle targets share the load.
      const tied = ok.filter((t) => t.inFlight === best.inFlight);
      return tied[this.rr++ % tied.length];
    }
    return ok[this.rr++ % ok.length];
  }

  /** A proxied request could not reach the target (refused, reset, timed out connecting). */
  noteFailure(t: Target, reason: string): void {
    if (this.spec.health_path) this.setHealth(t, false, reason);
    else t.downUntil = Date.now() + PASSIVE_DOWN_MS;
  }

  private setHealth(t: Target, up: boolean, reason: string): void {
    if (t.healthy === up) return;
    t.healthy = up;
    upstreamHealthy.set({ service: this.spec.name, upstream: t.base }, up ? 1 : 0);
    // The registry records transitions of registered upstreams; SRV targets are this process's business.
    const source = [...this.targets.values()].filter((x) => x.source === t.source);
    if (t.source.startsWith('dns+srv:')) {
      const anyUp = source.some((x) => x.healthy);
      if (up ? source.filter((x) => x.healthy).length === 1 : !anyUp) this.deps.onHealth?.(this.spec.name, t.source, up, reason);
    } else this.deps.onHealth?.(this.spec.name, t.source, up, reason);
  }

  startHealth(): void {
    this.stopped = false;
    if (!this.spec.health_path || this.timer) return;
    const run = () => void this.checkAll().catch(() => undefined);
    this.timer = setInterval(run, this.spec.health_interval_ms);
    this.timer.unref();
    run();
  }

  private restartHealth(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (!this.stopped) this.startHealth();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const t of this.targets.values()) upstreamHealthy.remove(this.spec.name, t.base);
  }

  /** One round of active checks (exported for tests through the pool). */
  async checkAll(): Promise<void> {
    if (this.checking || !this.spec.health_path) return;
    this.checking = true;
    try {
      await this.refreshSrv().catch(() => undefined);
      const path = this.spec.health_path;
      const timeout = Math.min(this.spec.health_interval_ms, 2000);
      await Promise.all([...this.targets.values()].map(async (t) => {
        let up = false;
        let reason = 'health check failed';
        try {
          const res = await fetch(`${t.base}${path}`, { signal: AbortSignal.timeout(timeout), redirect: 'manual' });
          await res.body?.cancel().catch(() => undefined);
          up = res.status >= 200 && res.status < 400;
          if (!up) reason = `health check answered ${res.status}`;
        } catch (err) {
          reason = `health check: ${(err as Error).name === 'TimeoutError' ? 'timeout' : ((err as { cause?: { code?: string } }).cause?.code ?? 'unreachable')}`;
        }
        if (this.stopped) return;
        if (up) t.downUntil = 0;
        this.setHealth(t, up, reason);
      }));
    } finally {
      this.checking = false;
    }
  }
}
