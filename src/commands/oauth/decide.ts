/**
 * Finding, linking, creating and unlinking users for social sign-in — pure. Rules enforced here:
 * - a (provider, subject) belongs to at most one user (its `extid-` reservation); a linked
 *   identity signs in as its user, unless that user is disabled or deleted;
 * - a new identity links to an existing account automatically only when the provider's e-mail
 *   passed its trust rule (providers.ts) **and** the account's own e-mail is verified — an
 *   unverified account could be a squatter's pre-registration waiting for the victim to sign in;
 *   otherwise `oauth_link_required`: sign in, then link explicitly;
 * - with no account for the identity or its e-mail, an account is created (no password; e-mail
 *   verified only when trusted; no e-mail at all when the provider gave none);
 * - explicit linking needs a recent re-authentication (password confirmed, or a login within
 *   REAUTH_MAX_AGE_SECONDS, as for e-mail changes — issue 20 §2), is refused when the identity
 *   belongs to someone else, and a user has at most one identity per provider: a *different
 *   subject* for a provider already linked is refused (also for tokens: they must name the
 *   linked subject);
 * - unlinking is refused when it is the last way to sign in (no password, no other identity);
 *   deleting the user unlinks everything regardless.
 * The state is a view over the streams the handler loaded: the candidate user's stream (its
 * user events and ExternalIdentityLinked/Unlinked), the identity's `extid-` reservation and,
 * for e-mail matching, the e-mail's reservation. Time and ids come in with the command.
 */
import { evolveUser, initialUserState, normaliseEmail, type UserState } from '../../events/user';
import type { ExternalIdentityEvent } from '../../events/external-identity';
import type { ProviderProfile } from './providers';
import { oauthError } from '../../errors';

export interface LinkedIdentity {
  identityId: string;
  provider: string;
  subject: string;
  email?: string;
  linkedAt: string;
}

export interface OAuthAccountState {
  user: UserState;
  identities: LinkedIdentity[];
  /** Who holds the (provider, subject) of the command, when someone does. */
  reservation?: { userId: string; identityId: string; provider: string; subject: string };
  /** Who holds the profile e-mail's reservation, when someone does. */
  emailOwner?: string;
}

type E<T extends string, D> = { type: T; data: D };
/** Events of other aggregates this decider reads or emits (their schemas live in src/events/user.ts). */
export type UserSideEvent =
  | E<'UserRegistered', { userId: string; email: string; name: string; passwordHash: string; source: 'signup' | 'admin' | 'bootstrap' | 'import' | 'oauth' }>
  | E<'EmailReserved', { email: string; userId: string }>
  | E<'EmailReleased', { email: string; userId: string }>
  | E<'EmailVerified', { userId: string; email: string }>;
export type OAuthEvent = ExternalIdentityEvent | UserSideEvent | { type: string; data: unknown };

export interface Reauth {
  /** The current password was confirmed in this request. */
  passwordConfirmed: boolean;
  /** The session's last authentication (ISO), not the access token's issue time. */
  authenticatedAt: string;
  maxAgeSeconds: number;
}

export type OAuthCommand =
  | { type: 'SignInWithProvider'; profile: ProviderProfile; now: string; newUserId: string; newIdentityId: string }
  | { type: 'StartLink'; provider: string; reauth: Reauth; now: string }
  | { type: 'LinkIdentity'; profile: ProviderProfile; now: string; newIdentityId: string }
  | { type: 'UnlinkIdentity'; identityId: string; reason: 'user' | 'admin'; now: string }
  | { type: 'UnlinkAllForDeletion'; now: string }
  | {
      type: 'StoreProviderTokens';
      identityId: string;
      subject: string;
      ciphertext: string;
      dataKeyId: string;
      accessTokenExpiresAt?: string;
      hasRefreshToken: boolean;
      scope?: string;
      /** Present for a refresh: whether the provider omitted a new refresh token. */
      refresh?: { refreshTokenKept: boolean };
      now: string;
    };

export const initialOAuthState = (): OAuthAccountState => ({ user: initialUserState(), identities: [] });

export function evolveOAuth(state: OAuthAccountState, event: OAuthEvent): OAuthAccountState {
  const e = event as ExternalIdentityEvent | UserSideEvent;
  switch (e.type) {
    case 'ExternalIdentityLinked':
      return {
        ...state,
        identities: [...state.identities.filter((i) => i.identityId !== e.data.identityId), { identityId: e.data.identityId, provider: e.data.provider, subject: e.data.subject, email: e.data.email, linkedAt: e.data.at }],
      };
    case 'ExternalIdentityUnlinked':
      return { ...state, identities: state.identities.filter((i) => i.identityId !== e.data.identityId) };
    case 'ExternalIdentityReserved':
      return { ...state, reservation: { userId: e.data.userId, identityId: e.data.identityId, provider: e.data.provider, subject: e.data.subject } };
    case 'ExternalIdentityReleased':
      return state.reservation?.identityId === e.data.identityId ? { ...state, reservation: undefined } : state;
    case 'EmailReserved':
      return { ...state, emailOwner: e.data.userId };
    case 'EmailReleased':
      return state.emailOwner === e.data.userId ? { ...state, emailOwner: undefined } : state;
    case 'ProviderTokensStored':
    case 'ProviderTokensRefreshed':
      return state;
    default:
      return { ...state, user: evolveUser(state.user, event) };
  }
}

const usable = (u: UserState) => u.exists && !u.deleted && !u.disabled;

function linkEvents(userId: string, identityId: string, profile: ProviderProfile, via: 'signup' | 'verified_email' | 'explicit', at: string): OAuthEvent[] {
  const ids = { userId, identityId, provider: profile.provider, subject: profile.subject };
  return [
    { type: 'ExternalIdentityReserved', data: ids },
    { type: 'ExternalIdentityLinked', data: { ...ids, ...(profile.email ? { email: profile.email } : {}), emailVerified: profile.emailVerified, via, at } },
  ];
}

