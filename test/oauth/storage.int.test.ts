/**
 * Storage pieces on the real servers: crypto-shredding with the PostgreSQL event store and the
 * key table (the raw events table holds only ciphertext, and after deletion nothing decrypts),
 * and single-use transactions in Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { createTestDatabase, testRedisPrefix, REDIS_BASE, type TestDatabase } from '../helpers/db';
import { PostgresEventStore } from '../../src/events/postgres/store';
import { EventRegistry, allEvents, streams } from '../../src/events';
import { externalIdentityStreams } from '../../src/events/external-identity';
import { decryptJson, encryptJson, generateServerKey, parseServerKeys, providerTokensContext, identityKeyScope, EnvelopeError } from '../../src/credentials/envelope';
import { dataKeyStore } from '../../src/commands/oauth/data-keys';
import { oauthDecider, streamOf, type OAuthEvent, type OAuthAccountState } from '../../src/commands/oauth/decide';
import { redisTransactionStore } from '../../src/commands/oauth/transactions';
import { createOAuthClient } from '../../src/commands/oauth/client';
import { configuredProviders } from '../../src/commands/oauth/providers';
import { startStandIn, type StandIn } from './stand-ins/provider-stand-in';
import { authorizeAtStandIn, codeOf } from './helpers';

let db: TestDatabase;
let pool: pg.Pool;
let store: PostgresEventStore;
let redis: Redis;
let github: StandIn;
const ring = parseServerKeys(`${generateServerKey()},${generateServerKey()}`);

beforeAll(async () => {
  db = await createTestDatabase('oauthstore');
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  store = new PostgresEventStore(pool, new EventRegistry(allEvents));
  redis = new Redis(REDIS_BASE, { lazyConnect: false, maxRetriesPerRequest: 2 });
  github = await startStandIn('github', { expiringTokens: true, user: { id: 77, login: 'shred', email: 'shred@example.test', emailVerified: true, name: 'Shred Me' } });
});
afterAll(async () => {
  await store?.close?.();
  await pool?.end();
  await db?.drop();
  redis?.disconnect();
  await github?.close();
});

const now = () => new Date().toISOString();

/** What the integration handler will do, minimally: decide, then append per stream. */
async function appendAll(userId: string, identityId: string, provider: string, subject: string, events: OAuthEvent[]) {
  const byStream = new Map<string, OAuthEvent[]>();
  for (const e of events) {
    const s = streamOf(e);
    const name = s === 'user' ? streams.user(userId) : s === 'externalIdentity' ? externalIdentityStreams.externalIdentity(provider, subject)
      : s === 'providerTokens' ? externalIdentityStreams.providerTokens(identityId) : streams.emailReservation((e.data as { email: string }).email);
    byStream.set(name, [...(byStream.get(name) ?? []), e]);
  }
  for (const [name, list] of byStream) await store.appendToStream(name, list.map((e) => ({ type: e.type, data: e.data })));
}

async function stateOf(userId: string): Promise<OAuthAccountState> {
  const events = await store.readStream(streams.user(userId)).catch(() => []);
  return events.reduce((s, e) => oauthDecider.evolve(s, { type: e.type, data: e.data }), oauthDecider.initialState());
}

