import { describe, it } from 'vitest';
import { spec } from '../helpers/decider';
import { apiKeyDecider, type ApiKeyCommand } from '../../src/commands/api-keys/decide';
import { featureDecider } from '../../src/commands/features/decide';
import type { ApiKeyEvent } from '../../src/events/api-key';

const issued: ApiKeyEvent = {
  type: 'ApiKeyIssued',
  data: { keyId: 'k1', userId: 'u1', name: 'ci', prefix: 'alk_k1_abcd', secretHash: 'h', features: ['reports'], expiresAt: '2030-01-01T00:00:00.000Z' },
};
const issue: ApiKeyCommand = {
  type: 'IssueApiKey', keyId: 'k1', userId: 'u1', name: 'ci', prefix: 'alk_k1_abcd', secretHash: 'h', features: ['reports', 'reports'], expiresAt: '2030-01-01T00:00:00.000Z',
};

describe('API key decider', () => {
  const keys = spec(apiKeyDecider);
  it('issues a new key (duplicate features collapse)', () => keys.given([]).when(issue).then([issued]));
  it('refuses to issue the same id twice', () => keys.given([issued]).when(issue).thenThrows('api_key_exists'));
  it('lets the owner revoke', () =>
    keys.given([issued]).when({ type: 'RevokeApiKey', actorUserId: 'u1', actorIsAdmin: false }).then([{ type: 'ApiKeyRevoked', data: { keyId: 'k1', userId: 'u1' } }]));
  it('lets an admin revoke anyone’s key with a reason', () =>
    keys.given([issued]).when({ type: 'RevokeApiKey', actorUserId: 'admin', actorIsAdmin: true, reason: 'admin' })
      .then([{ type: 'ApiKeyRevoked', data: { keyId: 'k1', userId: 'u1', reason: 'admin' } }]));
  it('tells another user the key does not exist', () =>
    keys.given([issued]).when({ type: 'RevokeApiKey', actorUserId: 'u2', actorIsAdmin: false }).thenThrows('api_key_not_found'));
  it('404s an unknown key', () => keys.given([]).when({ type: 'RevokeApiKey', actorUserId: 'u1', actorIsAdmin: true }).thenThrows('api_key_not_found'));
  it('revoking twice changes nothing', () =>
    keys.given([issued, { type: 'ApiKeyRevoked', data: { keyId: 'k1', userId: 'u1' } }]).when({ type: 'RevokeApiKey', actorUserId: 'u1', actorIsAdmin: false }).then([]));
  it('expires a key past its expiry', () =>
    keys.given([issued]).when({ type: 'ExpireApiKey', now: new Date('2030-01-02T00:00:00Z') }).then([{ type: 'ApiKeyExpired', data: { keyId: 'k1', userId: 'u1' } }]));
  it('does not expire a key before its expiry', () => keys.given([issued]).when({ type: 'ExpireApiKey', now: new Date('2029-12-31T00:00:00Z') }).then([]));
  it('does not expire a revoked key', () =>
    keys.given([issued, { type: 'ApiKeyRevoked', data: { keyId: 'k1', userId: 'u1' } }]).when({ type: 'ExpireApiKey', now: new Date('2031-01-01T00:00:00Z') }).then([]));
  it('never expires a key without expiry', () =>
    keys.given([{ ...issued, data: { ...issued.data, expiresAt: null } } as ApiKeyEvent]).when({ type: 'ExpireApiKey', now: new Date('2099-01-01T00:00:00Z') }).then([]));
});

describe('feature decider', () => {
  const f = spec(featureDecider);
  const registered = { type: 'FeatureRegistered' as const, data: { name: 'reports', description: 'Reports' } };
  it('registers a new feature', () => f.given([]).when({ type: 'RegisterFeature', name: 'reports', description: 'Reports' }).then([registered]));
  it('refuses a duplicate name', () => f.given([registered]).when({ type: 'RegisterFeature', name: 'reports', description: 'x' }).thenThrows('feature_exists'));
  it('allows the name again after deletion', () =>
    f.given([registered, { type: 'FeatureDeleted', data: { name: 'reports' } }]).when({ type: 'RegisterFeature', name: 'reports', description: 'again' })
      .then([{ type: 'FeatureRegistered', data: { name: 'reports', description: 'again' } }]));
  it('disables and redescribes in one update', () =>
    f.given([registered]).when({ type: 'UpdateFeature', name: 'reports', description: 'New', enabled: false }).then([
      { type: 'FeatureUpdated', data: { name: 'reports', description: 'New' } },
      { type: 'FeatureDisabled', data: { name: 'reports' } },
    ]));
  it('enables a disabled feature', () =>
    f.given([registered, { type: 'FeatureDisabled', data: { name: 'reports' } }]).when({ type: 'UpdateFeature', name: 'reports', enabled: true })
      .then([{ type: 'FeatureEnabled', data: { name: 'reports' } }]));
  it('an update that changes nothing emits nothing', () =>
    f.given([registered]).when({ type: 'UpdateFeature', name: 'reports', description: 'Reports', enabled: true }).then([]));
  it('404s updates of unknown or deleted features', () => {
    f.given([]).when({ type: 'UpdateFeature', name: 'x', enabled: false }).thenThrows('feature_not_found');
    f.given([registered, { type: 'FeatureDeleted', data: { name: 'reports' } }]).when({ type: 'DeleteFeature', name: 'reports' }).thenThrows('feature_not_found');
  });
  it('deletes', () => f.given([registered]).when({ type: 'DeleteFeature', name: 'reports' }).then([{ type: 'FeatureDeleted', data: { name: 'reports' } }]));
});
