/**
 * The one decider of the MFA stream (`mfa-<userId>`). The handlers do the cryptography (decrypt a
 * TOTP secret and match the code, verify a WebAuthn response, hash a recovery code) and bring the
 * outcome in; the rules on state are here. Rules:
 * - one confirmed TOTP factor at most; a new enrolment replaces a pending one; confirming needs the
 *   pending enrolment's id and a step (the first code's) the handler matched;
 * - a TOTP step is accepted once: only a step after the newest used one (replay refused);
 * - a passkey's credential id is registered once per user; its signature counter must grow when
 *   either the stored or the new counter is non-zero (a cloned authenticator otherwise);
 * - a recovery code works once; regenerating replaces the whole set (the old codes stop working);
 * - removing a factor: an unknown id is `factor_not_found`; removing the last second factor also
 *   removes the recovery codes (they are not a factor on their own);
 * - failed second-factor checks count towards a lockout exactly like passwords (identity/lockout.ts:
 *   LOCKOUT_THRESHOLD within the window locks for LOCKOUT_MINUTES); while locked every check is
 *   refused and nothing more is recorded; a success clears the counter;
 * - every refusal of a check is the same `mfa_code_invalid` (unknown factor, wrong code, replayed
 *   step, unknown recovery code): answers never tell which;
 * - an admin reset removes everything (SecondFactorsReset); a reset of a user without factors is a no-op.
 */
import { domainError, errors } from '../../errors';
import {
  evolveMfa, hasSecondFactor, initialMfaState, type MfaEvent, type MfaMethod, type MfaState,
} from '../../events/mfa';
import { isLocked, nextFailure, type LockoutPolicy } from '../identity/lockout';
import type { Client } from '../users/decide';

export type Purpose = 'login' | 'step_up' | 'passwordless';

export interface PasskeyInput {
  factorId: string; name: string; credentialId: string; publicKey: string; counter: number; transports: string[];
  deviceType: 'singleDevice' | 'multiDevice'; backedUp: boolean; userVerified: boolean; aaguid: string;
}

export type MfaCommand =
  | { type: 'StartTotp'; userId: string; factorId: string; name: string; secret: string; now: Date }
  | { type: 'ConfirmTotp'; userId: string; factorId: string; step: number | undefined; now: Date }
  | { type: 'RegisterPasskey'; userId: string; passkey: PasskeyInput; now: Date }
  | { type: 'RemoveFactor'; userId: string; factorId: string }
  | { type: 'GenerateRecoveryCodes'; userId: string; setId: string; hashes: string[]; now: Date }
  | {
      type: 'VerifySecondFactor'; userId: string; purpose: Purpose; sessionId?: string; client: Client; now: Date;
      /** What the handler's check found: undefined when it did not match. */
      outcome:
        | { method: 'totp'; step: number | undefined }
        | { method: 'passkey'; factorId: string | undefined; counter: number; backedUp: boolean; userVerified: boolean }
        | { method: 'recovery_code'; index: number | undefined };
      policy: LockoutPolicy;
    }
  | { type: 'ResetFactors'; userId: string; by?: string };

export const mfaCodeInvalid = () => domainError('mfa_code_invalid', 'The second factor was not accepted.');
export const mfaLocked = (until: string, now: Date) =>
  domainError('mfa_locked', 'Too many failed second-factor attempts; try again later.', {
    retryAfterSeconds: Math.max(1, Math.ceil((Date.parse(until) - now.getTime()) / 1000)),
  });

/** Refusal events of a failed check (the handler appends them, then answers mfa_code_invalid). */
function failure(state: MfaState, userId: string, method: string, client: Client, now: Date, policy: LockoutPolicy): MfaEvent[] {
  const next = nextFailure(state, now, policy);
  const events: MfaEvent[] = [{ type: 'SecondFactorFailed', data: { userId, method, consecutiveFailures: next.failures, at: now.toISOString(), ...client } }];
  if (next.lockedUntil) events.push({ type: 'SecondFactorLocked', data: { userId, until: next.lockedUntil, failures: next.failures } });
  return events;
}

