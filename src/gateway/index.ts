/**
 * The `gateway` role. Mounted in the API app at GATEWAY_PREFIX (src/compose.ts) when this process
 * also runs `api` and GATEWAY_PORT is unset; otherwise its own lean Fastify app (./app.ts: the same
 * edge rules — request ids, security headers, problem+json, logging — and none of the API's other
 * hooks) on GATEWAY_PORT (or PORT when the process runs no `api`), serving only the proxy and /health.
 */
import type { Services } from '../services';
import { buildGatewayApp } from './app';

export { gatewayCorePlugin } from './runtime';
export { gatewayProxy } from './proxy';
export { buildGatewayApp } from './app';

/** Whether the API app mounts the gateway (same port). */
export const gatewayOnApiPort = (config: Services['config']) => config.ROLES.has('gateway') && config.ROLES.has('api') && config.GATEWAY_PORT === undefined;

export async function startGateway(services: Services): Promise<{ port: number; stop(): Promise<void> }> {
  const { config } = services;
  const app = await buildGatewayApp(services);
  await app.listen({ host: config.HOST, port: config.GATEWAY_PORT ?? config.PORT });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (config.GATEWAY_PORT ?? config.PORT);
  return {
    port,
    stop: async () => {
      const sweeper = setInterval(() => app.server.closeIdleConnections(), 100);
      try {
        await app.close();
      } finally {
        clearInterval(sweeper);
      }
    },
  };
}
