/**
 * One's own e-mail change (issue 20 §2): request, confirm (link to the new address), cancel (link
 * to the old address). Rules enforced here:
 * - a request (after the re-authentication in users/handlers.ts) appends `EmailChangeRequested`
 *   and nothing else: no reservation, no new address for login or reset; at most
 *   EMAIL_CHANGE_PER_HOUR requests per user per hour (each mails two addresses);
 * - the answer to a request is the same whether or not the new address belongs to someone:
 *   only the confirm, by the holder of the new mailbox, can learn it (409 `email_taken`);
 * - confirming reserves the new address first, as signup does (taken → 409, nothing changes), then
 *   appends the change; if that fails the reservation is released (unless the change won anyway,
 *   by a concurrent confirm). The old address is then *held* (users/email.ts): nobody logs in or
 *   resets with it, nobody else may take it until the cancel link expires, a revert takes it back;
 * - using a cancel link ends the pending change (or reverts a confirmed one) and revokes every
 *   session of the user through the session gate, so their access tokens fail at once;
 * - every bad link is the same 400 `invalid_token`.
 */
import { randomUUID } from 'node:crypto';
import type { Services } from '../../services';
import { errors } from '../../errors';
import type { EventMetadata } from '../../events/store';
import { normaliseEmail, type UserState } from '../../events/user';
import { emailChangeToken, emailTokenKey, hashEmailToken, parseEmailChangeToken, tokenMatches } from '../../credentials/email-tokens';
import { decideUser } from '../users/decide';
import type { EmailChangeCommand } from './change-decide';
import { loadUser, runUserCommand } from '../users/stream';
import { holdEmail, releaseEmail, reserveEmail } from '../users/email';
import { revokeUserSessions, type SessionDeps } from '../identity/service';
import { invalidToken } from './decide';
import { underHourlyLimit } from './handlers';

export const EMAIL_CHANGE_PER_HOUR = 5;

/** The command recording a request (tokens derived from the server secret; only their hashes go in). */
export async function emailChangeRequest(services: Services, state: UserState, email: string, name?: string): Promise<EmailChangeCommand> {
  if (!(await underHourlyLimit(services, 'email-change', state.userId, EMAIL_CHANGE_PER_HOUR))) {
    throw errors.tooManyRequests(3600, 'Too many e-mail changes requested; try again later.');
  }
  const requestId = randomUUID();
  const key = emailTokenKey(services.config);
  const now = Date.now();
  return {
    type: 'RequestEmailChange', requestId, email, name,
    confirmTokenHash: hashEmailToken(emailChangeToken(key, 'email-change-confirm', requestId, state.userId)),
    cancelTokenHash: hashEmailToken(emailChangeToken(key, 'email-change-cancel', requestId, state.userId)),
    expiresAt: new Date(now + services.config.EMAIL_CHANGE_TTL * 1000).toISOString(),
    cancelUntil: new Date(now + services.config.EMAIL_CHANGE_CANCEL_TTL * 1000).toISOString(),
  };
}

/** The user of a link, with the command decided once before any write (a bad link writes nothing). */
async function prepare(services: Services, presented: string, type: 'ConfirmEmailChange' | 'CancelEmailChange', now: Date) {
  const parsed = parseEmailChangeToken(presented);
  if (!parsed) throw invalidToken();
  const { state } = await loadUser(services.store, parsed.userId);
  if (!state.exists || state.deleted) {
    tokenMatches(presented, 'x'.repeat(43)); // the same work as for a known user
    throw invalidToken();
  }
  const command = { type, requestId: parsed.requestId, token: presented, now } as const;
  const events = decideUser(command, state);
  return { userId: parsed.userId, state, command, events };
}

export async function confirmEmailChange(services: Services, presented: string, metadata: EventMetadata, now = new Date()): Promise<{ userId: string; email: string }> {
  const { userId, state, command, events } = await prepare(services, presented, 'ConfirmEmailChange', now);
  const email = (events[0]!.data as { email: string }).email;
  const cancelUntil = state.emailChange.requests.find((r) => r.requestId === command.requestId)!.cancelUntil;
  await reserveEmail(services, email, userId, metadata);
  try {
    await runUserCommand(services, userId, command, metadata, { attempts: 5 });
  } catch (err) {
    const { state } = await loadUser(services.store, userId);
    if (normaliseEmail(state.email) !== normaliseEmail(email)) await releaseEmail(services, email, userId, metadata).catch(() => undefined);
    throw err;
  }
  // The old address: no longer the user's (login and reset stop), held for a revert until the cancel link expires.
  await holdEmail(services, state.email, userId, cancelUntil, metadata);
  return { userId, email };
}

export async function cancelEmailChange(
  services: Services & { gate?: SessionDeps['gate'] }, presented: string, metadata: EventMetadata, now = new Date(),
): Promise<{ userId: string; revertedTo?: string; sessionsRevoked: number }> {
  const { userId, command, events } = await prepare(services, presented, 'CancelEmailChange', now);
  const planned = (events[0]!.data as { revertedTo?: string }).revertedTo;
  // Held for this user until the cancel link expires: taken back first (as signup does).
  if (planned) await reserveEmail(services, planned, userId, metadata);
  const result = await runUserCommand(services, userId, command, metadata, { attempts: 5 });
  const cancelled = result.appended.find((e) => e.type === 'EmailChangeCancelled');
  const revertedTo = (cancelled?.data as { revertedTo?: string } | undefined)?.revertedTo;
  const revertedFrom = result.appended.find((e) => e.type === 'UserProfileUpdated')?.data as { previousEmail?: string } | undefined;
  if (revertedTo && revertedFrom?.previousEmail) await releaseEmail(services, revertedFrom.previousEmail, userId, metadata);
  const sessionsRevoked = await revokeUserSessions(services, userId, 'email_change_cancelled', undefined, metadata);
  return { userId, revertedTo, sessionsRevoked };
}
