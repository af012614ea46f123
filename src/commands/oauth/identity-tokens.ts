/**
 * Link mode and provider tokens for the user (issue 13). Rules enforced here:
 * - starting a link needs the re-authentication of e-mail changes (issue 20 §2): the current
 *   password (403 wrong_password when wrong), or a session whose login — its SessionStarted, not
 *   the access token's issue time — is within REAUTH_MAX_AGE_SECONDS; the decision is the
 *   decider's (`StartLink`);
 * - a refresh calls the provider with the stored refresh token, the refreshed set must name the
 *   linked subject, and it is stored encrypted again under the same data key; when the provider
 *   omits a new refresh token (Kakao, Google) the old one is kept;
 * - the current access token is handed out as is while it is valid for at least
 *   TOKEN_REFRESH_MARGIN_SECONDS more, otherwise refreshed first — one refresh per identity at a
 *   time (a Redis lock; concurrent callers get the winner's tokens, as rotating providers refuse a
 *   spent refresh token); the refresh token never leaves.
 */
import type { EventMetadata } from '../../events/store';
import { oauthError, errors, isOAuthError } from '../../errors';
import { WrongExpectedVersionError } from '../../events/store';
import { verifyPassword } from '../identity/passwords';
import { loadSession } from '../identity/service';
import { loadAccount, loadTokens, storeTokens, type OAuthDeps } from './handlers';
import { oauthDecider, type LinkedIdentity } from './decide';
import type { OAuthClient, ProviderTokens } from './client';

export const TOKEN_REFRESH_MARGIN_SECONDS = 60;
/** How long a refresh holds its identity's lock at most (a provider call has its own timeout, OAUTH_HTTP_TIMEOUT_SECONDS). */
const REFRESH_LOCK_MS = 15_000;

/** Checks that `userId` may start linking `provider` now (throws reauth_required, wrong_password, oauth_provider_already_linked…). */
export async function checkStartLink(
  deps: OAuthDeps,
  input: { userId: string; sessionId: string; provider: string; currentPassword?: string },
  now = new Date(),
): Promise<void> {
  const { state } = await loadAccount(deps.store, { userId: input.userId });
  let passwordConfirmed = false;
  if (input.currentPassword !== undefined) {
    if (!(await verifyPassword(deps.config, input.currentPassword, state.user.passwordHash || undefined))) {
      throw errors.forbidden('The current password is incorrect.', 'wrong_password');
    }
    passwordConfirmed = true;
  }
  const { state: session } = await loadSession(deps.store, input.sessionId);
  const live = session.status === 'active' && session.userId === input.userId;
  oauthDecider.decide({
    type: 'StartLink',
    provider: input.provider,
    now: now.toISOString(),
    // A session that is not this user's live one never counts as a recent login.
    reauth: { passwordConfirmed, authenticatedAt: live ? session.startedAt : new Date(0).toISOString(), maxAgeSeconds: deps.config.REAUTH_MAX_AGE_SECONDS },
  }, state);
}

/** One of the user's linked identities, or oauth_identity_not_found. */
export async function ownIdentity(deps: OAuthDeps, userId: string, identityId: string): Promise<LinkedIdentity> {
  const { state } = await loadAccount(deps.store, { userId });
  const identity = state.user.exists && !state.user.deleted ? state.identities.find((i) => i.identityId === identityId) : undefined;
  if (!identity) throw oauthError('oauth_identity_not_found');
  return identity;
}

export interface CurrentToken {
  identity: LinkedIdentity;
  tokens: ProviderTokens;
  refreshed: boolean;
  refreshTokenKept?: boolean;
}

