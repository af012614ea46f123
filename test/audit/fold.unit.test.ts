import { describe, expect, it } from 'vitest';
import { accessibleFeatures, foldFeatures, foldUser } from '../../src/queries/audit/fold';
import { redact } from '../../src/queries/audit/redact';
import type { RecordedEvent } from '../../src/events/store';

let n = 0;
const ev = (type: string, data: Record<string, unknown>, minute: number): RecordedEvent => ({
  position: { commit: 1n, prepare: BigInt(++n) },
  streamName: 's',
  revision: 0n,
  id: String(n),
  type,
  schemaVersion: 1,
  data,
  metadata: {},
  createdAt: new Date(Date.UTC(2030, 0, 1, 10, minute)),
});
const at = (minute: number, sec = 30) => new Date(Date.UTC(2030, 0, 1, 10, minute, sec));

describe('foldUser', () => {
  const u = 'u1';
  const events = [
    ev('UserRegistered', { userId: u, email: 'a@x', name: 'A', passwordHash: 'h', source: 'signup' }, 1),
    ev('SessionStarted', { userId: u, sessionId: 's1', refreshTokenHash: 'h', expiresAt: '2030-01-01T10:10:00.000Z' }, 2),
    ev('ApiKeyIssued', { userId: u, keyId: 'k1', name: 'k', prefix: 'alk_k1', secretHash: 'h', features: '*', expiresAt: '2030-01-01T10:08:00.000Z' }, 3),
    ev('UserDisabled', { userId: u }, 5),
    ev('UserEnabled', { userId: u }, 6),
  ];
  it('is undefined before registration', () => {
    expect(foldUser(events, at(0))).toBeUndefined();
  });
  it('ends sessions and keys at their expiry without an event', () => {
    expect(foldUser(events, at(4))!.apiKeys.size).toBe(1);
    expect(foldUser(events, at(8))!.apiKeys.size).toBe(0);
    expect(foldUser(events, at(9))!.sessions.size).toBe(1);
    expect(foldUser(events, at(10))!.sessions.size).toBe(0);
  });
  it('a disabled user has no active session, key or feature', () => {
    const s = foldUser(events, at(5))!;
    expect(s.status).toBe('disabled');
    expect(s.sessions.size + s.apiKeys.size).toBe(0);
    const features = foldFeatures([ev('FeatureRegistered', { name: 'f', description: '' }, 0)], at(5));
    expect(accessibleFeatures(s, features)).toEqual([]);
    expect(accessibleFeatures(foldUser(events, at(4))!, features)).toEqual(['f']);
  });
  it('features follow enable/disable/delete', () => {
    const fe = [
      ev('FeatureRegistered', { name: 'f', description: '' }, 0),
      ev('FeatureDisabled', { name: 'f' }, 2),
      ev('FeatureEnabled', { name: 'f' }, 4),
      ev('FeatureDeleted', { name: 'f' }, 6),
    ];
    expect(foldFeatures(fe, at(1)).get('f')!.enabled).toBe(true);
    expect(foldFeatures(fe, at(3)).get('f')!.enabled).toBe(false);
    expect(foldFeatures(fe, at(5)).get('f')!.enabled).toBe(true);
    expect(foldFeatures(fe, at(7)).has('f')).toBe(false);
  });
});

describe('redact', () => {
  it('hides every hash, secret, sealed token and password at any depth', () => {
    expect(redact({ userId: 'u', passwordHash: 'x', refreshTokenHash: 'y', nested: { secretHash: 'z', sealedToken: 's', keep: 1 }, tokenId: 't' })).toEqual({
      userId: 'u', passwordHash: '[redacted]', refreshTokenHash: '[redacted]', nested: { secretHash: '[redacted]', sealedToken: '[redacted]', keep: 1 }, tokenId: 't',
    });
  });
});
