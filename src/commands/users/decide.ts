/**
 * User administration decisions (the identity stream owns signup, login and passwords). Rules:
 * - a missing or deleted user is "not found" for every command;
 * - profile updates emit only what changes; an e-mail change carries the previous e-mail (the
 *   handler moves the uniqueness reservation);
 * - disabling, enabling, granting and revoking are idempotent (no change → no event);
 * - the `user` role is every account's and cannot be revoked; only `admin` comes and goes;
 * - an account cannot be created twice.
 */
import { errors } from '../../errors';
import type { Role } from '../../events/common';
import { evolveUser, initialUserState, type UserEvent, type UserState } from '../../events/user';

export type UserCommand =
  | { type: 'CreateUser'; userId: string; email: string; name: string; passwordHash: string; source: 'admin' | 'bootstrap' }
  | { type: 'UpdateProfile'; name?: string; email?: string }
  | { type: 'DisableUser'; reason?: string }
  | { type: 'EnableUser' }
  | { type: 'DeleteUser' }
  | { type: 'GrantRole'; role: Role }
  | { type: 'RevokeRole'; role: Role };

const notFound = () => errors.notFound('No such user.', 'user_not_found');

export function decideUser(command: UserCommand, state: UserState): UserEvent[] {
  if (command.type === 'CreateUser') {
    if (state.exists) throw errors.conflict('This user already exists.', 'user_exists');
    const { type: _t, ...data } = command;
    return [{ type: 'UserRegistered', data }];
  }
  if (!state.exists || state.deleted) throw notFound();
  const userId = state.userId;
  switch (command.type) {
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
      return state.disabled ? [] : [{ type: 'UserDisabled', data: { userId, ...(command.reason ? { reason: command.reason } : {}) } }];
    case 'EnableUser':
      return state.disabled ? [{ type: 'UserEnabled', data: { userId } }] : [];
    case 'DeleteUser':
      return [{ type: 'UserDeleted', data: { userId } }];
    case 'GrantRole':
      return state.roles.includes(command.role) ? [] : [{ type: 'RoleGranted', data: { userId, role: command.role } }];
    case 'RevokeRole':
      if (command.role === 'user') throw errors.badRequest('The user role cannot be revoked.', 'role_not_revocable');
      return state.roles.includes(command.role) ? [{ type: 'RoleRevoked', data: { userId, role: command.role } }] : [];
  }
}

export const userAdminDecider = { initialState: initialUserState, evolve: evolveUser as (s: UserState, e: UserEvent) => UserState, decide: decideUser };