describe('crypto-shredding', () => {
  it('the log holds only ciphertext; after user deletion no stored token decrypts', async () => {
    const client = createOAuthClient(configuredProviders(github.env()), { store: redisTransactionStore(redis, testRedisPrefix('oauthtx')) });
    const a = await authorizeAtStandIn(client, 'github');
    const { profile, tokens } = await client.complete('github', { transactionId: a.transactionId, params: a.params });
    const userId = randomUUID();
    const identityId = randomUUID();
    await appendAll(userId, identityId, 'github', profile.subject, oauthDecider.decide({ type: 'SignInWithProvider', profile, now: now(), newUserId: userId, newIdentityId: identityId }, oauthDecider.initialState()));

    const keys = dataKeyStore(pool, ring);
    const dk = await keys.ensure(userId, identityKeyScope(identityId));
    expect((await keys.ensure(userId, identityKeyScope(identityId))).key.equals(dk.key)).toBe(true);
    const ctx = providerTokensContext(userId, identityId);
    const ciphertext = encryptJson(dk, tokens, ctx);
    const stored = oauthDecider.decide({ type: 'StoreProviderTokens', identityId, subject: profile.subject, ciphertext, dataKeyId: dk.id, hasRefreshToken: !!tokens.refreshToken, now: now() }, await stateOf(userId));
    await appendAll(userId, identityId, 'github', profile.subject, stored);

    // A refresh, kept under the same data key.
    const refreshed = await client.refresh('github', { refreshToken: tokens.refreshToken!, expectedSubject: profile.subject });
    const ct2 = encryptJson(dk, refreshed, ctx);
    await appendAll(userId, identityId, 'github', profile.subject, oauthDecider.decide(
      { type: 'StoreProviderTokens', identityId, subject: profile.subject, ciphertext: ct2, dataKeyId: dk.id, hasRefreshToken: true, refresh: { refreshTokenKept: refreshed.refreshTokenKept }, now: now() },
      await stateOf(userId),
    ));

    const raw = async () => (await pool.query<{ event_type: string; data: Record<string, unknown>; text: string }>(`SELECT event_type, data, data::text AS text FROM events ORDER BY position`)).rows;
    const secrets = [tokens.accessToken, tokens.refreshToken!, refreshed.accessToken, refreshed.refreshToken!];
    for (const r of await raw()) for (const s of secrets) expect(r.text.includes(s), `${r.event_type} holds a token in clear`).toBe(false);
    const tokenRows = (await raw()).filter((r) => r.event_type.startsWith('ProviderTokens'));
    expect(tokenRows.map((r) => r.event_type)).toEqual(['ProviderTokensStored', 'ProviderTokensRefreshed']);
    // Before deletion: readable with the key table.
    for (const r of tokenRows) {
      const key = await keys.load(r.data.dataKeyId as string, userId);
      expect(decryptJson<{ accessToken: string }>(key!, r.data.ciphertext as string, ctx).accessToken).toMatch(/^gho_/);
    }

    // Delete the user: unlink everything, shred.
    const deletion = oauthDecider.decide({ type: 'UnlinkAllForDeletion', now: now() }, await stateOf(userId));
    await appendAll(userId, identityId, 'github', profile.subject, [...deletion, { type: 'UserDeleted', data: { userId } }]);
    expect(await keys.shredUser(userId)).toBe(1);
    expect(await keys.shredUser(userId)).toBe(0);
    expect((await pool.query('SELECT count(*)::int AS n FROM user_data_keys WHERE user_id = $1', [userId])).rows[0].n).toBe(0);

    // After: the events are still there (append-only), and nothing decrypts them.
    const after = (await raw()).filter((r) => r.event_type.startsWith('ProviderTokens'));
    expect(after).toHaveLength(2);
    for (const r of after) {
      expect(await keys.load(r.data.dataKeyId as string, userId)).toBeUndefined();
      for (const k of ring.all) {
        expect(() => decryptJson({ id: r.data.dataKeyId as string, key: k.key }, r.data.ciphertext as string, ctx)).toThrow(EnvelopeError);
      }
    }
  });

  it('unlinking shreds only that identity\'s key', async () => {
    const keys = dataKeyStore(pool, ring);
    const u = randomUUID();
    const k1 = await keys.ensure(u, 'identity:a');
    const k2 = await keys.ensure(u, 'identity:b');
    expect(await keys.shredScope(u, 'identity:a')).toBe(1);
    expect(await keys.load(k1.id, u)).toBeUndefined();
    expect((await keys.load(k2.id, u))!.key.equals(k2.key)).toBe(true);
    expect(await keys.load(k2.id, 'another-user')).toBeUndefined();
  });

  it('rotates the server key by re-wrapping rows, ciphertexts untouched', async () => {
    const oldKey = generateServerKey();
    const u = randomUUID();
    const before = dataKeyStore(pool, parseServerKeys(oldKey));
    const dk = await before.ensure(u, 'totp');
    const ct = encryptJson(dk, { secret: 'JBSWY3DPEHPK3PXP' }, 'totp|u');
    const newKey = generateServerKey();
    const rotated = dataKeyStore(pool, parseServerKeys(`${newKey},${oldKey}`));
    const result = await rotated.rewrapAll();
    expect(result.rewrapped).toBe(1);
    // Rows of the other tests were wrapped by keys this ring does not hold: left alone, counted.
    expect(result.unknownServerKey).toBeGreaterThanOrEqual(1);
    expect((await rotated.rewrapAll()).rewrapped).toBe(0);
    const onlyNew = dataKeyStore(pool, parseServerKeys(newKey));
    expect(decryptJson(await onlyNew.load(dk.id, u) as never, ct, 'totp|u')).toEqual({ secret: 'JBSWY3DPEHPK3PXP' });
  });
});

describe('transactions in Redis', () => {
  it('are single use, even when two callbacks race', async () => {
    const prefix = testRedisPrefix('oauthtx');
    const s = redisTransactionStore(redis, prefix);
    const tx = { provider: 'github', state: 's', redirectUri: 'http://127.0.0.1/cb', expiresAt: Date.now() + 60_000, data: {} };
    const id = 'a'.repeat(43);
    await s.put(id, tx, 600);
    expect(await redis.ttl(`${prefix}oauth:tx:${id}`)).toBeGreaterThan(590);
    const [x, y] = await Promise.all([s.take(id), s.take(id)]);
    expect([x, y].filter(Boolean)).toHaveLength(1);
    expect(await s.take(id)).toBeUndefined();
    expect(await s.take('../../etc')).toBeUndefined();
  });

  it('a flow through the Redis store refuses a replayed callback', async () => {
    const client = createOAuthClient(configuredProviders(github.env()), { store: redisTransactionStore(redis, testRedisPrefix('oauthtx')) });
    const a = await authorizeAtStandIn(client, 'github');
    await client.complete('github', { transactionId: a.transactionId, params: a.params });
    expect(await codeOf(client.complete('github', { transactionId: a.transactionId, params: a.params }))).toBe('oauth_state_invalid');
  });
});
