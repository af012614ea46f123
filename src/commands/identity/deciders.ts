/**
 * Pure deciders of identity: `decide(command, state) → events`, time / ids / hashes passed in.
 * User rules:
 * - a user is registered once (stream appended with no_stream; e-mail uniqueness is the
 *   reservation stream's job);
 * - failed logins count towards a lockout (see lockout.ts); locked accounts record nothing more;
 * - a password change needs an existing, enabled, not deleted user.
 * Session rules (RFC 9700 §4.14.2 refresh-token rotation):
 * - presenting the current refresh token of an active, unexpired session rotates it;
 * - presenting any other token of the family (an already-rotated one) is reuse: the whole
 *   session is revoked and the evidence (both presenters) recorded — except the one retry of
 *   the just-rotated token inside the grace window, which rotates again (once), and a request
 *   that was already in flight when the rotation was stored (a lost concurrent race: 401 only);
 * - past its absolute lifetime or idle timeout a session expires instead;
 * - an ended session refuses everything; ending it again records nothing.
 */
import { AppError, errors } from '../../errors';
import type { Role } from '../../events/common';
import {
  evolveSession, initialSessionState, type SessionEvent, type SessionRevokedReason, type SessionState,
} from '../../events/session';
import { evolveUser, initialUserState, type UserEvent, type UserState } from '../../events/user';
import { sameHash } from '../../credentials/refresh-tokens';
import { isLocked, nextFailure, type LockoutPolicy } from './lockout';

export { sameHash };

export interface Client {
  ip?: string;
  userAgent?: string;
}

// ---------------------------------------------------------------- user

export type UserCommand =
  | { type: 'Register'; userId: string; email: string; name: string; passwordHash: string; source: 'signup' | 'admin' | 'bootstrap' | 'import' }
  | { type: 'RecordLoginFailure'; now: Date; client: Client; policy: LockoutPolicy }
  | { type: 'RecordDisabledLogin'; client: Client }
  | { type: 'ClearLoginFailures'; sessionId?: string }
  | { type: 'ChangePassword'; passwordHash: string; keepSessionId?: string }
  | { type: 'RehashPassword'; passwordHash: string; previousHash: string }
  | { type: 'GrantRole'; role: Role }
  | { type: 'RevokeRole'; role: Role };

const gone = () => errors.notFound('No such user.', 'user_not_found');

export function decideUser(command: UserCommand, state: UserState): UserEvent[] {
  if (command.type === 'Register') {
    if (state.exists) throw errors.conflict('This user already exists.', 'user_exists');
    const { userId, email, name, passwordHash, source } = command;
    return [{ type: 'UserRegistered', data: { userId, email, name, passwordHash, source } }];
  }
  if (!state.exists || state.deleted) throw gone();
  const userId = state.userId;
  switch (command.type) {
    case 'RecordLoginFailure': {
      if (isLocked(state, command.now)) return [];
      const next = nextFailure(state, command.now, command.policy);
      const events: UserEvent[] = [{
        type: 'LoginFailed',
        data: { userId, reason: 'bad_password', consecutiveFailures: next.failures, at: command.now.toISOString(), ...command.client },
      }];
      if (next.lockedUntil) events.push({ type: 'AccountLocked', data: { userId, until: next.lockedUntil, failures: next.failures } });
      return events;
    }
    case 'RecordDisabledLogin':
      return [{ type: 'LoginFailed', data: { userId, reason: 'disabled', consecutiveFailures: state.failures, ...command.client } }];
    case 'ClearLoginFailures':
      return state.failures > 0 || state.lockedUntil ? [{ type: 'LoginFailuresCleared', data: { userId, sessionId: command.sessionId } }] : [];
    case 'ChangePassword':
      if (state.disabled) throw errors.forbidden('This account is disabled.', 'account_disabled');
      return [{ type: 'PasswordChanged', data: { userId, passwordHash: command.passwordHash, keepSessionId: command.keepSessionId } }];
    case 'RehashPassword':
      // Only when the password did not change meanwhile (the rehash was computed from the old hash's password).
      return state.passwordHash === command.previousHash ? [{ type: 'PasswordRehashed', data: { userId, passwordHash: command.passwordHash } }] : [];
    case 'GrantRole':
      return state.roles.includes(command.role) ? [] : [{ type: 'RoleGranted', data: { userId, role: command.role } }];
    case 'RevokeRole':
      return state.roles.includes(command.role) ? [{ type: 'RoleRevoked', data: { userId, role: command.role } }] : [];
  }
}

