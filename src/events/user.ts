/**
 * The user aggregate's events (stream `user-<id>`), and the e-mail reservation stream
 * (`email-<normalised>`) that makes e-mails unique on the write path.
 * Every event of a user carries `userId`, which the audit index relies on.
 */
import { z } from 'zod';
import { defineEvent } from './registry';
import { client, id, isoTime, role } from './common';

/** v1 (stored by early builds): no `source`. Upcast: such users signed themselves up. */
const userRegisteredV1 = z.object({
  userId: id,
  email: z.string(),
  name: z.string(),
  passwordHash: z.string(),
});
export const UserRegistered = defineEvent(
  'UserRegistered',
  userRegisteredV1.extend({
    /** How the account came to be. */
    source: z.enum(['signup', 'admin', 'bootstrap', 'import']),
  }),
  [{ schema: userRegisteredV1 }],
  (v1) => ({ ...(v1 as object), source: 'signup' }),
);
export const EmailReserved = defineEvent('EmailReserved', z.object({ email: z.string(), userId: id }));
export const EmailReleased = defineEvent('EmailReleased', z.object({ email: z.string(), userId: id }));
export const EmailVerified = defineEvent('EmailVerified', z.object({ userId: id, email: z.string() }));
export const UserProfileUpdated = defineEvent(
  'UserProfileUpdated',
  z.object({ userId: id, name: z.string().optional(), email: z.string().optional(), previousEmail: z.string().optional() }),
);
export const PasswordChanged = defineEvent('PasswordChanged', z.object({ userId: id, passwordHash: z.string(), keepSessionId: id.optional() }));
export const PasswordReset = defineEvent('PasswordReset', z.object({ userId: id, passwordHash: z.string(), tokenId: id }));
export const UserDisabled = defineEvent('UserDisabled', z.object({ userId: id, reason: z.string().max(500).optional() }));
export const UserEnabled = defineEvent('UserEnabled', z.object({ userId: id }));
export const UserDeleted = defineEvent('UserDeleted', z.object({ userId: id }));
export const RoleGranted = defineEvent('RoleGranted', z.object({ userId: id, role }));
export const RoleRevoked = defineEvent('RoleRevoked', z.object({ userId: id, role }));
export const LoginFailed = defineEvent(
  'LoginFailed',
  client.extend({ userId: id, reason: z.enum(['bad_password', 'locked', 'disabled']), consecutiveFailures: z.number().int() }),
);
export const AccountLocked = defineEvent('AccountLocked', z.object({ userId: id, until: isoTime, failures: z.number().int() }));
export const AccountUnlocked = defineEvent('AccountUnlocked', z.object({ userId: id }));

export const userEvents = [
  UserRegistered, EmailReserved, EmailReleased, EmailVerified, UserProfileUpdated, PasswordChanged, PasswordReset,
  UserDisabled, UserEnabled, UserDeleted, RoleGranted, RoleRevoked, LoginFailed, AccountLocked, AccountUnlocked,
];
