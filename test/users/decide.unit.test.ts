import { describe, it } from 'vitest';
import { spec } from '../helpers/decider';
import { userDecider as userAdminDecider } from '../../src/commands/users/decide';
import type { UserEvent } from '../../src/events/user';

const registered: UserEvent = { type: 'UserRegistered', data: { userId: 'u1', email: 'ann@example.com', name: 'Ann', passwordHash: 'h', source: 'signup' } };
const deleted: UserEvent = { type: 'UserDeleted', data: { userId: 'u1' } };

describe('user administration decider', () => {
  const users = spec(userAdminDecider);
  it('creates a user once', () => {
    users.given([]).when({ type: 'CreateUser', userId: 'u1', email: 'ann@example.com', name: 'Ann', passwordHash: 'h', source: 'admin' })
      .then([{ type: 'UserRegistered', data: { userId: 'u1', email: 'ann@example.com', name: 'Ann', passwordHash: 'h', source: 'admin' } }]);
    users.given([registered]).when({ type: 'CreateUser', userId: 'u1', email: 'x@example.com', name: 'X', passwordHash: 'h', source: 'admin' }).thenThrows('user_exists');
  });
  it('updates only what changes, carrying the previous e-mail', () => {
    users.given([registered]).when({ type: 'UpdateProfile', name: 'Ann', email: 'ann2@example.com' })
      .then([{ type: 'UserProfileUpdated', data: { userId: 'u1', email: 'ann2@example.com', previousEmail: 'ann@example.com' } }]);
    users.given([registered]).when({ type: 'UpdateProfile', name: 'Anne' }).then([{ type: 'UserProfileUpdated', data: { userId: 'u1', name: 'Anne' } }]);
    users.given([registered]).when({ type: 'UpdateProfile', name: 'Ann', email: 'ann@example.com' }).then([]);
  });
  it('disables and enables idempotently', () => {
    users.given([registered]).when({ type: 'DisableUser', reason: 'abuse' }).then([{ type: 'UserDisabled', data: { userId: 'u1', reason: 'abuse' } }]);
    users.given([registered, { type: 'UserDisabled', data: { userId: 'u1' } }]).when({ type: 'DisableUser' }).then([]);
    users.given([registered, { type: 'UserDisabled', data: { userId: 'u1' } }]).when({ type: 'EnableUser' }).then([{ type: 'UserEnabled', data: { userId: 'u1' } }]);
    users.given([registered]).when({ type: 'EnableUser' }).then([]);
  });
  it('deletes, after which the user is not found', () => {
    users.given([registered]).when({ type: 'DeleteUser' }).then([deleted]);
    users.given([registered, deleted]).when({ type: 'DeleteUser' }).thenThrows('user_not_found');
    users.given([registered, deleted]).when({ type: 'UpdateProfile', name: 'x' }).thenThrows('user_not_found');
  });
  it('404s unknown users', () => users.given([]).when({ type: 'DisableUser' }).thenThrows('user_not_found'));
  it('grants and revokes admin idempotently; the user role stays', () => {
    users.given([registered]).when({ type: 'GrantRole', role: 'admin' }).then([{ type: 'RoleGranted', data: { userId: 'u1', role: 'admin' } }]);
    users.given([registered, { type: 'RoleGranted', data: { userId: 'u1', role: 'admin' } }]).when({ type: 'GrantRole', role: 'admin' }).then([]);
    users.given([registered, { type: 'RoleGranted', data: { userId: 'u1', role: 'admin' } }]).when({ type: 'RevokeRole', role: 'admin' })
      .then([{ type: 'RoleRevoked', data: { userId: 'u1', role: 'admin' } }]);
    users.given([registered]).when({ type: 'RevokeRole', role: 'admin' }).then([]);
    users.given([registered]).when({ type: 'RevokeRole', role: 'user' }).thenThrows('role_not_revocable');
  });
});
