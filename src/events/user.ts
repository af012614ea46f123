/**
 * The user aggregate's events (stream `user-<id>`), and the e-mail reservation stream
 * (`email-<normalised>`) that makes e-mails unique on the write path.
 * Every event of a user carries `userId`, which the audit index relies on.
 */
import { z } from 'zod';
import { defineEvent } from './registry';
import { client, id, isoTime, role, type Role } from './common';
import { emailChangeEvents, endPending, evolveEmailChange, initialEmailChangeState, type EmailChangeCancelled, type EmailChangeConfirmed, type EmailChangeRequested, type EmailChangeState } from './email-change';

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
    source: z.enum(['signup', 'admin', 'bootstrap', 'import', 'oauth']),
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
const loginFailedV1 = client.extend({ userId: id, reason: z.enum(['bad_password', 'locked', 'disabled']), consecutiveFailures: z.number().int() });
/** v2 adds `at` (the decider's clock): consecutive failures older than the counting window start over. */
export const LoginFailed = defineEvent('LoginFailed', loginFailedV1.extend({ at: isoTime.optional() }), [{ schema: loginFailedV1 }], (v1) => v1);
export const AccountLocked = defineEvent('AccountLocked', z.object({ userId: id, until: isoTime, failures: z.number().int() }));
export const AccountUnlocked = defineEvent('AccountUnlocked', z.object({ userId: id }));
/** Successful login after failures: the consecutive-failure counter starts again from zero. */
export const LoginFailuresCleared = defineEvent('LoginFailuresCleared', z.object({ userId: id, sessionId: id.optional() }));
/**
 * The same password, stored again with the current scheme or cost (at a successful login, when
 * the stored hash is a legacy one — e.g. imported plain bcrypt — or cheaper than BCRYPT_COST).
 * Not a password change: no session ends, nobody is notified.
 */
export const PasswordRehashed = defineEvent('PasswordRehashed', z.object({ userId: id, passwordHash: z.string() }));

export const userEvents = [
  UserRegistered, EmailReserved, EmailReleased, EmailVerified, UserProfileUpdated, PasswordChanged, PasswordReset,
  UserDisabled, UserEnabled, UserDeleted, RoleGranted, RoleRevoked, LoginFailed, AccountLocked, AccountUnlocked,
  LoginFailuresCleared, PasswordRehashed,
  // On the user stream too (their schemas live in email-change.ts): read models move the revision.
  ...emailChangeEvents,
];


/** E-mail as the uniqueness key and login name: trimmed, Unicode NFKC, lower-cased. */
export function normaliseEmail(email: string): string {
  return email.trim().normalize('NFKC').toLowerCase();
}

type Ev<D extends { type: string; schema: z.ZodType }> = { type: D['type']; data: z.infer<D['schema']> };
export type UserEvent =
  | Ev<typeof UserRegistered> | Ev<typeof EmailVerified> | Ev<typeof UserProfileUpdated> | Ev<typeof PasswordChanged>
  | Ev<typeof PasswordReset> | Ev<typeof UserDisabled> | Ev<typeof UserEnabled> | Ev<typeof UserDeleted>
  | Ev<typeof RoleGranted> | Ev<typeof RoleRevoked> | Ev<typeof LoginFailed> | Ev<typeof AccountLocked>
  | Ev<typeof AccountUnlocked> | Ev<typeof LoginFailuresCleared> | Ev<typeof PasswordRehashed>
  | Ev<typeof EmailChangeRequested> | Ev<typeof EmailChangeConfirmed> | Ev<typeof EmailChangeCancelled>;

/** The user aggregate as deciders see it (folded from the `user-<id>` stream). */
export interface UserState {
  exists: boolean;
  userId: string;
  email: string;
  name: string;
  passwordHash: string;
  source: 'signup' | 'admin' | 'bootstrap' | 'import' | 'oauth' | '';
  roles: Role[];
  emailVerified: boolean;
  disabled: boolean;
  deleted: boolean;
  /** Consecutive failed logins since the last success or lockout expiry. */
  failures: number;
  /** ISO time until which logins are refused, when locked. */
  lockedUntil?: string;
  /** ISO time of the last counted failure. */
  lastFailureAt?: string;
  /** Own e-mail changes waiting for (or past) confirmation (src/events/email-change.ts). */
  emailChange: EmailChangeState;
}

export const initialUserState = (): UserState => ({
  exists: false, userId: '', email: '', name: '', passwordHash: '', source: '', roles: [],
  emailVerified: false, disabled: false, deleted: false, failures: 0, emailChange: initialEmailChangeState(),
});

/** Pure: the state after one more event. Unknown event types leave the state unchanged. */
export function evolveUser(state: UserState, event: { type: string; data: unknown }): UserState {
  const e = event as UserEvent;
  switch (e.type) {
    case 'UserRegistered':
      return { ...state, exists: true, userId: e.data.userId, email: e.data.email, name: e.data.name, passwordHash: e.data.passwordHash, source: e.data.source, roles: ['user'] };
    case 'EmailVerified':
      return e.data.email === state.email ? { ...state, emailVerified: true } : state;
    case 'UserProfileUpdated': {
      const emailChanged = e.data.email !== undefined && e.data.email !== state.email;
      // An address set otherwise (an admin, a confirm, a revert) ends any pending change.
      return {
        ...state, name: e.data.name ?? state.name, email: e.data.email ?? state.email, emailVerified: emailChanged ? false : state.emailVerified,
        emailChange: emailChanged ? endPending(state.emailChange) : state.emailChange,
      };
    }
    case 'PasswordChanged':
    case 'PasswordReset':
      // A new password also lifts a lockout: the owner proved control (reset) or knew the old one.
      return { ...state, passwordHash: e.data.passwordHash, failures: 0, lockedUntil: undefined, lastFailureAt: undefined };
    case 'PasswordRehashed':
      return { ...state, passwordHash: e.data.passwordHash };
    case 'UserDisabled':
      return { ...state, disabled: true };
    case 'UserEnabled':
      return { ...state, disabled: false };
    case 'UserDeleted':
      return { ...state, deleted: true };
    case 'RoleGranted':
      return state.roles.includes(e.data.role) ? state : { ...state, roles: [...state.roles, e.data.role] };
    case 'RoleRevoked':
      return { ...state, roles: state.roles.filter((r) => r !== e.data.role) };
    case 'LoginFailed':
      return { ...state, failures: e.data.consecutiveFailures, lastFailureAt: e.data.at ?? state.lastFailureAt };
    case 'AccountLocked':
      return { ...state, lockedUntil: e.data.until, failures: e.data.failures };
    case 'AccountUnlocked':
    case 'LoginFailuresCleared':
      return { ...state, failures: 0, lockedUntil: undefined, lastFailureAt: undefined };
    case 'EmailChangeRequested':
    case 'EmailChangeConfirmed':
    case 'EmailChangeCancelled':
      return { ...state, emailChange: evolveEmailChange(state.emailChange, e) };
    default:
      return state;
  }
}

