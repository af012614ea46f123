/**
 * The headers an upstream receives. Rules:
 * - what the gateway vouches for is set by the gateway only: X-User-Id, X-User-Roles,
 *   X-Session-Id, X-Api-Key-Id, X-Request-ID, X-Forwarded-For/Proto/Host — any client copy
 *   (and `Forwarded`, X-Real-IP, X-Forwarded-Port/Prefix) is dropped first;
 * - the API key never travels on (X-API-Key, API-Key); the access token (Authorization,
 *   Access-Token) only when the service sets `forward_authorization`;
 * - hop-by-hop headers (RFC 9110 §7.6.1) and Proxy-Authorization are not forwarded.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ServiceSpec } from '../events/service';
import type { Identity } from './access';

const DROPPED = new Set([
  'x-user-id', 'x-user-roles', 'x-session-id', 'x-api-key-id', 'x-request-id',
  'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-prefix', 'forwarded', 'x-real-ip',
  'x-api-key', 'api-key', 'proxy-authorization',
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect',
]);
const CREDENTIALS = new Set(['authorization', 'access-token']);

export interface ForwardContext {
  requestId: string;
  /** Client address chain, nearest last (the trusted X-Forwarded-For hops, then the peer). */
  forwardedFor: string;
  proto: string;
  host: string;
}

/**
 * One pass over the client's headers into a fresh object (no `delete`, which would turn the
 * object into a slow dictionary on every request). Node's parsed headers are lower-case.
 */
export function upstreamHeaders(headers: IncomingHttpHeaders, spec: Pick<ServiceSpec, 'forward_authorization'>, identity: Identity | undefined, ctx: ForwardContext): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  const keepCredentials = !!spec.forward_authorization;
  for (const name in headers) {
    if (DROPPED.has(name) || (!keepCredentials && CREDENTIALS.has(name))) continue;
    out[name] = headers[name];
  }
  out['x-request-id'] = ctx.requestId;
  out['x-forwarded-for'] = ctx.forwardedFor;
  out['x-forwarded-proto'] = ctx.proto;
  out['x-forwarded-host'] = ctx.host;
  if (identity) {
    out['x-user-id'] = identity.userId;
    out['x-user-roles'] = identity.roles.join(',');
    if (identity.sessionId) out['x-session-id'] = identity.sessionId;
    if (identity.apiKeyId) out['x-api-key-id'] = identity.apiKeyId;
  }
  return out;
}

/** `/api/orders/x?q=1` → the upstream path under the gateway's rules (strip_prefix). */
export function upstreamPath(rawUrl: string, mount: string, spec: Pick<ServiceSpec, 'strip_prefix'>): string {
  if (!spec.strip_prefix) return rawUrl;
  const rest = rawUrl.slice(mount.length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}
