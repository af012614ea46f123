/**
 * Service registry decisions (one decider for the `service-<name>` stream). Rules enforced here:
 * - reserved names (`v1`, `docs`, … see src/events/service.ts) are refused: `/api/v1/…` is ours;
 * - a name is registered once while it exists; after deregistration it may be registered again;
 * - an update needs an existing service and emits ServiceUpdated only when the definition changes;
 * - `ApplyService` (the GATEWAY_SERVICES file, `cli services apply`) registers, updates or does
 *   nothing, so applying the same file again appends nothing (idempotent seeding);
 * - health marks name an upstream of the current definition and are emitted only on a change of
 *   state, so several gateway processes seeing the same outage append one UpstreamMarkedDown.
 */
import { domainError, errors } from '../../errors';
import {
  evolveService, initialServiceState, isReservedServiceName,
  type ServiceEvent, type ServiceSpec, type ServiceState,
} from '../../events/service';

export type ServiceCommand =
  | { type: 'RegisterService'; spec: ServiceSpec }
  | { type: 'UpdateService'; name: string; changes: Partial<Omit<ServiceSpec, 'name'>> & { clear?: ('feature' | 'roles' | 'rate_limit_per_minute' | 'rate_limit_per_user_per_minute' | 'health_path')[] } }
  | { type: 'ApplyService'; spec: ServiceSpec }
  | { type: 'DeregisterService'; name: string }
  | { type: 'MarkUpstream'; name: string; upstream: string; up: boolean; reason?: string };

const same = (a: ServiceSpec, b: ServiceSpec) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
function canonical(s: ServiceSpec): Record<string, unknown> {
  return Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined).sort(([a], [b]) => a.localeCompare(b)));
}

function refuseReserved(name: string) {
  if (isReservedServiceName(name)) throw domainError('service_name_reserved', `The service name ${name} is reserved (the API uses it).`);
}

export function decideService(command: ServiceCommand, state: ServiceState): ServiceEvent[] {
  switch (command.type) {
    case 'RegisterService':
      refuseReserved(command.spec.name);
      if (state.status === 'active') throw errors.conflict(`Service ${command.spec.name} already exists.`, 'service_exists');
      return [{ type: 'ServiceRegistered', data: command.spec }];
    case 'ApplyService':
      refuseReserved(command.spec.name);
      if (state.status !== 'active') return [{ type: 'ServiceRegistered', data: command.spec }];
      return same(state.spec!, command.spec) ? [] : [{ type: 'ServiceUpdated', data: command.spec }];
    case 'UpdateService': {
      if (state.status !== 'active') throw errors.notFound(`No service ${command.name}.`, 'service_not_found');
      const { clear = [], ...changes } = command.changes;
      const next: ServiceSpec = { ...state.spec!, ...Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined)), name: state.spec!.name };
      for (const k of clear) delete next[k];
      return same(state.spec!, next) ? [] : [{ type: 'ServiceUpdated', data: next }];
    }
    case 'DeregisterService':
      if (state.status !== 'active') throw errors.notFound(`No service ${command.name}.`, 'service_not_found');
      return [{ type: 'ServiceDeregistered', data: { name: command.name } }];
    case 'MarkUpstream': {
      if (state.status !== 'active' || !state.spec!.upstreams.includes(command.upstream)) return [];
      const down = state.down.includes(command.upstream);
      if (command.up) return down ? [{ type: 'UpstreamMarkedUp', data: { name: command.name, upstream: command.upstream } }] : [];
      return down ? [] : [{ type: 'UpstreamMarkedDown', data: { name: command.name, upstream: command.upstream, reason: (command.reason ?? 'health check failed').slice(0, 200) } }];
    }
  }
}

export const serviceDecider = { initialState: initialServiceState, evolve: evolveService, decide: decideService };
