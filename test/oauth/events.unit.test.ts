/** The external-identity events: they register beside the existing ones and hold only ciphertext. */
import { describe, expect, it } from 'vitest';
import { EventRegistry, allEvents } from '../../src/events';
import { externalIdentityEvents, externalIdentityStreams, subjectKey } from '../../src/events/external-identity';
import { streams } from '../../src/events/streams';
import { oauthDecider } from '../../src/commands/oauth/decide';
import { encryptJson, newDataKey, providerTokensContext } from '../../src/credentials/envelope';
import { parseStream } from '../../src/events/streams';

const registry = new EventRegistry(allEvents);
const now = '2026-12-01T12:00:00.000Z';

describe('external-identity events', () => {
  it('register beside every existing event type (the one-line change in src/events/index.ts)', () => {
    for (const t of ['ExternalIdentityLinked', 'ExternalIdentityUnlinked', 'ExternalIdentityReserved', 'ExternalIdentityReleased', 'ProviderTokensStored', 'ProviderTokensRefreshed']) {
      expect(registry.has(t)).toBe(true);
    }
    for (const e of externalIdentityEvents) expect(allEvents).toContain(e);
  });

  it('every event the decider emits passes its schema, and each carries userId', () => {
    const created = oauthDecider.decide(
      { type: 'SignInWithProvider', profile: { provider: 'oidc-acme', subject: 'x'.repeat(255), email: 'a@b.test', emailVerified: true, name: 'A' }, now, newUserId: 'u1', newIdentityId: 'i1' },
      oauthDecider.initialState(),
    );
    const state = created.reduce(oauthDecider.evolve, oauthDecider.initialState());
    const dk = newDataKey();
    const ciphertext = encryptJson(dk, { access_token: 'at' }, providerTokensContext('u1', 'i1'));
    const tokens = oauthDecider.decide({ type: 'StoreProviderTokens', identityId: 'i1', subject: 'x'.repeat(255), ciphertext, dataKeyId: dk.id, hasRefreshToken: false, now }, state);
    const unlinked = oauthDecider.decide({ type: 'UnlinkAllForDeletion', now }, state);
    for (const e of [...created, ...tokens, ...unlinked]) {
      const { data } = registry.encode(e.type, e.data);
      expect((data as { userId?: string }).userId, e.type).toBe('u1');
    }
  });

  it('refuses plaintext where ciphertext belongs', () => {
    const base = { userId: 'u1', identityId: 'i1', provider: 'google', dataKeyId: 'k', hasRefreshToken: true, at: now };
    for (const ciphertext of ['ya29.a0AfH6SMB-plain-google-token', '{"access_token":"x"}', 'alc1.k.only-three']) {
      expect(() => registry.encode('ProviderTokensStored', { ...base, ciphertext })).toThrow();
    }
  });

  it('stream names: bounded, parseable, the same for the same (provider, subject), distinct across providers', () => {
    const s = externalIdentityStreams.externalIdentity('github', '583231');
    expect(parseStream(s)).toEqual({ category: 'extid', id: subjectKey('github', '583231') });
    expect(externalIdentityStreams.externalIdentity('github', '583231')).toBe(s);
    expect(externalIdentityStreams.externalIdentity('kakao', '583231')).not.toBe(s);
    expect(streams.externalIdentity('github', '583231')).toBe(s);
    expect(streams.providerTokens('i1')).toBe(externalIdentityStreams.providerTokens('i1'));
    expect(externalIdentityStreams.externalIdentity('oidc', 'y'.repeat(255)).length).toBeLessThan(60);
    expect(parseStream(externalIdentityStreams.providerTokens('i1'))).toEqual({ category: 'providertokens', id: 'i1' });
  });
});
