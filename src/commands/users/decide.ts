/**
 * The one decider of the user stream (`user-<id>`): registration, login failures and lockout,
 * passwords, profile, status, roles, e-mail verification. Rules:
 * - a user is registered once (`Register`; `CreateUser` is the admin/bootstrap spelling of it);
 *   e-mail uniqueness is the reservation stream's job (src/commands/users/email.ts);
 * - a missing or deleted user is "not found" for every other command;
 * - failed logins count towards a lockout (see identity/lockout.ts); locked accounts record nothing more;
 * - a password change needs an enabled user; a rehash applies only if the password did not change;
 * - profile updates emit only what changes; an e-mail change carries the previous e-mail (the
 *   handler moves the uniqueness reservation);
 * - disabling, enabling, granting and revoking are idempotent (no change → no event);
 * - the `user` role is every account's and cannot be revoked; only `admin` comes and goes;
 * - an admin can neither delete, disable nor demote itself (`actorUserId` is the target);
 * - the last active admin is never removed: deleting, disabling or demoting an active admin when
 *   the handler counted no other active admin (`otherActiveAdmins: 0`) is refused (issue 20 §1);
 * - an account cannot be created twice;
 * - one's own e-mail change is pending until confirmed by the new address, cancellable from the
 *   old one (decided in src/commands/email/change-decide.ts).
 */
import { errors } from '../../errors';
import type { Role } from '../../events/common';
import { evolveUser, initialUserState, type UserEvent, type UserState } from '../../events/user';
import { isLocked, nextFailure, type LockoutPolicy } from '../identity/lockout';
import { decideEmailChange, type EmailChangeCommand } from '../email/change-decide';

export interface Client {
  ip?: string;
  userAgent?: string;
}

export type UserCommand =
  | { type: 'Register' | 'CreateUser'; userId: string; email: string; name: string; passwordHash: string; source: 'signup' | 'admin' | 'bootstrap' | 'import' }
  | { type: 'RecordLoginFailure'; now: Date; client: Client; policy: LockoutPolicy }
  | { type: 'RecordDisabledLogin'; client: Client }
  | { type: 'ClearLoginFailures'; sessionId?: string }
  | { type: 'ChangePassword'; passwordHash: string; keepSessionId?: string }
  | { type: 'RehashPassword'; passwordHash: string; previousHash: string }
  | { type: 'ResetPassword'; passwordHash: string; tokenId: string }
  | { type: 'VerifyEmail'; email: string }
  | { type: 'UpdateProfile'; name?: string; email?: string }
  | ({ type: 'DisableUser'; reason?: string } & AdminRemoval)
  | { type: 'EnableUser' }
  | ({ type: 'DeleteUser' } & AdminRemoval)
  | { type: 'GrantRole'; role: Role }
  | ({ type: 'RevokeRole'; role: Role } & AdminRemoval)
  | EmailChangeCommand;

/** What a command that may remove an admin carries (both optional: absent = not checked). */
export interface AdminRemoval {
  /** Who asks (metadata's actor): an admin may not remove itself. */
  actorUserId?: string;
  /** Active admins other than the target, counted by the handler under the admin-removal lock. */
  otherActiveAdmins?: number;
}

const isActiveAdmin = (s: UserState) => s.exists && !s.deleted && !s.disabled && s.roles.includes('admin');

function checkAdminRemoval(state: UserState, command: AdminRemoval, what: 'delete' | 'disable' | 'demote'): void {
  if (!state.roles.includes('admin')) return;
  if (command.actorUserId !== undefined && command.actorUserId === state.userId) {
    throw errors.conflict(`An admin cannot ${what} itself; ask another admin.`, 'cannot_target_self');
  }
  if (isActiveAdmin(state) && command.otherActiveAdmins === 0) {
    throw errors.conflict(`This is the last active admin: it cannot be ${what === 'demote' ? 'demoted' : `${what}d`}; make another admin first.`, 'last_admin');
  }
}

const notFound = () => errors.notFound('No such user.', 'user_not_found');

export function decideUser(command: UserCommand, state: UserState): UserEvent[] {
  if (command.type === 'Register' || command.type === 'CreateUser') {
    if (state.exists) throw errors.conflict('This user already exists.', 'user_exists');
    const { userId, email, name, passwordHash, source } = command;
    return [{ type: 'UserRegistered', data: { userId, email, name, passwordHash, source } }];
  }
  if (!state.exists || state.deleted) throw notFound();
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
    case 'ResetPassword':
      return [{ type: 'PasswordReset', data: { userId, passwordHash: command.passwordHash, tokenId: command.tokenId } }];
    case 'VerifyEmail':
      // Only the address the token was mailed to, and only once.
      return state.emailVerified || state.email !== command.email ? [] : [{ type: 'EmailVerified', data: { userId, email: command.email } }];
    case 'UpdateProfile': {
      const name = command.name !== undefined && command.name !== state.name ? command.name : undefined;
      const email = command.email !== undefined && command.email !== state.email ? command.email : undefined;
      if (name === undefined && email === undefined) return [];
      return [{
        type: 'UserProfileUpdated',
        data: { userId, ...(name !== undefined ? { name } : {}), ...(email !== undefined ? { email, previousEmail: state.email } : {}) },
      }];
    }
    case 'DisableUser':
      if (state.disabled) return [];
      checkAdminRemoval(state, command, 'disable');
      return state.disabled ? [] : [{ type: 'UserDisabled', data: { userId, ...(command.reason ? { reason: command.reason } : {}) } }];
    case 'EnableUser':
      return state.disabled ? [{ type: 'UserEnabled', data: { userId } }] : [];
    case 'DeleteUser':
      checkAdminRemoval(state, command, 'delete');
      return [{ type: 'UserDeleted', data: { userId } }];
    case 'GrantRole':
      return state.roles.includes(command.role) ? [] : [{ type: 'RoleGranted', data: { userId, role: command.role } }];
    case 'RevokeRole':
      if (command.role === 'user') throw errors.badRequest('The user role cannot be revoked.', 'role_not_revocable');
      if (command.role === 'admin' && state.roles.includes('admin')) checkAdminRemoval(state, command, 'demote');
      return state.roles.includes(command.role) ? [{ type: 'RoleRevoked', data: { userId, role: command.role } }] : [];
    case 'RequestEmailChange':
    case 'ConfirmEmailChange':
    case 'CancelEmailChange':
      return decideEmailChange(command, state);
  }
}

export const userDecider = { initialState: initialUserState, evolve: evolveUser as (s: UserState, e: UserEvent) => UserState, decide: decideUser };
