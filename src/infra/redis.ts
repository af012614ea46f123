import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis client for request paths: no offline queue, so while Redis is down calls fail at once
 * (→ 503) instead of piling up; reconnects forever in the background.
 */
export function createRedis(url: string, opts: RedisOptions = {}): Redis {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 3000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    lazyConnect: true,
    ...opts,
  });
  // Never let a connection error become an unhandled 'error' event (process crash).
  client.on('error', () => undefined);
  return client;
}

/** Connects and waits until ready (bounded). */
export async function connectRedis(client: Redis, timeoutMs = 10_000): Promise<void> {
  if (client.status === 'ready') return;
  // The bound covers the connection attempt itself (a lazy client's connect(), a host that accepts
  // and never answers), not only the wait for 'ready' after it.
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      client.off('ready', onReady);
      reject(new Error('Redis did not become ready in time'));
    }, timeoutMs);
    function onReady() {
      clearTimeout(t);
      resolve();
    }
    client.once('ready', onReady);
    if (client.status === 'wait') client.connect().catch(() => undefined);
  });
}

/**
 * Closes a command connection gracefully: QUIT waits for the replies of commands already sent
 * (a bare disconnect rejects them, and a rejection nobody awaits any more is a process crash at
 * shutdown); bounded, then the socket is dropped.
 */
export async function closeRedis(client: Redis, timeoutMs = 1000): Promise<void> {
  if (client.status === 'end' || client.status === 'wait') return client.disconnect();
  if (client.status !== 'ready') return client.disconnect();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.quit().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  client.disconnect();
}
