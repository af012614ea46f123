/**
 * Authorization transactions (state, PKCE verifier, nonce, redirect_to) in Redis, single use:
 * `take` is GETDEL, so two callbacks racing with the same cookie cannot both succeed; entries
 * expire after the transaction TTL (10 minutes). Keys: `<prefix>oauth:tx:<id>`; the id is
 * 256 random bits from client.ts, bound to the browser by the caller's HttpOnly cookie.
 */
import type { Redis } from 'ioredis';
import type { AuthorizationTransaction, TransactionStore } from './client';

export function redisTransactionStore(redis: Redis, prefix: string, now: () => number = Date.now): TransactionStore {
  const key = (id: string) => `${prefix}oauth:tx:${id}`;
  return {
    async put(id, tx, ttlSeconds) {
      const ok = await redis.set(key(id), JSON.stringify(tx), 'EX', ttlSeconds, 'NX');
      if (ok !== 'OK') throw new Error('transaction id collision');
    },
    async take(id) {
      if (!/^[A-Za-z0-9_-]{16,128}$/.test(id)) return undefined;
      const raw = await redis.getdel(key(id));
      if (!raw) return undefined;
      const tx = JSON.parse(raw) as AuthorizationTransaction;
      return tx.expiresAt > now() ? tx : undefined;
    },
  };
}
