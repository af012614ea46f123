/**
 * Forward auth for other proxies (nginx auth_request, Traefik ForwardAuth, Envoy ext_authz):
 * which registered service a forwarded request is for. `X-Forwarded-Uri` (and, for the record,
 * `X-Forwarded-Method`) come from the proxy; the service is the first path segment after
 * GATEWAY_PREFIX, or the first segment when the URI does not start with it. Unknown or reserved
 * names: undefined (the plain token check applies).
 */
import type { FastifyInstance } from 'fastify';
import { isReservedServiceName } from '../events/service';
import type { DirectoryEntry } from './directory';

/**
 * The URI a proxy forwards: `X-Forwarded-Uri` (nginx as configured, Traefik by itself), else
 * Envoy ext_authz's `path_prefix: /api/v1/auth/verify?` form, where the original path (with its
 * own query) arrives as this request's query: `/api/v1/auth/verify?/orders/x?a=1`.
 */
export function forwardedUri(header: string | string[] | undefined, url: string): string | undefined {
  if (typeof header === 'string') return header;
  const q = url.indexOf('?');
  return q >= 0 && url[q + 1] === '/' ? url.slice(q + 1) : undefined;
}

export async function forwardedService(app: FastifyInstance, uri: string | string[] | undefined): Promise<DirectoryEntry | undefined> {
  if (typeof uri !== 'string' || !uri.startsWith('/')) return undefined;
  const path = uri.split('?')[0]!;
  const prefix = app.config.GATEWAY_PREFIX;
  const rest = prefix && (path.startsWith(`${prefix}/`)) ? path.slice(prefix.length) : path;
  const name = rest.split('/')[1] ?? '';
  if (!name || isReservedServiceName(name)) return undefined;
  await app.gateway.ready({ health: false });
  return app.gateway.service(name);
}
