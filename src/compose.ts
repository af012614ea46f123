/**
 * The composition root: the one module of src/ that knows every role (API routes, projector,
 * workers, realtime hub) and wires them together. Rules:
 * - it is the only module of src/ importing workers/ (checked by .dependency-cruiser.cjs);
 * - roles never import it (nor server.ts / cli.ts / main.ts, which use it);
 * - every route module, write side (src/commands) and read side (src/queries), is registered in
 *   `registerRoutes` and nowhere else; every idempotent start task is in `startupTasks`.
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from './services';
import { systemRoutes } from './http/system-routes';
import { consoleRoutes } from './http/console';
import { registerProjectionHealth } from './projections/health';
import { keysPlugin } from './http/plugins/keys';
import { authPlugin } from './http/auth';
import { readYourWritesPlugin } from './http/read-your-writes';
import { identityCommandRoutes } from './commands/identity/routes';
import { identityQueryRoutes } from './queries/identity/routes';
import { oauthPlugin } from './http/plugins/oauth';
import { oauthCommandRoutes } from './commands/oauth/routes';
import { featureCommandRoutes } from './commands/features/routes';
import { apiKeyCommandRoutes } from './commands/api-keys/routes';
import { featureQueryRoutes } from './queries/features/routes';
import { apiKeyQueryRoutes } from './queries/api-keys/routes';
import { accessRoutes } from './queries/api-keys/access';
import { userCommandRoutes } from './commands/users/routes';
import { userQueryRoutes } from './queries/users/routes';
import { realtimeRoutes } from './realtime/routes';
import { emailCommandRoutes } from './commands/email/routes';
import { emailChangeRoutes } from './commands/email/change-routes';
import { workerRoutes } from '../workers/routes';
import { auditRoutes } from './queries/audit/routes';
import { adminSqlRoutes } from './queries/admin-sql/routes';
import { savedQueryCommandRoutes } from './commands/saved-queries/routes';
import { ensureBrowserAccess } from './queries/admin-sql/role';
import { fileCommandRoutes } from './commands/files/routes';
import { fileQueryRoutes } from './queries/files/routes';
import { mfaCommandRoutes } from './commands/mfa/routes';
import { mfaQueryRoutes } from './queries/mfa/routes';
import { ensureProjections } from './projections/tables';
import { pgProjections } from './projections/index';
import { ensureWorkerSchema } from '../workers/consumer';
import { bootstrapAdminFromConfig } from './commands/users/bootstrap';
import type { Command } from 'commander';
import { buildHttpApp } from './http/app';
import { startProjector } from './projections/runtime';
import { startRealtime } from './realtime/index';
import { startWorkers } from '../workers/index';
import { addJobCommands } from '../workers/cli';
import { addEventLogCommands } from './ops/event-log-cli';
import { addUserCommands } from './commands/users/cli';
import { addIdentityCommands } from './commands/identity/cli';
import { serviceCommandRoutes } from './commands/services/routes';
import { serviceQueryRoutes } from './queries/services/routes';
import { addServiceCommands } from './commands/services/cli';
import { applyServicesFile } from './commands/services/file';
import { gatewayCorePlugin, gatewayOnApiPort, gatewayProxy, startGateway } from './gateway/index';

export async function registerRoutes(app: FastifyInstance, services: Services): Promise<void> {
  // Identity first: every route module below may use app.authenticate / app.requireAdmin.
  await app.register(keysPlugin);
  await app.register(authPlugin);
  // Read-your-writes (issue 11): before every route module, so its onRoute hook sees them all.
  await app.register(readYourWritesPlugin, { services });
  // The gateway's directory and policy checks (forward auth uses them; they connect on first use).
  await app.register(gatewayCorePlugin, { services });
  await systemRoutes(app, services);
  // The web console at /console/ and ReDoc's offline script (issue 16).
  await consoleRoutes(app);
  // Identity and sessions (issue 4).
  await identityCommandRoutes(app);
  await identityQueryRoutes(app);
  // Social sign-in (issue 13).
  await app.register(oauthPlugin);
  await oauthCommandRoutes(app);
  // Multi-factor and passwordless sign-in (issue 17; after oauthPlugin: TOTP secrets use app.dataKeys).
  await mfaCommandRoutes(app);
  await mfaQueryRoutes(app);
  registerProjectionHealth(app, services, { maxLagEvents: services.config.READY_MAX_PROJECTION_LAG });
  // API keys, features and the access check (issue 5).
  await featureCommandRoutes(app, services);
  await featureQueryRoutes(app, services);
  await apiKeyCommandRoutes(app, services);
  await apiKeyQueryRoutes(app, services);
  await accessRoutes(app, services);
  await userCommandRoutes(app, services);
  await userQueryRoutes(app, services);
  // Realtime hub REST, tickets and the group-chat test page (issue 8).
  await realtimeRoutes(app, services);
  // E-mail verification / password reset commands, Bull Board and queue metrics (issue 7).
  await emailCommandRoutes(app, services);
  await emailChangeRoutes(app, services);
  await workerRoutes(app, services);
  // Audit trail, time travel and log search (issue 6).
  await auditRoutes(app, services);
  // Read-model browser, saved queries and projection status (issue 16).
  await adminSqlRoutes(app, services);
  await savedQueryCommandRoutes(app, services);
  // File uploads (issue 15): multipart lives in the command routes' own scope.
  await fileCommandRoutes(app, services);
  await fileQueryRoutes(app, services);
  // The gateway's service registry (issue 14).
  await serviceCommandRoutes(app, services);
  await serviceQueryRoutes(app, services);
  if (gatewayOnApiPort(services.config)) await app.register(gatewayProxy, { mountPath: services.config.GATEWAY_PREFIX });
}

/** The Fastify API with every route module. */
export const buildApp = (services: Services) => buildHttpApp(services, registerRoutes);

/**
 * What every process does once its clients are up and before it serves: ensure read-model
 * tables/views exist; then tasks later modules add (first admin, …). Each task is idempotent.
 */
export type StartupTask = { name: string; run(services: Services): Promise<void> };

export const startupTasks: StartupTask[] = [
  { name: 'projections', run: (s) => ensureProjections(s.pool, pgProjections()) },
  { name: 'worker-tables', run: (s) => ensureWorkerSchema(s.pool, s.store) },
  { name: 'first-admin', run: bootstrapAdminFromConfig },
  { name: 'read-model-browser', run: async (s) => { await ensureBrowserAccess(s.pool, s.config, s.log); } },
  { name: 'gateway-services', run: async (s) => void (s.config.GATEWAY_SERVICES && (await applyServicesFile(s, s.config.GATEWAY_SERVICES))) },
];

export async function runStartup(services: Services): Promise<void> {
  for (const task of startupTasks) {
    await task.run(services);
  }
}

/** The non-API roles, started by src/server.ts when `ROLES` names them. */
export const roles = { startProjector, startWorkers, startRealtime, startGateway, gatewayOnApiPort };

/** Every role's `npm run cli` subcommands. */
export function addRoleCommands(program: Command): void {
  addEventLogCommands(program);
  addUserCommands(program, runStartup);
  addJobCommands(program);
  addIdentityCommands(program);
  addServiceCommands(program, runStartup);
}
