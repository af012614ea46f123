/**
 * One process's gateway state (decorated as `app.gateway` by `gatewayCorePlugin`): the service
 * directory, the upstream pools (kept in step with the directory), the policy checks and the
 * per-service / per-user rate limits. Used by the proxy (proxy.ts, ws.ts) and by forward auth
 * (/api/v1/auth/verify with X-Forwarded-Uri). Rules:
 * - nothing connects until the first use (`ready()`), so an API process without gateway traffic
 *   opens no extra connection;
 * - health transitions of registered upstreams are recorded as UpstreamMarkedDown/Up (one command
 *   per transition, in order per upstream; several processes append one event: the decider
 *   ignores a mark that changes nothing) unless GATEWAY_HEALTH_MARKS=false;
 * - rate limits (./limits.ts): the limiter's Redis client is connected when the gateway starts,
 *   waited for at most LIMITER_CONNECT_MS; a check Redis cannot answer is counted in this process
 *   (never skipped, never refused for Redis being down); the policy checks, which need Redis
 *   (API keys, features), fail closed.
 */
import { Resolver } from 'node:dns/promises';
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Services } from '../services';
import { errors } from '../errors';
import type { ServiceSpec } from '../events/service';
import { closeRedis } from '../infra/redis';
import { runServiceCommand } from '../commands/services/handlers';
import { ServiceDirectory, type DirectoryEntry } from './directory';
import { UpstreamPool } from './upstreams';
import { GatewayAccess, type Identity } from './access';
import { GatewayLimits } from './limits';

declare module 'fastify' {
  interface FastifyInstance {
    gateway: GatewayRuntime;
  }
}

/** How long a gateway's start waits for the limiter's Redis (a reachable one answers in ms). */
export const LIMITER_CONNECT_MS = 1000;

export class GatewayRuntime {
  readonly directory: ServiceDirectory;
  readonly access: GatewayAccess;
  private readonly pools = new Map<string, UpstreamPool>();
  private readonly resolver = new Resolver();
  private limiterRedis: Redis | undefined;
  private limiter: GatewayLimits | undefined;
  private started: Promise<void> | undefined;
  private marks = new Map<string, Promise<unknown>>();
  private health = true;

  constructor(app: FastifyInstance, private readonly services: Services) {
    const { config } = services;
    this.directory = new ServiceDirectory(services.pool, config.GATEWAY_REGISTRY_POLL_MS, services.log);
    this.access = new GatewayAccess(app);
    if (config.GATEWAY_DNS_SERVERS) this.resolver.setServers(config.GATEWAY_DNS_SERVERS.split(',').map((s) => s.trim()).filter(Boolean));
    this.directory.on('change', () => this.sync());
  }

  /** Starts the directory (and health checks when `health`: the proxying processes). */
  ready(opts: { health?: boolean } = {}): Promise<void> {
    if (opts.health === false) this.health = false;
    this.started ??= (async () => {
      // A duplicate of a lazy client is lazy too: it is connected here, not by the first check
      // (with no offline queue, checks made before it is ready would fail). Bounded: with Redis
      // down the gateway starts anyway and counts its limits locally until Redis answers.
      const redis = this.services.redis.duplicate({ enableOfflineQueue: false, maxRetriesPerRequest: 1 });
      redis.on('error', () => undefined);
      this.limiterRedis = redis;
      this.limiter = new GatewayLimits(redis, `${this.services.prefix}gw:rl:`, this.services.log);
      await Promise.all([this.limiter.connect(LIMITER_CONNECT_MS), this.directory.start()]);
      this.sync();
    })();
    return this.started;
  }

  async close(): Promise<void> {
    await this.directory.stop();
    for (const p of this.pools.values()) p.stop();
    this.pools.clear();
    await Promise.all(this.marks.values()).catch(() => undefined);
    await this.access.close();
    if (this.limiterRedis) await closeRedis(this.limiterRedis);
  }

  service(name: string): DirectoryEntry | undefined {
    return this.directory.get(name);
  }

  pool(name: string): UpstreamPool | undefined {
    return this.pools.get(name);
  }

  private sync(): void {
    const seen = new Set<string>();
    for (const e of this.directory.all()) {
      seen.add(e.spec.name);
      const p = this.pools.get(e.spec.name);
      if (p) p.update(e.spec);
      else {
        const pool = new UpstreamPool(e.spec, {
          resolver: this.resolver,
          dnsCacheMs: this.services.config.GATEWAY_DNS_CACHE_SECONDS * 1000,
          resolveTargets: !!this.services.config.GATEWAY_DNS_SERVERS,
          log: this.services.log,
          onHealth: (service, upstream, up, reason) => this.mark(service, upstream, up, reason),
        }, e.down);
        this.pools.set(e.spec.name, pool);
        if (this.health) pool.startHealth();
      }
    }
    for (const [name, p] of this.pools) {
      if (!seen.has(name)) {
        p.stop();
        this.pools.delete(name);
      }
    }
  }

  private mark(service: string, upstream: string, up: boolean, reason: string): void {
    const { log } = this.services;
    log.warn({ service, upstream, up, reason }, up ? 'gateway: upstream healthy again' : 'gateway: upstream marked down');
    if (!this.services.config.GATEWAY_HEALTH_MARKS) return;
    const key = `${service} ${upstream}`;
    const prev = this.marks.get(key) ?? Promise.resolve();
    const next = prev.then(() => runServiceCommand(this.services, { type: 'MarkUpstream', name: service, upstream, up, reason }, { actorUserId: 'gateway:health' }))
      .catch((err) => log.warn({ err, service, upstream }, 'gateway: could not record the upstream\'s health'));
    this.marks.set(key, next);
    void next.finally(() => {
      if (this.marks.get(key) === next) this.marks.delete(key);
    });
  }

  /**
   * Per-service and per-caller budgets of the service (rejects with 429 and Retry-After when
   * spent); undefined, with no promise made, when the service has no limit.
   */
  limit(spec: ServiceSpec, identity: Identity | undefined, ip: string): Promise<void> | undefined {
    if (!spec.rate_limit_per_minute && !spec.rate_limit_per_user_per_minute) return undefined;
    return this.checkLimits(spec, identity, ip);
  }

  private async checkLimits(spec: ServiceSpec, identity: Identity | undefined, ip: string): Promise<void> {
    const checks: [string, number][] = [];
    if (spec.rate_limit_per_minute) checks.push([`s:${spec.name}`, spec.rate_limit_per_minute]);
    if (spec.rate_limit_per_user_per_minute) {
      const who = identity ? `u:${identity.userId}` : `ip:${ip}`;
      checks.push([`u:${spec.name}:${who}`, spec.rate_limit_per_user_per_minute]);
    }
    for (const [id, max] of checks) {
      const r = await this.limiter!.check(id, max);
      if (r.current > max) throw errors.tooManyRequests(Math.max(1, Math.ceil(r.ttl / 1000)), `The rate limit of the service ${spec.name} is spent; retry later.`);
    }
  }
}

/** Decorates `app.gateway` (closed with the app). Register after the auth plugin. */
export const gatewayCorePlugin = fp(async (app: FastifyInstance, opts: { services: Services }) => {
  const runtime = new GatewayRuntime(app, opts.services);
  app.decorate('gateway', runtime);
  app.addHook('onClose', async () => runtime.close());
}, { name: 'gateway-core', dependencies: ['auth'] });
