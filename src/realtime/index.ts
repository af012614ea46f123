/**
 * Entry of the realtime role: starts the uWebSockets.js hub on REALTIME_PORT (see ./hub.ts and
 * docs/realtime.md). Any number of hub processes may run against the same Redis.
 * Authentication reuses identity's code (src/http): the access-token verifier for tokens offered
 * in Sec-WebSocket-Protocol, and the session gate (is a session still active?) for every upgrade.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Services } from '../services';
import { getKeys } from '../credentials/keys';
import { SessionGate } from '../http/session-gate';
import { AccessTokenVerifier } from '../credentials/access-tokens';
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
    inline: services.inline,
    log: services.log,
    verifyAccessToken: async (token) => {
      const a = await verifier.verify(token);
      return { userId: a.userId, sessionId: a.sessionId, roles: a.roles };
    },
    // Fail closed: Redis errors reject, and the upgrade is refused (503).
    isSessionActive: (sessionId) => gate.isActive(sessionId),
    ...opts,
  });
  if (!nativeUws()) {
    services.log.warn(`realtime: no native uWebSockets.js build for Node ABI ${process.versions.modules} on ${process.platform}-${process.arch}; the package's slower JavaScript fallback is in use. Run the hub on Node 20 (ABI 115).`);
  }
  const nofile = openFileLimit();
  if (nofile !== undefined && nofile < 8192) {
    services.log.warn({ nofile }, `realtime: the open-file limit is ${nofile}; the hub holds one descriptor per socket. Raise it (ulimit -n 65536, LimitNOFILE= in systemd, --ulimit nofile= in Docker).`);
  }
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

/** The soft RLIMIT_NOFILE of this process (Linux, from /proc), or undefined. */
export function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    if (!m) return undefined;
    return m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** Whether the installed uWebSockets.js has a native binary for this Node (else it falls back to JS). */
export function nativeUws(): boolean {
  try {
    const pkg = createRequire(import.meta.url).resolve('uWebSockets.js/package.json');
    return fs.existsSync(path.join(path.dirname(pkg), 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`));
  } catch {
    return false;
  }
}
