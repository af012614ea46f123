/** Runs service commands on the `service-<name>` stream (the one decider: decide.ts). */
import type { EventMetadata } from '../../events/store';
import { streams } from '../../events/streams';
import type { ServiceState } from '../../events/service';
import { runCommand, type CommandDeps } from '../decider';
import { serviceDecider, type ServiceCommand } from './decide';

const nameOf = (c: ServiceCommand) => ('spec' in c ? c.spec.name : c.name);

export async function runServiceCommand(deps: CommandDeps, command: ServiceCommand, metadata: EventMetadata): Promise<{ state: ServiceState; changed: boolean }> {
  const r = await runCommand(deps, { stream: streams.service(nameOf(command)), decider: serviceDecider, command, metadata, attempts: 5 });
  return { state: r.state, changed: r.appended.length > 0 };
}