/** Refreshes an identity's provider tokens with the provider and stores the new set. */
export async function refreshIdentityTokens(deps: OAuthDeps, client: OAuthClient, userId: string, identityId: string, metadata: EventMetadata): Promise<CurrentToken> {
  const identity = await ownIdentity(deps, userId, identityId);
  const stored = await loadTokens(deps, userId, identityId);
  if (!stored) throw oauthError('oauth_identity_not_found', 'no readable tokens');
  if (!stored.refreshToken) throw oauthError('oauth_refresh_unsupported', identity.provider);
  const { refreshTokenKept, ...tokens } = await client.refresh(identity.provider, { refreshToken: stored.refreshToken, expectedSubject: identity.subject });
  await storeTokens(deps, { userId, identityId, subject: identity.subject, tokens, refresh: { refreshTokenKept } }, metadata);
  return { identity, tokens, refreshed: true, refreshTokenKept };
}

/** A currently valid provider access token, refreshed first when it expires within the margin. */
export async function currentIdentityToken(deps: OAuthDeps, client: OAuthClient, userId: string, identityId: string, metadata: EventMetadata, now = Date.now()): Promise<CurrentToken> {
  const identity = await ownIdentity(deps, userId, identityId);
  const stored = await loadTokens(deps, userId, identityId);
  if (!stored) throw oauthError('oauth_identity_not_found', 'no readable tokens');
  const fresh = (t: ProviderTokens) => t.expiresAt === undefined || t.expiresAt - now > TOKEN_REFRESH_MARGIN_SECONDS * 1000;
  if (fresh(stored)) return { identity, tokens: stored, refreshed: false };
  if (!stored.refreshToken) throw oauthError('oauth_refresh_unsupported', `${identity.provider}: the access token expired`);
  // A set another caller just refreshed is taken as it is (however short the provider's lifetime).
  const newer = (t: ProviderTokens | undefined): t is ProviderTokens => !!t && t.accessToken !== stored.accessToken && (t.expiresAt === undefined || t.expiresAt > Date.now());
  // One refresh per identity at a time (a short Redis lock): the others wait for its result.
  const lock = `${deps.prefix}oauth:refreshing:${identityId}`;
  const mine = (await deps.redis.set(lock, '1', 'PX', REFRESH_LOCK_MS, 'NX')) === 'OK';
  if (!mine) {
    for (let waited = 0; waited < REFRESH_LOCK_MS; waited += 100) {
      await new Promise((r) => setTimeout(r, 100));
      const again = await loadTokens(deps, userId, identityId);
      if (newer(again)) return { identity, tokens: again, refreshed: true };
      if (!(await deps.redis.exists(lock))) break;
    }
  }
  try {
    return await refreshIdentityTokens(deps, client, userId, identityId, metadata);
  } catch (err) {
    // Two callers refreshing at once: a rotating provider refuses the second (its refresh token was
    // just spent), or the second store loses the race. The winner's fresh set is the answer then.
    const raced = err instanceof WrongExpectedVersionError || (isOAuthError(err) && err.code === 'oauth_refresh_rejected');
    if (!raced) throw err;
    const again = await loadTokens(deps, userId, identityId);
    if (newer(again)) return { identity, tokens: again, refreshed: true };
    throw err;
  } finally {
    if (mine) await deps.redis.del(lock).catch(() => undefined);
  }
}

/** The answer of the token routes: the access token, never the refresh token. */
export function tokenAnswer(t: CurrentToken, now = Date.now()) {
  return {
    identity_id: t.identity.identityId,
    provider: t.identity.provider,
    access_token: t.tokens.accessToken,
    token_type: t.tokens.tokenType,
    ...(t.tokens.expiresAt !== undefined ? { expires_in: Math.max(0, Math.floor((t.tokens.expiresAt - now) / 1000)), expires_at: new Date(t.tokens.expiresAt).toISOString() } : {}),
    ...(t.tokens.scope ? { scope: t.tokens.scope } : {}),
    has_refresh_token: !!t.tokens.refreshToken,
    refreshed: t.refreshed,
    ...(t.refreshTokenKept !== undefined ? { refresh_token_kept: t.refreshTokenKept } : {}),
  };
}