export function decideMfa(command: MfaCommand, state: MfaState): MfaEvent[] {
  const { userId } = command;
  switch (command.type) {
    case 'StartTotp':
      if (state.totp) throw errors.conflict('An authenticator app is already enrolled; remove it first.', 'totp_already_enrolled');
      return [{ type: 'TotpEnrolmentStarted', data: { userId, factorId: command.factorId, name: command.name, secret: command.secret, at: command.now.toISOString() } }];
    case 'ConfirmTotp': {
      const p = state.pendingTotp;
      if (state.totp) throw errors.conflict('An authenticator app is already enrolled; remove it first.', 'totp_already_enrolled');
      if (!p || p.id !== command.factorId) throw errors.notFound('No pending authenticator enrolment with this id; start again.', 'totp_enrolment_not_found');
      if (command.step === undefined) throw mfaCodeInvalid();
      return [{ type: 'TotpEnrolled', data: { userId, factorId: p.id, name: p.name, step: command.step, at: command.now.toISOString() } }];
    }
    case 'RegisterPasskey': {
      const k = command.passkey;
      if (state.passkeys.some((p) => p.credentialId === k.credentialId)) throw errors.conflict('This passkey is already registered.', 'passkey_already_registered');
      return [{ type: 'PasskeyRegistered', data: { userId, ...k, at: command.now.toISOString() } }];
    }
    case 'RemoveFactor': {
      const id = command.factorId;
      const method: MfaMethod | undefined = state.totp?.id === id || state.pendingTotp?.id === id ? 'totp'
        : state.passkeys.some((p) => p.id === id) ? 'passkey'
          : state.recovery?.setId === id ? 'recovery_code' : undefined;
      if (!method) throw errors.notFound('No such factor.', 'factor_not_found');
      const events: MfaEvent[] = [{ type: 'SecondFactorRemoved', data: { userId, factorId: id, method } }];
      const after = evolveMfa(state, events[0]!);
      if (!hasSecondFactor(after) && after.recovery) {
        events.push({ type: 'SecondFactorRemoved', data: { userId, factorId: after.recovery.setId, method: 'recovery_code' } });
      }
      return events;
    }
    case 'GenerateRecoveryCodes':
      if (!hasSecondFactor(state)) throw errors.conflict('Enrol a second factor first.', 'no_second_factor');
      return [{ type: 'RecoveryCodesGenerated', data: { userId, setId: command.setId, hashes: command.hashes, at: command.now.toISOString() } }];
    case 'VerifySecondFactor': {
      const { now, outcome, client, purpose, sessionId, policy } = command;
      if (isLocked(state, now)) throw mfaLocked(state.lockedUntil!, now);
      const at = now.toISOString();
      const base = { userId, purpose, at, ...client, ...(sessionId ? { sessionId } : {}) };
      const fail = () => failure(state, userId, outcome.method, client, now, policy);
      switch (outcome.method) {
        case 'totp': {
          const t = state.totp;
          if (!t || outcome.step === undefined || outcome.step <= t.lastStep) return fail();
          return [{ type: 'SecondFactorVerified', data: { ...base, method: 'totp', factorId: t.id, step: outcome.step } }];
        }
        case 'passkey': {
          const p = state.passkeys.find((k) => k.id === outcome.factorId);
          if (!p) return fail();
          // A counter that does not grow (when counters are in use) means a cloned authenticator.
          if ((p.counter > 0 || outcome.counter > 0) && outcome.counter <= p.counter) return fail();
          return [{
            type: 'SecondFactorVerified',
            data: { ...base, method: 'passkey', factorId: p.id, counter: outcome.counter, backedUp: outcome.backedUp, userVerified: outcome.userVerified },
          }];
        }
        case 'recovery_code': {
          const r = state.recovery;
          if (!r || !hasSecondFactor(state) || outcome.index === undefined || r.used.includes(outcome.index)) return fail();
          return [{
            type: 'SecondFactorVerified',
            data: { ...base, method: 'recovery_code', factorId: r.setId, recoveryIndex: outcome.index, remainingRecoveryCodes: r.hashes.length - r.used.length - 1 },
          }];
        }
      }
      return fail();
    }
    case 'ResetFactors':
      if (!hasSecondFactor(state) && !state.recovery && !state.pendingTotp) return [];
      return [{ type: 'SecondFactorsReset', data: { userId, ...(command.by ? { by: command.by } : {}) } }];
  }
}

export const mfaDecider = { initialState: initialMfaState, evolve: evolveMfa as (s: MfaState, e: MfaEvent) => MfaState, decide: decideMfa };

/** Whether a decision was a refusal (the handler answers mfa_code_invalid after appending it). */
export const isRefusal = (events: readonly MfaEvent[]) => events.length > 0 && events[0]!.type === 'SecondFactorFailed';
