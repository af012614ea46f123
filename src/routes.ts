/**
 * The composition root of the HTTP API: every route module, write side (src/commands) and read
 * side (src/queries), is registered here and nowhere else.
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from './services';
import { systemRoutes } from './http/system-routes';
import { keysPlugin } from './infra/keys';
import { authPlugin } from './http/auth';

export async function registerRoutes(app: FastifyInstance, services: Services): Promise<void> {
  // Identity first: every route module below may use app.authenticate / app.requireAdmin.
  await app.register(keysPlugin);
  await app.register(authPlugin);
  await systemRoutes(app, services);
}
