/**
 * Entry of the realtime role: starts the uWebSockets.js hub on REALTIME_PORT (see ./hub.ts and
 * docs/realtime.md). Any number of hub processes may run against the same Redis.
 */
import type { Services } from '../services';
import { Hub, type HubOptions } from './hub';

export { Hub } from './hub';

export async function startRealtime(
  services: Services,
  opts: Partial<Pick<HubOptions, 'port' | 'host' | 'verifyAccessToken' | 'isSessionActive'>> = {},
): Promise<{ port: number; hub: Hub; stop(): Promise<void> }> {
  const hub = new Hub({
    config: services.config,
    redis: services.redis,
    prefix: services.prefix,
    store: services.store,
    log: services.log,
    ...opts,
  });
  await hub.start();
  return { port: hub.port, hub, stop: () => hub.stop() };
}
