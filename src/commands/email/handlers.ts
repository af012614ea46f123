/**
 * E-mail token commands: request/resend a verification, request a password reset, and use a
 * token (verify, reset). Rules enforced here:
 * - a token is spent before its effect is appended: `EmailTokenConsumed` goes to the token's
 *   stream with expectedRevision = the requested event's revision, so of two concurrent uses of
 *   one token exactly one succeeds; the effect (`EmailVerified`, `PasswordReset`) then follows on
 *   the user stream (retried on concurrent user writes, with a derived event id so a retry
 *   stores nothing twice);
 * - the mail itself is never sent from here: appending `*Requested` is what makes the worker's
 *   consumer enqueue it;
 * - a reset request reveals nothing: it answers the same whatever the address, and does its work
 *   after answering; requests per account are throttled (a mail bomb gets 5 mails an hour).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Services } from '../../services';
import { errors } from '../../errors';
import { streams } from '../../events/streams';
import { WrongExpectedVersionError, type EventMetadata } from '../../events/store';
import { initialUserState, normaliseEmail, type UserState } from '../../events/user';
import type { EmailTokenKind, EmailTokenState } from '../../events/email-token';
import { emailToken, emailTokenKey, hashEmailToken, parseEmailToken } from '../../credentials/email-tokens';
import { loadStream, runCommand } from '../decider';
import type { UserCommand } from '../users/decide';
import { runUserCommand } from '../users/stream';
import { checkPasswordPolicy, hashPassword } from '../identity/passwords';
import { decideReset, decideTokenUse, decideVerify, emailTokenDecider, invalidToken } from './decide';
import { findUserIdByEmail, loadUser as loadUserStream, revokeUserSessions, type SessionDeps } from '../identity/service';

const RESET_PER_HOUR = 5;
const RESEND_PER_HOUR = 5;

const loadUser = (services: Services, userId: string) => loadUserStream(services.store, userId);

const tokenStream = (kind: EmailTokenKind, tokenId: string) => (kind === 'reset' ? streams.passwordReset(tokenId) : streams.verification(tokenId));

async function loadToken(services: Services, kind: EmailTokenKind, tokenId: string): Promise<EmailTokenState> {
  return (await loadStream(services.store, tokenStream(kind, tokenId), emailTokenDecider)).state;
}

/** Fixed-window counter; true while under `limit` per hour. */
export async function underHourlyLimit(services: Services, what: string, id: string, limit: number): Promise<boolean> {
  const key = `${services.prefix}mail:throttle:${what}:${createHash('sha256').update(id).digest('base64url')}`;
  const n = await services.redis.incr(key);
  if (n === 1) await services.redis.expire(key, 3600);
  return n <= limit;
}

async function appendTokenRequest(services: Services, kind: EmailTokenKind, user: UserState, ttlSeconds: number, metadata: EventMetadata, reason?: 'resend' | 'admin') {
  const tokenId = randomUUID();
  const token = emailToken(emailTokenKey(services.config), kind, tokenId);
  const data = {
    tokenId, userId: user.userId, email: user.email, tokenHash: hashEmailToken(token),
    expiresAt: new Date(Date.now() + ttlSeconds * 1000).toISOString(),
    ...(kind === 'verification' ? { reason: reason ?? 'resend' } : {}),
  };
  const type = kind === 'verification' ? 'EmailVerificationRequested' : 'PasswordResetRequested';
  await runCommand(services, { stream: tokenStream(kind, tokenId), decider: emailTokenDecider, command: { type: 'RequestToken', event: { type, data } }, metadata });
}

/** `POST /verify-email/resend` for the signed-in user. */
export async function resendVerification(services: Services, userId: string, metadata: EventMetadata): Promise<void> {
  const { state } = await loadUser(services, userId);
  if (!state.exists || state.deleted) throw errors.unauthorized();
  if (state.emailVerified) throw errors.conflict('Your e-mail address is already verified.', 'already_verified');
  if (!(await underHourlyLimit(services, 'resend', userId, RESEND_PER_HOUR))) throw errors.tooManyRequests(3600, 'Too many verification mails requested; try again later.');
  await appendTokenRequest(services, 'verification', state, services.config.EMAIL_VERIFICATION_TTL, metadata, 'resend');
}

/**
 * The work behind `POST /password-reset/request`, run after the 202 is sent. Resolves to what
 * happened (for tests and logs; never for the caller).
 */
export async function requestPasswordReset(services: Services, email: string, metadata: EventMetadata): Promise<'requested' | 'unknown' | 'throttled' | 'inactive'> {
  const userId = await findUserIdByEmail(services.store, normaliseEmail(email));
  if (!userId) return 'unknown';
  const { state } = await loadUser(services, userId);
  if (!state.exists || state.deleted || state.disabled) return 'inactive';
  if (!(await underHourlyLimit(services, 'reset', userId, RESET_PER_HOUR))) return 'throttled';
  await appendTokenRequest(services, 'reset', state, services.config.PASSWORD_RESET_TTL, metadata);
  return 'requested';
}

/** The user-stream part of a token use, re-decided on concurrent writes to the user. */
async function applyToUser(services: Services, userId: string, command: UserCommand, metadata: EventMetadata) {
  await runUserCommand(services, userId, command, metadata, { attempts: 5 });
}

async function spend(services: Services, kind: EmailTokenKind, token: EmailTokenState, events: { type: string; data: unknown }[], metadata: EventMetadata) {
  const r = token.requested!;
  try {
    await runCommand(services, {
      stream: tokenStream(kind, r.tokenId), decider: emailTokenDecider, command: { type: 'SpendToken', events }, metadata, expectedRevision: token.revision!,
    });
  } catch (err) {
    if (err instanceof WrongExpectedVersionError) throw invalidToken(); // used concurrently
    throw err;
  }
}

export async function verifyEmail(services: Services, presented: string, metadata: EventMetadata, now = new Date()): Promise<{ userId: string; email: string }> {
  const tokenId = parseEmailToken(presented);
  if (!tokenId) throw invalidToken();
  const token = await loadToken(services, 'verification', tokenId);
  const user = token.requested ? (await loadUser(services, token.requested.userId)).state : initialUserState();
  const use = decideTokenUse('verification', presented, token, user, now);
  const decided = decideVerify(use, user);
  await spend(services, 'verification', token, decided.token, metadata);
  await applyToUser(services, use.userId, { type: 'VerifyEmail', email: use.email }, metadata);
  return { userId: use.userId, email: use.email };
}

export async function confirmPasswordReset(services: Services & { gate?: SessionDeps['gate'] }, presented: string, newPassword: string, metadata: EventMetadata, now = new Date()): Promise<{ userId: string; sessionsRevoked: number }> {
  const tokenId = parseEmailToken(presented);
  if (!tokenId) throw invalidToken();
  const token = await loadToken(services, 'reset', tokenId);
  const user = token.requested ? (await loadUser(services, token.requested.userId)).state : initialUserState();
  const use = decideTokenUse('reset', presented, token, user, now);
  // Policy and hashing before spending the token: a refused password leaves the link usable.
  await checkPasswordPolicy(services.config, newPassword, [user.email, user.name], 'new_password');
  const passwordHash = await hashPassword(services.config, newPassword);
  const decided = decideReset(use, passwordHash);
  await spend(services, 'reset', token, decided.token, metadata);
  await applyToUser(services, use.userId, { type: 'ResetPassword', passwordHash, tokenId: use.tokenId }, metadata);
  const sessionsRevoked = await revokeUserSessions(services, use.userId, 'password_reset', undefined, metadata);
  return { userId: use.userId, sessionsRevoked };
}
