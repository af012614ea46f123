/**
 * A scripted history appended straight to the store (no HTTP), with controlled timestamps, for
 * the audit tests: signup → login (session A) → key issued → login (session B) → logout A →
 * key revoked → role granted → profile change.
 */
import { randomUUID } from 'node:crypto';
import type { EventStore, NewEvent } from '../../src/events/store';
import { streams } from '../../src/events/streams';

export interface History {
  userId: string;
  email: string;
  sessionA: string;
  sessionB: string;
  keyId: string;
  /** Moments between the steps (each strictly between two events). */
  t: {
    beforeSignup: Date;
    afterSignup: Date;
    afterLoginA: Date;
    afterKeyIssued: Date;
    afterLoginB: Date;
    afterLogoutA: Date;
    afterKeyRevoked: Date;
    end: Date;
  };
}

const meta = (extra: Record<string, string> = {}) => ({ ip: '203.0.113.7', userAgent: 'vitest/audit', requestId: `req-${randomUUID().slice(0, 8)}`, ...extra });

export async function scriptHistory(store: EventStore, base = new Date('2030-01-01T10:00:00.000Z'), email = `u${randomUUID().slice(0, 6)}@example.com`): Promise<History> {
  const userId = randomUUID();
  const sessionA = randomUUID();
  const sessionB = randomUUID();
  const keyId = randomUUID();
  let minute = 0;
  const at = () => new Date(base.getTime() + ++minute * 60_000);
  const mid = () => new Date(base.getTime() + minute * 60_000 + 30_000);
  const append = async (stream: string, e: NewEvent) => {
    await store.appendToStream(stream, [{ ...e, metadata: e.metadata ?? meta({ actorUserId: userId }) }], { createdAt: [at()] });
  };
  const expires = new Date(base.getTime() + 14 * 86400_000).toISOString();
  const t = {} as History['t'];
  t.beforeSignup = new Date(base.getTime() + 30_000);
  await append(streams.feature('reports'), { type: 'FeatureRegistered', data: { name: 'reports', description: 'Reports' }, metadata: meta() });
  await append(streams.feature('billing'), { type: 'FeatureRegistered', data: { name: 'billing', description: 'Billing' }, metadata: meta() });
  await append(streams.emailReservation(email), { type: 'EmailReserved', data: { email, userId }, metadata: meta() });
  await append(streams.user(userId), { type: 'UserRegistered', data: { userId, email, name: 'Ada', passwordHash: '$2b$04$secretsecretsecret', source: 'signup' }, metadata: meta() });
  t.afterSignup = mid();
  await append(streams.user(userId), { type: 'LoginFailed', data: { userId, reason: 'bad_password', consecutiveFailures: 1, ip: '203.0.113.7' } });
  await append(streams.session(sessionA), { type: 'SessionStarted', data: { sessionId: sessionA, userId, deviceName: 'laptop', refreshTokenHash: 'rt-hash-a', expiresAt: expires, ip: '203.0.113.7', userAgent: 'Firefox' } });
  await append(streams.session(sessionA), { type: 'SessionRotated', data: { sessionId: sessionA, userId, refreshTokenHash: 'rt-hash-a2', previousTokenHash: 'rt-hash-a' } });
  t.afterLoginA = mid();
  await append(streams.apiKey(keyId), { type: 'ApiKeyIssued', data: { keyId, userId, name: 'ci', prefix: `alk_${keyId.slice(0, 8)}`, secretHash: 'sk-hash', features: ['reports'], expiresAt: null } });
  t.afterKeyIssued = mid();
  await append(streams.session(sessionB), { type: 'SessionStarted', data: { sessionId: sessionB, userId, deviceName: 'phone', refreshTokenHash: 'rt-hash-b', expiresAt: expires } });
  t.afterLoginB = mid();
  await append(streams.session(sessionA), { type: 'SessionRevoked', data: { sessionId: sessionA, userId, reason: 'logout' } });
  t.afterLogoutA = mid();
  await append(streams.apiKey(keyId), { type: 'ApiKeyRevoked', data: { keyId, userId } });
  t.afterKeyRevoked = mid();
  await append(streams.user(userId), { type: 'RoleGranted', data: { userId, role: 'admin' }, metadata: meta({ actorUserId: 'some-admin' }) });
  await append(streams.user(userId), { type: 'UserProfileUpdated', data: { userId, name: 'Ada L.' } });
  t.end = mid();
  return { userId, email, sessionA, sessionB, keyId, t };
}