export function decideOAuth(command: OAuthCommand, state: OAuthAccountState): OAuthEvent[] {
  const { user } = state;
  switch (command.type) {
    case 'SignInWithProvider': {
      const p = command.profile;
      if (state.reservation) {
        // Linked already: sign in as its owner (no event; the handler starts the session).
        if (!usable(user) || user.userId !== state.reservation.userId) throw oauthError('oauth_account_unavailable');
        return [];
      }
      const email = p.email ? normaliseEmail(p.email) : undefined;
      const owner = email && state.emailOwner && user.exists && user.userId === state.emailOwner && normaliseEmail(user.email) === email;
      if (owner) {
        if (!usable(user)) throw oauthError('oauth_account_unavailable');
        if (!p.emailVerified || !user.emailVerified) throw oauthError('oauth_link_required');
        if (state.identities.some((i) => i.provider === p.provider)) throw oauthError('oauth_provider_already_linked');
        return linkEvents(user.userId, command.newIdentityId, p, 'verified_email', command.now);
      }
      if (email && state.emailOwner) {
        // The handler did not load the e-mail's owner: never create a second account for it.
        throw oauthError('oauth_link_required');
      }
      const userId = command.newUserId;
      return [
        ...(email ? [{ type: 'EmailReserved', data: { email, userId } } as OAuthEvent] : []),
        // No password: `passwordHash: ''` never verifies (password login refuses an empty hash).
        { type: 'UserRegistered', data: { userId, email: p.email?.trim() ?? '', name: p.name ?? '', passwordHash: '', source: 'oauth' } },
        ...(email && p.emailVerified ? [{ type: 'EmailVerified', data: { userId, email: p.email!.trim() } } as OAuthEvent] : []),
        ...linkEvents(userId, command.newIdentityId, p, 'signup', command.now),
      ];
    }
    case 'StartLink': {
      if (!usable(user)) throw oauthError('oauth_account_unavailable');
      const r = command.reauth;
      const age = (Date.parse(command.now) - Date.parse(r.authenticatedAt)) / 1000;
      if (!r.passwordConfirmed && !(age >= 0 && age <= r.maxAgeSeconds)) throw oauthError('reauth_required');
      if (state.identities.some((i) => i.provider === command.provider)) throw oauthError('oauth_provider_already_linked');
      return [];
    }
    case 'LinkIdentity': {
      const p = command.profile;
      if (!usable(user)) throw oauthError('oauth_account_unavailable');
      if (state.reservation) {
        if (state.reservation.userId !== user.userId) throw oauthError('oauth_identity_taken');
        return [];
      }
      const same = state.identities.find((i) => i.provider === p.provider);
      if (same) throw oauthError(same.subject === p.subject ? 'oauth_identity_taken' : 'oauth_provider_already_linked');
      return linkEvents(user.userId, command.newIdentityId, p, 'explicit', command.now);
    }
    case 'UnlinkIdentity': {
      if (!user.exists || user.deleted) throw oauthError('oauth_identity_not_found');
      const identity = state.identities.find((i) => i.identityId === command.identityId);
      if (!identity) throw oauthError('oauth_identity_not_found');
      // Passkeys (issue 17) will count here as another way in.
      if (!user.passwordHash && state.identities.length === 1) throw oauthError('oauth_last_sign_in_method');
      return unlinkEvents(user.userId, identity, command.reason, command.now);
    }
    case 'UnlinkAllForDeletion':
      return state.identities.flatMap((i) => unlinkEvents(user.userId, i, 'user_deleted', command.now));
    case 'StoreProviderTokens': {
      const identity = state.identities.find((i) => i.identityId === command.identityId);
      if (!usable(user) || !identity) throw oauthError('oauth_identity_not_found');
      if (identity.subject !== command.subject) throw oauthError('oauth_subject_mismatch');
      const data = {
        userId: user.userId, identityId: identity.identityId, provider: identity.provider, ciphertext: command.ciphertext, dataKeyId: command.dataKeyId,
        ...(command.accessTokenExpiresAt ? { accessTokenExpiresAt: command.accessTokenExpiresAt } : {}),
        hasRefreshToken: command.hasRefreshToken, ...(command.scope ? { scope: command.scope } : {}), at: command.now,
      };
      return command.refresh
        ? [{ type: 'ProviderTokensRefreshed', data: { ...data, refreshTokenKept: command.refresh.refreshTokenKept } }]
        : [{ type: 'ProviderTokensStored', data }];
    }
  }
}

function unlinkEvents(userId: string, i: LinkedIdentity, reason: 'user' | 'admin' | 'user_deleted', at: string): OAuthEvent[] {
  const ids = { userId, identityId: i.identityId, provider: i.provider, subject: i.subject };
  return [
    { type: 'ExternalIdentityUnlinked', data: { ...ids, reason, at } },
    { type: 'ExternalIdentityReleased', data: ids },
  ];
}

/** Which stream each event goes to (the handler appends per stream, reservations first). */
export function streamOf(event: OAuthEvent): 'user' | 'emailReservation' | 'externalIdentity' | 'providerTokens' {
  switch (event.type) {
    case 'EmailReserved':
    case 'EmailReleased':
      return 'emailReservation';
    case 'ExternalIdentityReserved':
    case 'ExternalIdentityReleased':
      return 'externalIdentity';
    case 'ProviderTokensStored':
    case 'ProviderTokensRefreshed':
      return 'providerTokens';
    default:
      return 'user';
  }
}

export const oauthDecider = { initialState: initialOAuthState, evolve: evolveOAuth, decide: decideOAuth };
