/** Issue 20 §1, given / when / then: an admin never removes itself; the last active admin is never removed. */
import { describe, it } from 'vitest';
import { spec } from '../helpers/decider';
import { userDecider } from '../../src/commands/users/decide';
import type { UserEvent } from '../../src/events/user';

const users = spec(userDecider);
const registered: UserEvent = { type: 'UserRegistered', data: { userId: 'u1', email: 'ann@example.com', name: 'Ann', passwordHash: 'h', source: 'signup' } };
const admin: UserEvent = { type: 'RoleGranted', data: { userId: 'u1', role: 'admin' } };
const disabled: UserEvent = { type: 'UserDisabled', data: { userId: 'u1' } };
const removals = [
  { type: 'DeleteUser' as const, then: [{ type: 'UserDeleted', data: { userId: 'u1' } }] as UserEvent[] },
  { type: 'DisableUser' as const, then: [{ type: 'UserDisabled', data: { userId: 'u1' } }] as UserEvent[] },
  { type: 'RevokeRole' as const, role: 'admin' as const, then: [{ type: 'RoleRevoked', data: { userId: 'u1', role: 'admin' } }] as UserEvent[] },
];

describe('removing an admin', () => {
  it('an admin can neither delete, disable nor demote itself, however many admins there are', () => {
    for (const { then: _t, ...c } of removals) users.given([registered, admin]).when({ ...c, actorUserId: 'u1', otherActiveAdmins: 5 }).thenThrows('cannot_target_self');
  });

  it('the last active admin cannot be deleted, disabled or demoted by anyone', () => {
    for (const { then: _t, ...c } of removals) users.given([registered, admin]).when({ ...c, actorUserId: 'u2', otherActiveAdmins: 0 }).thenThrows('last_admin');
  });

  it('with another active admin, another admin may remove it', () => {
    for (const { then, ...c } of removals) users.given([registered, admin]).when({ ...c, actorUserId: 'u2', otherActiveAdmins: 1 }).then(then);
  });

  it('a disabled admin is not an active one: it may be deleted or demoted when it is the only admin left', () => {
    users.given([registered, admin, disabled]).when({ type: 'DeleteUser', actorUserId: 'u2', otherActiveAdmins: 0 }).then([{ type: 'UserDeleted', data: { userId: 'u1' } }]);
    users.given([registered, admin, disabled]).when({ type: 'RevokeRole', role: 'admin', actorUserId: 'u2', otherActiveAdmins: 0 }).then([{ type: 'RoleRevoked', data: { userId: 'u1', role: 'admin' } }]);
    users.given([registered, admin, disabled]).when({ type: 'DisableUser', actorUserId: 'u2', otherActiveAdmins: 0 }).then([]);
  });

  it('users who are not admins are unaffected (a user deletes itself)', () => {
    users.given([registered]).when({ type: 'DeleteUser', actorUserId: 'u1', otherActiveAdmins: 0 }).then([{ type: 'UserDeleted', data: { userId: 'u1' } }]);
    users.given([registered]).when({ type: 'DisableUser', actorUserId: 'u2', otherActiveAdmins: 0 }).then([{ type: 'UserDisabled', data: { userId: 'u1' } }]);
  });
});