export const userDecider = { initialState: initialUserState, evolve: evolveUser, decide: decideUser };

// ---------------------------------------------------------------- session

export type SessionCommand =
  | {
      type: 'StartSession'; sessionId: string; userId: string; refreshTokenHash: string; now: Date; ttlSeconds: number;
      deviceName?: string; client: Client;
    }
  | {
      type: 'Refresh'; presentedHash: string; newHash: string; now: Date; client: Client;
      idleSeconds: number; graceSeconds: number;
      /**
       * The session's last change was not yet applied when this request arrived: the two
       * overlapped (two concurrent refreshes of one token), a lost race, not a reuse.
       */
      overlapsLastChange?: boolean;
    }
  | { type: 'Revoke'; reason: SessionRevokedReason };

export const invalidRefreshToken = () =>
  new AppError('invalid_refresh_token', 401, 'The refresh token is invalid, expired or already used.', { headers: { 'www-authenticate': 'Bearer' } });

export function decideSession(command: SessionCommand, state: SessionState): SessionEvent[] {
  switch (command.type) {
    case 'StartSession': {
      if (state.status !== 'none') throw errors.conflict('This session already exists.', 'session_exists');
      const { sessionId, userId, refreshTokenHash, now, deviceName, client } = command;
      return [{
        type: 'SessionStarted',
        data: {
          sessionId, userId, refreshTokenHash, deviceName, ...client,
          startedAt: now.toISOString(), expiresAt: new Date(now.getTime() + command.ttlSeconds * 1000).toISOString(),
        },
      }];
    }
    case 'Revoke':
      if (state.status !== 'active') return [];
      return [{ type: 'SessionRevoked', data: { sessionId: state.sessionId, userId: state.userId, reason: command.reason } }];
    case 'Refresh': {
      if (state.status !== 'active') throw invalidRefreshToken();
      const { sessionId, userId } = state;
      const now = command.now.getTime();
      if (now >= Date.parse(state.expiresAt)) return [{ type: 'SessionExpired', data: { sessionId, userId, reason: 'absolute' } }];
      const sinceUse = now - Date.parse(state.lastUsedAt);
      if (sinceUse > command.idleSeconds * 1000) return [{ type: 'SessionExpired', data: { sessionId, userId, reason: 'idle' } }];
      const rotate = (viaGrace: boolean): SessionEvent => ({
        type: 'SessionRotated',
        data: {
          sessionId, userId, refreshTokenHash: command.newHash, previousTokenHash: state.tokenHash, ...command.client,
          rotatedAt: command.now.toISOString(), expiresAt: state.expiresAt, ...(viaGrace ? { viaGrace: true } : {}),
        },
      });
      if (sameHash(command.presentedHash, state.tokenHash)) return [rotate(false)];
      if (command.overlapsLastChange && sameHash(command.presentedHash, state.previousTokenHash)) {
        throw invalidRefreshToken(); // lost a concurrent race: refused, nothing recorded
      }
      if (
        command.graceSeconds > 0 && sameHash(command.presentedHash, state.previousTokenHash) &&
        sinceUse <= command.graceSeconds * 1000 && !state.lastRotationViaGrace
      ) {
        return [rotate(true)];
      }
      return [
        {
          type: 'RefreshTokenReuseDetected',
          data: { sessionId, userId, presentedTokenHash: command.presentedHash, presenter: command.client, rotatedBy: state.lastClient },
        },
        { type: 'SessionRevoked', data: { sessionId, userId, reason: 'reuse_detected' } },
      ];
    }
  }
}

export const sessionDecider = { initialState: initialSessionState, evolve: evolveSession, decide: decideSession };

export type { UserState, SessionState };
