/** Given / when / then for the social sign-in decider (src/commands/oauth/decide.ts). */
import { describe, expect, it } from 'vitest';
import { spec } from '../helpers/decider';
import { oauthDecider, streamOf, type OAuthEvent } from '../../src/commands/oauth/decide';
import type { ProviderProfile } from '../../src/commands/oauth/providers';

const now = '2026-12-01T12:00:00.000Z';
const given = spec(oauthDecider).given;
const profile = (over: Partial<ProviderProfile> = {}): ProviderProfile => ({ provider: 'google', subject: 'g-1', email: 'Alice@Example.test', emailVerified: true, name: 'Alice', ...over });
const registered = (userId = 'u1', email = 'alice@example.test', passwordHash = '$2b$hash'): OAuthEvent => ({ type: 'UserRegistered', data: { userId, email, name: 'Alice', passwordHash, source: 'signup' } });
const emailReserved = (userId = 'u1', email = 'alice@example.test'): OAuthEvent => ({ type: 'EmailReserved', data: { email, userId } });
const verified = (userId = 'u1', email = 'alice@example.test'): OAuthEvent => ({ type: 'EmailVerified', data: { userId, email } });
const ids = (userId = 'u1', identityId = 'i1', provider = 'google', subject = 'g-1') => ({ userId, identityId, provider, subject });
const linked = (over: Partial<ReturnType<typeof ids>> = {}): OAuthEvent => ({ type: 'ExternalIdentityLinked', data: { ...ids(), ...over, emailVerified: true, via: 'explicit', at: now } });
const reserved = (over: Partial<ReturnType<typeof ids>> = {}): OAuthEvent => ({ type: 'ExternalIdentityReserved', data: { ...ids(), ...over } });
const signIn = (p = profile()) => ({ type: 'SignInWithProvider' as const, profile: p, now, newUserId: 'new-user', newIdentityId: 'new-id' });

describe('sign in with a provider', () => {
  it('creates an account (no password, e-mail reserved and verified when trusted) and links the identity', () => {
    given([]).when(signIn()).then([
      { type: 'EmailReserved', data: { email: 'alice@example.test', userId: 'new-user' } },
      { type: 'UserRegistered', data: { userId: 'new-user', email: 'Alice@Example.test', name: 'Alice', passwordHash: '', source: 'oauth' } },
      { type: 'EmailVerified', data: { userId: 'new-user', email: 'Alice@Example.test' } },
      { type: 'ExternalIdentityReserved', data: { userId: 'new-user', identityId: 'new-id', provider: 'google', subject: 'g-1' } },
      { type: 'ExternalIdentityLinked', data: { userId: 'new-user', identityId: 'new-id', provider: 'google', subject: 'g-1', email: 'Alice@Example.test', emailVerified: true, via: 'signup', at: now } },
    ]);
  });

  it('an untrusted e-mail (Naver, Facebook, unverified) creates the account with that e-mail unverified', () => {
    const events = oauthDecider.decide(signIn(profile({ provider: 'naver', subject: 'n-1', emailVerified: false })), oauthDecider.initialState());
    expect(events.map((e) => e.type)).toEqual(['EmailReserved', 'UserRegistered', 'ExternalIdentityReserved', 'ExternalIdentityLinked']);
  });

  it('no e-mail at all (Kakao without consent): the account has none and reserves none', () => {
    const events = oauthDecider.decide(signIn(profile({ provider: 'kakao', subject: '123', email: undefined, emailVerified: false })), oauthDecider.initialState());
    expect(events.map((e) => e.type)).toEqual(['UserRegistered', 'ExternalIdentityReserved', 'ExternalIdentityLinked']);
    expect((events[0]!.data as { email: string }).email).toBe('');
  });

  it('an identity already linked signs in as its user: no event', () => {
    given([registered(), reserved(), linked()]).when(signIn()).then([]);
  });

  it('a linked identity of a disabled or deleted user cannot sign in', () => {
    given([registered(), reserved(), linked(), { type: 'UserDisabled', data: { userId: 'u1' } }]).when(signIn()).thenThrows('oauth_account_unavailable');
    given([registered(), reserved(), linked(), { type: 'UserDeleted', data: { userId: 'u1' } }]).when(signIn()).thenThrows('oauth_account_unavailable');
  });

  it('auto-links on a trusted verified e-mail when the account\'s e-mail is verified too', () => {
    given([emailReserved(), registered(), verified()]).when(signIn()).then([
      { type: 'ExternalIdentityReserved', data: { userId: 'u1', identityId: 'new-id', provider: 'google', subject: 'g-1' } },
      { type: 'ExternalIdentityLinked', data: { userId: 'u1', identityId: 'new-id', provider: 'google', subject: 'g-1', email: 'Alice@Example.test', emailVerified: true, via: 'verified_email', at: now } },
    ]);
  });

  it('takeover by an unverified provider e-mail matching an existing account is refused: link explicitly', () => {
    for (const p of [profile({ emailVerified: false }), profile({ provider: 'facebook', subject: 'fb', emailVerified: false }), profile({ provider: 'naver', subject: 'nv', emailVerified: false })]) {
      given([emailReserved(), registered(), verified()]).when(signIn(p)).thenThrows('oauth_link_required');
    }
  });

  it('pre-account takeover: a squatter\'s unverified account is not auto-linked even to a trusted e-mail', () => {
    given([emailReserved(), registered()]).when(signIn()).thenThrows('oauth_link_required');
  });

  it('an e-mail held by an account the handler did not load is never given a second account', () => {
    given([emailReserved('someone-else')]).when(signIn()).thenThrows('oauth_link_required');
  });

  it('auto-link refuses a second identity of the same provider with another subject', () => {
    given([emailReserved(), registered(), verified(), linked({ subject: 'g-other' })]).when(signIn()).thenThrows('oauth_provider_already_linked');
  });
});

