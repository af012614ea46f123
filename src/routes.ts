/**
 * The composition root of the HTTP API: every route module, write side (src/commands) and read
 * side (src/queries), is registered here and nowhere else.
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from './services';
import { systemRoutes } from './http/system-routes';
import { registerProjectionHealth } from './projections/health';
import { keysPlugin } from './infra/keys';
import { authPlugin } from './http/auth';
import { identityCommandRoutes } from './commands/identity/routes';
import { identityQueryRoutes } from './queries/identity/routes';
import { featureCommandRoutes } from './commands/features/routes';
import { apiKeyCommandRoutes } from './commands/api-keys/routes';
import { featureQueryRoutes } from './queries/features/routes';
import { apiKeyQueryRoutes } from './queries/api-keys/routes';
import { accessRoutes } from './queries/api-keys/access';
import { userCommandRoutes } from './commands/users/routes';
import { userQueryRoutes } from './queries/users/routes';
import { realtimeRoutes } from './realtime/routes';
import { emailCommandRoutes } from './commands/email/routes';
import { workerRoutes } from '../workers/routes';
import { auditRoutes } from './queries/audit/routes';

export async function registerRoutes(app: FastifyInstance, services: Services): Promise<void> {
  // Identity first: every route module below may use app.authenticate / app.requireAdmin.
  await app.register(keysPlugin);
  await app.register(authPlugin);
  await systemRoutes(app, services);
  // Identity and sessions (issue 4).
  await identityCommandRoutes(app);
  await identityQueryRoutes(app);
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
  await workerRoutes(app, services);
  // Audit trail, time travel and log search (issue 6).
  await auditRoutes(app, services);
}
