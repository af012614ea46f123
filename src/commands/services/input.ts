/**
 * The service definition as clients send it (REST body, GATEWAY_SERVICES file, CLI): the event's
 * spec (src/events/service.ts) with defaults for everything but the name and the upstreams.
 */
import { z } from 'zod';
import { serviceSpec, type ServiceSpec } from '../../events/service';

export const SERVICE_DEFAULTS = {
  auth: 'token',
  strip_prefix: true,
  timeout_ms: 30_000,
  retries: 1,
  websocket: false,
  forward_authorization: false,
  health_interval_ms: 5000,
  balance: 'round_robin',
} as const satisfies Partial<ServiceSpec>;

const s = serviceSpec.shape;

/** POST body / one file entry. */
export const serviceInput = z.object({
  name: s.name,
  upstreams: s.upstreams,
  auth: s.auth.default(SERVICE_DEFAULTS.auth),
  feature: s.feature,
  roles: s.roles,
  strip_prefix: s.strip_prefix.default(SERVICE_DEFAULTS.strip_prefix),
  timeout_ms: s.timeout_ms.default(SERVICE_DEFAULTS.timeout_ms),
  retries: s.retries.default(SERVICE_DEFAULTS.retries),
  rate_limit_per_minute: s.rate_limit_per_minute,
  rate_limit_per_user_per_minute: s.rate_limit_per_user_per_minute,
  websocket: s.websocket.default(SERVICE_DEFAULTS.websocket),
  forward_authorization: s.forward_authorization.default(SERVICE_DEFAULTS.forward_authorization),
  health_path: s.health_path,
  health_interval_ms: s.health_interval_ms.default(SERVICE_DEFAULTS.health_interval_ms),
  balance: s.balance.default(SERVICE_DEFAULTS.balance),
}).strict();

/** PATCH body: any field but the name; `null` clears an optional one. */
export const servicePatch = z.object({
  upstreams: s.upstreams.optional(),
  auth: s.auth.optional(),
  feature: s.feature.nullable(),
  roles: s.roles.nullable(),
  strip_prefix: s.strip_prefix.optional(),
  timeout_ms: s.timeout_ms.optional(),
  retries: s.retries.optional(),
  rate_limit_per_minute: s.rate_limit_per_minute.nullable(),
  rate_limit_per_user_per_minute: s.rate_limit_per_user_per_minute.nullable(),
  websocket: s.websocket.optional(),
  forward_authorization: s.forward_authorization.optional(),
  health_path: s.health_path.nullable(),
  health_interval_ms: s.health_interval_ms.optional(),
  balance: s.balance.optional(),
}).strict();
export type ServicePatch = z.infer<typeof servicePatch>;

const CLEARABLE = ['feature', 'roles', 'rate_limit_per_minute', 'rate_limit_per_user_per_minute', 'health_path'] as const;

/** A PATCH body → the decider's changes (nulls become `clear`). */
export function changesOf(patch: ServicePatch) {
  const clear = CLEARABLE.filter((k) => patch[k] === null);
  const changes = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== null && v !== undefined)) as Partial<ServiceSpec>;
  return { ...changes, clear: [...clear] };
}

/** The service as the API shows it. */
export const serviceView = serviceSpec.extend({ down: z.array(z.string()).describe('Upstreams last marked down by health checks') });