describe('explicit linking', () => {
  const reauth = (over: Partial<{ passwordConfirmed: boolean; authenticatedAt: string; maxAgeSeconds: number }> = {}) => ({ passwordConfirmed: false, authenticatedAt: '2026-12-01T11:58:00.000Z', maxAgeSeconds: 300, ...over });
  const start = (r = reauth(), provider = 'github') => ({ type: 'StartLink' as const, provider, reauth: r, now });
  const link = (p = profile({ provider: 'github', subject: '583231', emailVerified: false })) => ({ type: 'LinkIdentity' as const, profile: p, now, newIdentityId: 'i2' });

  it('starts with a recent login or a confirmed password, else reauth_required', () => {
    given([registered()]).when(start()).then([]);
    given([registered()]).when(start(reauth({ passwordConfirmed: true, authenticatedAt: '2026-11-30T00:00:00.000Z' }))).then([]);
    given([registered()]).when(start(reauth({ authenticatedAt: '2026-12-01T11:54:59.000Z' }))).thenThrows('reauth_required');
    given([registered()]).when(start(reauth({ authenticatedAt: '2026-12-01T12:10:00.000Z' }))).thenThrows('reauth_required');
  });

  it('refuses to start for a provider already linked', () => {
    given([registered(), linked({ provider: 'github', subject: '583231' })]).when(start()).thenThrows('oauth_provider_already_linked');
  });

  it('links any e-mail (trusted or not): the user proved both sides', () => {
    given([registered()]).when(link()).then([
      { type: 'ExternalIdentityReserved', data: { userId: 'u1', identityId: 'i2', provider: 'github', subject: '583231' } },
      { type: 'ExternalIdentityLinked', data: { userId: 'u1', identityId: 'i2', provider: 'github', subject: '583231', email: 'Alice@Example.test', emailVerified: false, via: 'explicit', at: now } },
    ]);
  });

  it('refuses an identity linked to someone else, and is a no-op for one already linked here', () => {
    given([registered(), reserved({ userId: 'u2', provider: 'github', subject: '583231' })]).when(link()).thenThrows('oauth_identity_taken');
    given([registered(), reserved({ provider: 'github', subject: '583231', identityId: 'i2' }), linked({ provider: 'github', subject: '583231', identityId: 'i2' })]).when(link()).then([]);
  });

  it('refuses a different subject for a provider already linked', () => {
    given([registered(), linked({ provider: 'github', subject: '1' })]).when(link()).thenThrows('oauth_provider_already_linked');
  });

  it('refuses for a disabled user', () => {
    given([registered(), { type: 'UserDisabled', data: { userId: 'u1' } }]).when(link()).thenThrows('oauth_account_unavailable');
  });
});

