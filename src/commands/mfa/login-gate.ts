/**
 * The second step of a password login (issue 17). Rules:
 * - a user with a second factor gets no session from the password alone: the answer is an
 *   `mfa_token` (src/credentials/mfa-tokens.ts) and the methods to finish with
 *   (POST /api/v1/auth/mfa/verify);
 * - a user holding a role of MFA_REQUIRED_FOR_ROLES without a second factor gets an `enrol`
 *   mfa_token instead: enrolling TOTP or a passkey with it finishes the login;
 * - everyone else gets the session at once, as before;
 * - social sign-in passes the same gate (`method: oauth:<provider>`, no `pwd` in amr): a provider's
 *   login never skips the second factor the user enrolled here.
 */
import type { Config } from '../../config';
import type { EventStore } from '../../events/store';
import { hasSecondFactor, mfaMethods, type MfaMethod } from '../../events/mfa';
import type { KeySet } from '../../credentials/keys';
import { signMfaToken } from '../../credentials/mfa-tokens';
import { loadMfa } from './stream';

export interface MfaChallenge {
  mfaRequired: true;
  enrolmentRequired: boolean;
  mfaToken: string;
  expiresIn: number;
  methods: MfaMethod[];
}

export const requiredRoles = (config: Pick<Config, 'MFA_REQUIRED_FOR_ROLES'>): string[] =>
  config.MFA_REQUIRED_FOR_ROLES.split(',').map((r) => r.trim()).filter(Boolean);

/** The challenge a password login answers with, or undefined when the session may start now. */
export async function secondStepOf(
  deps: { config: Config; store: EventStore; keys: KeySet },
  user: { userId: string; roles: readonly string[] },
  opts: { deviceName?: string; now?: Date; amr?: string[]; method?: string } = {},
): Promise<MfaChallenge | undefined> {
  const { state } = await loadMfa(deps.store, user.userId);
  const enrol = !hasSecondFactor(state) && user.roles.some((r) => requiredRoles(deps.config).includes(r));
  if (!hasSecondFactor(state) && !enrol) return undefined;
  const { token, expiresIn } = await signMfaToken(deps.keys, deps.config, {
    userId: user.userId, purpose: enrol ? 'enrol' : 'login', amr: opts.amr ?? ['pwd'], deviceName: opts.deviceName, method: opts.method,
  }, opts.now);
  return { mfaRequired: true, enrolmentRequired: enrol, mfaToken: token, expiresIn, methods: enrol ? ['totp', 'passkey'] : mfaMethods(state) };
}
