/**
 * The default `Cache-Control: no-store` (src/http/app.ts onSend) and its one exception. Rules:
 * - every answer this server makes is no-store unless its route sets Cache-Control itself (JWKS,
 *   docs assets): /me, sessions, users, audit and key lists carry personal data (issue 20 §7);
 * - a route with `config.cacheControl: 'relayed'` (the gateway proxy) relays some answers from an
 *   upstream: those it marks with `keepRelayedCaching(reply)` keep the upstream's caching headers as
 *   they came (Cache-Control, or none: Expires and validators then mean what the upstream meant);
 *   the route's own answers (401, 403, 404, 429, 502, 504 problems) stay no-store.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** 'relayed': answers marked with keepRelayedCaching() get no default no-store. */
    cacheControl?: 'relayed';
  }
}

const RELAYED = Symbol('relayedAnswer');

/** Marks the reply as an upstream's answer relayed as it is (route flag cacheControl: 'relayed'). */
export function keepRelayedCaching(reply: object): void {
  (reply as unknown as Record<symbol, boolean>)[RELAYED] = true;
}

/** Whether the default no-store applies to this answer. */
export function defaultNoStore(request: FastifyRequest, reply: FastifyReply): boolean {
  if (reply.hasHeader('cache-control')) return false;
  return !(request.routeOptions.config.cacheControl === 'relayed' && (reply as unknown as Record<symbol, boolean>)[RELAYED] === true);
}