describe('unlinking', () => {
  const unlink = (identityId = 'i1') => ({ type: 'UnlinkIdentity' as const, identityId, reason: 'user' as const, now });

  it('unlinks and releases the identity', () => {
    given([registered(), reserved(), linked()]).when(unlink()).then([
      { type: 'ExternalIdentityUnlinked', data: { ...ids(), reason: 'user', at: now } },
      { type: 'ExternalIdentityReleased', data: ids() },
    ]);
  });

  it('refuses the last way to sign in (no password, no other identity)', () => {
    given([registered('u1', 'a@x.test', ''), reserved(), linked()]).when(unlink()).thenThrows('oauth_last_sign_in_method');
  });

  it('allows it when another identity remains', () => {
    given([registered('u1', 'a@x.test', ''), linked(), linked({ identityId: 'i2', provider: 'github', subject: '5' })]).when(unlink()).then([
      { type: 'ExternalIdentityUnlinked', data: { ...ids(), reason: 'user', at: now } },
      { type: 'ExternalIdentityReleased', data: ids() },
    ]);
  });

  it('an identity that is not this user\'s (or already unlinked) is not found', () => {
    given([registered(), linked()]).when(unlink('i9')).thenThrows('oauth_identity_not_found');
    given([registered(), linked(), { type: 'ExternalIdentityUnlinked', data: { ...ids(), reason: 'user', at: now } }]).when(unlink()).thenThrows('oauth_identity_not_found');
  });

  it('user deletion unlinks everything, even the last way in', () => {
    const events = oauthDecider.decide({ type: 'UnlinkAllForDeletion', now }, [registered('u1', 'a@x.test', ''), linked(), linked({ identityId: 'i2', provider: 'kakao', subject: '7' })].reduce(oauthDecider.evolve, oauthDecider.initialState()));
    expect(events.map((e) => [e.type, (e.data as { identityId: string }).identityId])).toEqual([
      ['ExternalIdentityUnlinked', 'i1'], ['ExternalIdentityReleased', 'i1'], ['ExternalIdentityUnlinked', 'i2'], ['ExternalIdentityReleased', 'i2'],
    ]);
  });
});

describe('provider tokens', () => {
  const store = (over: Record<string, unknown> = {}) => ({ type: 'StoreProviderTokens' as const, identityId: 'i1', subject: 'g-1', ciphertext: 'alc1.k.iv.ct.tag', dataKeyId: 'k', hasRefreshToken: true, now, ...over });

  it('stores ciphertext for a linked identity; a refresh says whether the refresh token was kept', () => {
    given([registered(), linked()]).when(store()).then([
      { type: 'ProviderTokensStored', data: { userId: 'u1', identityId: 'i1', provider: 'google', ciphertext: 'alc1.k.iv.ct.tag', dataKeyId: 'k', hasRefreshToken: true, at: now } },
    ]);
    given([registered(), linked()]).when(store({ refresh: { refreshTokenKept: true }, accessTokenExpiresAt: '2026-12-01T13:00:00.000Z' })).then([
      { type: 'ProviderTokensRefreshed', data: { userId: 'u1', identityId: 'i1', provider: 'google', ciphertext: 'alc1.k.iv.ct.tag', dataKeyId: 'k', accessTokenExpiresAt: '2026-12-01T13:00:00.000Z', hasRefreshToken: true, at: now, refreshTokenKept: true } },
    ]);
  });

  it('refuses tokens naming a different subject than the linked identity', () => {
    given([registered(), linked()]).when(store({ subject: 'g-attacker' })).thenThrows('oauth_subject_mismatch');
  });

  it('refuses tokens for an unlinked identity', () => {
    given([registered()]).when(store()).thenThrows('oauth_identity_not_found');
  });
});

it('routes every event to its stream', () => {
  expect(['EmailReserved', 'UserRegistered', 'ExternalIdentityReserved', 'ExternalIdentityLinked', 'ProviderTokensStored'].map((type) => streamOf({ type, data: {} })))
    .toEqual(['emailReservation', 'user', 'externalIdentity', 'user', 'providerTokens']);
});
