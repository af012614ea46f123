/**
 * Entry of the realtime role: starts the uWebSockets.js hub on REALTIME_PORT (see ./hub.ts and
 * docs/realtime.md). Any number of hub processes may run against the same Redis.
 * Authentication reuses identity's code (src/http): the access-token verifier for tokens offered
 * in Sec-WebSocket-Protocol, and the session gate (is a session still active?) for every upgrade.
 */
import type { Services } from '../services';
import { getKeys } from '../infra/keys';
import { SessionGate } from '../http/session-gate';
import { AccessTokenVerifier } from '../http/access-tokens';
import { Hub, type HubOptions } from './hub';

export { Hub } from './hub';

export async function startRealtime(
  services: Services,
  opts: Partial<Pick<HubOptions, 'port' | 'host'>> = {},
): Promise<{ port: number; hub: Hub; stop(): Promise<void> }> {
  const { config } = services;
  const gate = new SessionGate(services.redis, services.prefix, { endedMemoryMs: (config.ACCESS_TOKEN_TTL + 60) * 1000 });
  await gate.start();
  const verifier = new AccessTokenVerifier(await getKeys(config), config, gate);
  const hub = new Hub({
    config,
    redis: services.redis,
    prefix: services.prefix,
    store: services.store,
    log: services.log,
    verifyAccessToken: async (token) => {
      const a = await verifier.verify(token);
      return { userId: a.userId, sessionId: a.sessionId, roles: a.roles };
    },
    // Fail closed: Redis errors reject, and the upgrade is refused (503).
    isSessionActive: (sessionId) => gate.isActive(sessionId),
    ...opts,
  });
  try {
    await hub.start();
  } catch (err) {
    await gate.stop();
    throw err;
  }
  return {
    port: hub.port,
    hub,
    async stop() {
      await hub.stop();
      await gate.stop();
    },
  };
}
