import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServices, type TestServices } from '../helpers/app';
import { AccessStateCache, accessKeys, accessWritesFor, applyAccessWrites } from '../../src/projections/access-state';
import { AccessMeter } from '../../src/queries/api-keys/meter';
import { LocalCacheRegistry } from '../../src/projections/local-caches';
import { createInlineProjections } from '../../src/projections/inline';
import type { RecordedEvent } from '../../src/events/store';

const issued = (keyId: string, revision = 0n) => accessWritesFor({
  type: 'ApiKeyIssued', revision,
  data: { keyId, userId: 'u1', name: 'n', prefix: 'p', secretHash: 'ab'.repeat(32), features: ['reports'], expiresAt: null },
})!;
const revoked = (keyId: string, revision = 1n) => accessWritesFor({ type: 'ApiKeyRevoked', revision, data: { keyId, userId: 'u1' } })!;
const until = async (fn: () => Promise<boolean> | boolean, ms = 2000) => {
  const start = Date.now();
  while (!(await fn())) {
    if (Date.now() - start > ms) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('access state in Redis and the per-process cache', () => {
  let s: TestServices;
  let cache: AccessStateCache;
  beforeAll(async () => {
    s = await testServices('access-state');
    cache = await AccessStateCache.start(s.redis, s.prefix, s.inline.localCaches);
  });
  afterAll(async () => {
    await cache.close();
    await s.close();
  });

  it('ignores writes older than what is stored (inline write and projection in any order)', async () => {
    await applyAccessWrites(s.redis, s.prefix, [issued('k1'), revoked('k1')], s.inline.localCaches);
    await applyAccessWrites(s.redis, s.prefix, [issued('k1')], s.inline.localCaches); // a late replay of revision 0
    expect((await cache.key('k1'))?.status).toBe('revoked');
    expect(await s.redis.hget(accessKeys.key(s.prefix, 'k1'), 'rev')).toBe('1');
  });

  it('serves from memory and drops the entry on the invalidation message', async () => {
    expect(cache.isLive).toBe(true);
    await applyAccessWrites(s.redis, s.prefix, [issued('k2')], s.inline.localCaches);
    await new Promise((r) => setTimeout(r, 200)); // let the write's own invalidation message pass first
    expect((await cache.key('k2'))?.status).toBe('active');
    // A change behind the cache's back (no message) is not seen: the entry is in memory…
    await s.redis.hset(accessKeys.key(s.prefix, 'k2'), 's', 'revoked');
    expect((await cache.key('k2'))?.status).toBe('active');
    // …until the message arrives.
    await s.redis.publish(accessKeys.channel(s.prefix), 'k:k2');
    await until(async () => (await cache.key('k2'))?.status === 'revoked');
  });

  it('bypasses the cache while its subscription is down (fail closed), and recovers', async () => {
    await applyAccessWrites(s.redis, s.prefix, [issued('k3')], s.inline.localCaches);
    await new Promise((r) => setTimeout(r, 200));
    expect((await cache.key('k3'))?.status).toBe('active');
    const sub = (cache as unknown as { sub: { disconnect(): void; connect(): Promise<void> } }).sub;
    sub.disconnect();
    await until(() => !cache.isLive, 2000);
    await s.redis.hset(accessKeys.key(s.prefix, 'k3'), 's', 'revoked'); // changed while no message can arrive
    expect((await cache.key('k3'))?.status).toBe('revoked');
    await s.redis.hset(accessKeys.key(s.prefix, 'k3'), 's', 'active');
    expect((await cache.key('k3'))?.status).toBe('active');
    await sub.connect();
    await until(() => cache.isLive, 5000);
    await s.redis.hset(accessKeys.key(s.prefix, 'k3'), 's', 'revoked');
    await s.redis.publish(accessKeys.channel(s.prefix), 'k:k3');
    await until(async () => (await cache.key('k3'))?.status === 'revoked');
  });

  it('unknown keys and features read as absent', async () => {
    expect(await cache.key('nope')).toBeNull();
    expect(await cache.feature('nope')).toEqual({ exists: false, enabled: false });
  });
});

describe('the local cache registry (one per Services, no module state)', () => {
  let s: TestServices;
  beforeAll(async () => {
    s = await testServices('access-registry');
  });
  afterAll(async () => s.close());

  const spy = (prefix: string) => ({ prefix, seen: [] as string[], invalidate(m: string) { this.seen.push(m); } });
  const revokedEvent = (keyId: string) => ({ type: 'ApiKeyRevoked', revision: 1n, streamName: `apikey-${keyId}`, data: { keyId, userId: 'u1' } }) as unknown as RecordedEvent;

  it('an inline application drops entries from the caches of its own registry only, of its own prefix', async () => {
    const mine = createInlineProjections(s.config, new LocalCacheRegistry());
    const other = new LocalCacheRegistry();
    const here = spy(s.prefix);
    const elsewhere = spy(`${s.prefix}other:`);
    const otherProcess = spy(s.prefix);
    mine.localCaches.add(here);
    mine.localCaches.add(elsewhere);
    other.add(otherProcess);
    for (const { projection, events } of mine.for([revokedEvent('r1')])) {
      await projection.applyInline({ config: s.config, redis: s.redis, prefix: s.prefix, inline: mine }, events);
    }
    expect(here.seen).toEqual(['k:r1']);
    expect(elsewhere.seen).toEqual([]);
    expect(otherProcess.seen).toEqual([]);
    mine.localCaches.delete(here);
    mine.localCaches.invalidate(s.prefix, ['k:r2']);
    expect(here.seen).toEqual(['k:r1']);
  });

  it('a closed AccessStateCache leaves its registry', async () => {
    const registry = new LocalCacheRegistry();
    const cache = await AccessStateCache.start(s.redis, s.prefix, registry);
    const members = (registry as unknown as { caches: Set<unknown> }).caches;
    expect(members.has(cache)).toBe(true);
    await cache.close();
    expect(members.has(cache)).toBe(false);
  });
});

describe('the per-key meter (leased budget slices)', () => {
  let s: TestServices;
  beforeAll(async () => {
    s = await testServices('access-meter');
  });
  afterAll(async () => s.close());

  it('grants exactly the limit under concurrency across two meters, then refuses with Retry-After', async () => {
    const a = new AccessMeter(s.redis, s.prefix, 200);
    const b = new AccessMeter(s.redis, s.prefix, 200);
    try {
      const results = await Promise.all(Array.from({ length: 300 }, (_, i) => (i % 2 ? a : b).hit('kk', 'reports', true)));
      const allowed = results.filter((r) => r.allowed).length;
      // Slices of 10: each meter may strand < 10 at most; never more than 200 in the window.
      expect(allowed).toBeLessThanOrEqual(200);
      expect(allowed).toBeGreaterThanOrEqual(180);
      const refused = results.find((r) => !r.allowed)!;
      expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(refused.retryAfterSeconds).toBeLessThanOrEqual(60);
      await a.flush();
      await b.flush();
      const day = new Date().toISOString().slice(0, 10);
      expect(Number(await s.redis.hget(`${s.prefix}access:use:key:kk`, day))).toBe(allowed);
      expect(Number(await s.redis.hget(`${s.prefix}access:use:feature:reports`, day))).toBe(allowed);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('counts nothing for refused checks, and nothing is limited with limit 0', async () => {
    const m = new AccessMeter(s.redis, s.prefix, 0);
    try {
      for (let i = 0; i < 50; i++) expect((await m.hit('free', 'f', i % 2 === 0)).allowed).toBe(true);
      await m.flush();
      const day = new Date().toISOString().slice(0, 10);
      expect(Number(await s.redis.hget(`${s.prefix}access:use:key:free`, day))).toBe(25);
    } finally {
      await m.close();
    }
  });
});
