/**
 * `npm run cli -- services …`: the gateway's service registry from a shell (issue 14). Every
 * change is a command on the service's stream like the REST one; the actor is `operator:<OS user>`.
 *   services list | show <name> | register <name> --upstream URL… [options] | update <name> --set JSON
 *   | apply <file> | remove <name>
 */
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { Services } from '../../services';
import type { ServiceCommand } from './decide';

function actor(): string {
  let name = 'unknown';
  try {
    name = userInfo().username;
  } catch {
    // no user (containers)
  }
  return `operator:${name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64)}`;
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function addServiceCommands(program: Command, runStartup: (services: Services) => Promise<void>): void {
  const cmd = program.command('services').description('the gateway service registry: list, show, register, update, apply a file, remove');

  async function withServices<T>(fn: (s: Services) => Promise<T>): Promise<T> {
    const { loadConfig } = await import('../../config');
    const { createServices } = await import('../../services');
    const services = await createServices(loadConfig());
    try {
      await runStartup(services);
      return await fn(services);
    } finally {
      await services.close();
    }
  }
  async function run(command: ServiceCommand): Promise<void> {
    const { runServiceCommand } = await import('./handlers');
    await withServices(async (s) => {
      const r = await runServiceCommand(s, command, { actorUserId: actor() });
      console.log(JSON.stringify(r.state.spec ? { ...r.state.spec, down: r.state.down } : { status: r.state.status }, null, 2));
      if (!r.changed) console.error('(nothing changed)');
    });
  }

  cmd.command('list').description('list registered services (from the services read model)').action(async () => {
    const { listServices } = await import('../../projections/services');
    await withServices(async (s) => {
      for (const r of await listServices(s.pool)) console.log(`${r.spec.name}\t${r.spec.auth}\t${r.spec.upstreams.join(',')}${r.down.length ? `\tdown: ${r.down.join(',')}` : ''}`);
    });
  });

  cmd.command('show <name>').description('one service as its stream says (no projector needed)').action(async (name: string) => {
    const { loadStream } = await import('../decider');
    const { serviceDecider } = await import('./decide');
    const { streams } = await import('../../events/streams');
    await withServices(async (s) => {
      const { state } = await loadStream(s.store, streams.service(name), serviceDecider);
      if (state.status !== 'active') {
        console.error(`no service ${name}`);
        process.exitCode = 1;
        return;
      }
      console.log(JSON.stringify({ ...state.spec, down: state.down }, null, 2));
    });
  });

  cmd.command('register <name>').description('register a service (defaults as in POST /api/v1/services)')
    .requiredOption('--upstream <url>', 'upstream URL (repeat for several); http(s):// or dns+srv://', collect, [])
    .option('--auth <policy>', 'none | token | api_key | token_or_api_key', 'token')
    .option('--feature <name>', 'feature an API key must cover (and that must be enabled)')
    .option('--role <role>', 'role the user must have (repeatable)', collect, [])
    .option('--websocket', 'pass WebSocket upgrades through')
    .option('--set <json>', 'any other fields as JSON, e.g. {"timeout_ms":5000,"health_path":"/health"}')
    .action(async (name: string, o: { upstream: string[]; auth: string; feature?: string; role: string[]; websocket?: boolean; set?: string }) => {
      const { serviceInput } = await import('./input');
      const spec = serviceInput.parse({
        name, upstreams: o.upstream, auth: o.auth, ...(o.feature ? { feature: o.feature } : {}), ...(o.role.length ? { roles: o.role } : {}),
        ...(o.websocket ? { websocket: true } : {}), ...(o.set ? JSON.parse(o.set) : {}),
      });
      await run({ type: 'RegisterService', spec });
    });

  cmd.command('update <name>').description('change a service: --set JSON with the PATCH body\'s fields (null clears)')
    .requiredOption('--set <json>', 'fields to change, e.g. {"upstreams":["http://10.0.0.5:8080"]}')
    .action(async (name: string, o: { set: string }) => {
      const { changesOf, servicePatch } = await import('./input');
      await run({ type: 'UpdateService', name, changes: changesOf(servicePatch.parse(JSON.parse(o.set))) });
    });

  cmd.command('apply <file>').description('apply a JSON or YAML services file (as GATEWAY_SERVICES does at start): register or update, idempotent')
    .action(async (file: string) => {
      const { applyServicesFile } = await import('./file');
      await withServices(async (s) => {
        const changed = await applyServicesFile(s, file, { actorUserId: actor() });
        console.log(changed.length ? `changed: ${changed.join(', ')}` : 'nothing changed');
      });
    });

  cmd.command('remove <name>').description('deregister a service').action(async (name: string) => run({ type: 'DeregisterService', name }));
}
