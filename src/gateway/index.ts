/**
 * The `gateway` role. Mounted in the API app at GATEWAY_PREFIX (src/compose.ts) when this process
 * also runs `api` and GATEWAY_PORT is unset; otherwise its own Fastify app (the same edge rules:
 * request ids, security headers, problem+json, logging) on GATEWAY_PORT (or PORT when the process
 * runs no `api`), serving only the proxy and /health.
 */
import type { Services } from '../services';
import { buildHttpApp } from '../http/app';
import { keysPlugin } from '../http/plugins/keys';
import { authPlugin } from '../http/auth';
import { gatewayCorePlugin } from './runtime';
import { gatewayProxy } from './proxy';

export { gatewayCorePlugin } from './runtime';
export { gatewayProxy } from './proxy';

/** Whether the API app mounts the gateway (same port). */
export const gatewayOnApiPort = (config: Services['config']) => config.ROLES.has('gateway') && config.ROLES.has('api') && config.GATEWAY_PORT === undefined;

export async function startGateway(services: Services): Promise<{ port: number; stop(): Promise<void> }> {
  const { config } = services;
  const app = await buildHttpApp(services, async (a) => {
    await a.register(keysPlugin);
    await a.register(authPlugin);
    await a.register(gatewayCorePlugin, { services });
    a.get('/health', { schema: { hide: true } }, async () => ({ status: 'ok' }));
    await a.register(gatewayProxy, { mountPath: config.GATEWAY_PREFIX });
  });
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
