/**
 * Gateway service registry events (stream `service-<name>`, issue 14), registered by admins, by
 * the CLI or by the GATEWAY_SERVICES file. Rules enforced here:
 * - a service name is a lower-case DNS label; names the API itself uses under the gateway prefix
 *   (`v1`, `v2`, … and the few top-level paths) are reserved, so `/api/v1/…` stays ours;
 * - ServiceRegistered and ServiceUpdated carry the whole definition (an update replaces it), so a
 *   read model is the last such event; health marks name one upstream of the current definition.
 * Service events concern no user: the actor is in the metadata.
 */
import { z } from 'zod';
import { defineEvent, type EventOf } from './registry';

export const RESERVED_SERVICE_NAMES = ['api', 'docs', 'redoc', 'health', 'ready', 'metrics', 'feature', 'ws', 'upload', 'uploads', 'files', 'admin', 'console', 'openapi.json'];
export const isReservedServiceName = (name: string) => /^v\d+$/.test(name) || RESERVED_SERVICE_NAMES.includes(name);

export const serviceName = z.string().min(1).max(63).regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'a lower-case DNS label: a-z, 0-9 and -');

/** http(s)://host[:port][/base] or dns+srv://_service._proto.name (resolved with resolveSrv). */
export const upstreamUrl = z.string().max(500).refine((u) => {
  try {
    const url = new URL(u);
    if (url.protocol === 'dns+srv:') return !!url.hostname && !url.username && !url.password;
    return (url.protocol === 'http:' || url.protocol === 'https:') && !!url.hostname && !url.username && !url.password && !url.search && !url.hash;
  } catch {
    return false;
  }
}, 'an http(s):// URL without credentials, query or fragment, or dns+srv://_http._tcp.name');

export const authPolicy = z.enum(['none', 'token', 'api_key', 'token_or_api_key']);
export type AuthPolicy = z.infer<typeof authPolicy>;

/** A service's whole definition (snake_case: the REST and file formats use these names as they are). */
export const serviceSpec = z.object({
  name: serviceName,
  upstreams: z.array(upstreamUrl).min(1).max(64),
  auth: authPolicy,
  feature: z.string().min(1).max(64).regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/).optional(),
  roles: z.array(z.string().min(1).max(64).regex(/^[a-zA-Z0-9_.:-]+$/)).max(32).optional(),
  strip_prefix: z.boolean(),
  timeout_ms: z.number().int().min(1).max(600_000),
  retries: z.number().int().min(0).max(5),
  rate_limit_per_minute: z.number().int().min(1).max(10_000_000).optional(),
  rate_limit_per_user_per_minute: z.number().int().min(1).max(10_000_000).optional(),
  websocket: z.boolean(),
  forward_authorization: z.boolean(),
  health_path: z.string().max(500).regex(/^\/[\x21-\x7e]*$/, 'an absolute path').optional(),
  health_interval_ms: z.number().int().min(100).max(3_600_000),
  balance: z.enum(['round_robin', 'least_in_flight']),
});
export type ServiceSpec = z.infer<typeof serviceSpec>;

export const ServiceRegistered = defineEvent('ServiceRegistered', serviceSpec);
export const ServiceUpdated = defineEvent('ServiceUpdated', serviceSpec);
export const ServiceDeregistered = defineEvent('ServiceDeregistered', z.object({ name: serviceName }));
export const UpstreamMarkedDown = defineEvent('UpstreamMarkedDown', z.object({ name: serviceName, upstream: z.string().max(500), reason: z.string().max(200) }));
export const UpstreamMarkedUp = defineEvent('UpstreamMarkedUp', z.object({ name: serviceName, upstream: z.string().max(500) }));
export const serviceEvents = [ServiceRegistered, ServiceUpdated, ServiceDeregistered, UpstreamMarkedDown, UpstreamMarkedUp];
export const SERVICE_EVENT_TYPES = serviceEvents.map((e) => e.type);

export type ServiceEvent =
  | EventOf<typeof ServiceRegistered>
  | EventOf<typeof ServiceUpdated>
  | EventOf<typeof ServiceDeregistered>
  | EventOf<typeof UpstreamMarkedDown>
  | EventOf<typeof UpstreamMarkedUp>;

export interface ServiceState {
  status: 'none' | 'active' | 'deregistered';
  spec?: ServiceSpec;
  /** Upstreams (as registered) last marked down. */
  down: string[];
}

export const initialServiceState = (): ServiceState => ({ status: 'none', down: [] });

export function evolveService(state: ServiceState, event: ServiceEvent): ServiceState {
  switch (event.type) {
    case 'ServiceRegistered':
      return { status: 'active', spec: event.data, down: [] };
    case 'ServiceUpdated':
      return { ...state, spec: event.data, down: state.down.filter((u) => event.data.upstreams.includes(u)) };
    case 'ServiceDeregistered':
      return { status: 'deregistered', down: [] };
    case 'UpstreamMarkedDown':
      return state.down.includes(event.data.upstream) ? state : { ...state, down: [...state.down, event.data.upstream] };
    case 'UpstreamMarkedUp':
      return { ...state, down: state.down.filter((u) => u !== event.data.upstream) };
    default:
      return state;
  }
}
