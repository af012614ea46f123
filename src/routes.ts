/**
 * The composition root of the HTTP API: every route module, write side (src/commands) and read
 * side (src/queries), is registered here and nowhere else.
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from './services';
import { systemRoutes } from './http/system-routes';

export async function registerRoutes(app: FastifyInstance, services: Services): Promise<void> {
  await systemRoutes(app, services);
}
