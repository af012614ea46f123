/**
 * What Fastify's edge adds to the plain 200 of a browser route (global CORS, every security
 * header, the global per-IP limit: GET /api/v1/auth/me), for the fast path (./fast-path.ts). Rules:
 * - the headers are the edge's own: the security headers (./edge.ts `edgeSecurityHeaders`), the
 *   CORS headers @fastify/cors sends a request without Origin (`corsHeadersWithoutOrigin`), and
 *   x-ratelimit-limit/-remaining/-reset computed as @fastify/rate-limit does;
 * - a request with an Origin header (CORS proper) gets nothing here: it goes to Fastify;
 * - the per-IP budget is spent from the limiter's own store (./rate-limit-store.ts `spendNow`),
 *   same key (the client IP, IPv6 by /64), only from a leased block with room: a request that
 *   needs a lease, a refusal or a new window gets nothing here and nothing is spent, so Fastify's
 *   limiter counts it (once) and sends any 429. With trusted proxies, a request with
 *   X-Forwarded-For goes to Fastify (its IP is proxy-addr's to decide);
 * - `answerHeaders` is the last thing a fast handler calls before it answers: once it has spent,
 *   the request is answered 200 by the fast path.
 */
import type { IncomingMessage } from 'node:http';
import { normalizeIP } from '@fastify/rate-limit';

/** The per-IP store's synchronous spend (./rate-limit-store.ts). */
export interface IpBudget {
  spendNow(id: string, max: number): { current: number; ttl: number } | undefined;
}

export interface FastEdgeOptions {
  /** Security and CORS headers of a request without Origin. */
  headers: Readonly<Record<string, string>>;
  /** The global per-IP limit, when on. */
  limit?: { store: IpBudget; max: number; ipv6Subnet: number };
  /** Fastify's trustProxy is not false. */
  trustProxy: boolean;
}

export class FastEdge {
  constructor(private readonly opts: FastEdgeOptions) {}

  /** The edge's headers for this request's 200, its IP budget spent; undefined: hand it to Fastify (nothing spent). */
  answerHeaders(req: IncomingMessage): Record<string, string> | undefined {
    if (req.headers.origin !== undefined) return undefined;
    const { headers, limit } = this.opts;
    if (!limit) return { ...headers };
    const ip = req.socket.remoteAddress;
    if (ip === undefined || (this.opts.trustProxy && req.headers['x-forwarded-for'] !== undefined)) return undefined;
    const spent = limit.store.spendNow(normalizeIP(ip, limit.ipv6Subnet), limit.max);
    if (!spent) return undefined;
    return {
      ...headers,
      'x-ratelimit-limit': String(limit.max),
      'x-ratelimit-remaining': String(Math.max(0, limit.max - spent.current)),
      'x-ratelimit-reset': String(Math.ceil(spent.ttl / 1000)),
    };
  }
}
