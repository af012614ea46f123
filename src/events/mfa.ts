/**
 * Second factors of one user (stream `mfa-<userId>`, issue 17): TOTP, passkeys (WebAuthn) and
 * recovery codes, every use of them, second-factor failures and lockouts, step-ups and admin resets.
 * Kept off the user stream (every MFA login adds an event here). Rules kept in the data:
 * - a TOTP secret appears only as an `alc1.` envelope ciphertext (src/credentials/envelope.ts:
 *   per-user data key, scope `mfa`, outside the log); recovery codes only as SHA-256 hashes;
 *   a passkey's public key is public and stored as is;
 * - every event carries `userId` (the audit index and `state?at=` rely on it).
 * Registered in src/events/index.ts (`allEvents`).
 */
import { z } from 'zod';
import { defineEvent } from './registry';
import { client, id, isoTime } from './common';

const ciphertext = z.string().regex(/^alc1\.[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/).max(2000);
const factorName = z.string().max(100);
export const mfaMethod = z.enum(['totp', 'passkey', 'recovery_code']);
export type MfaMethod = z.infer<typeof mfaMethod>;

export const TotpEnrolmentStarted = defineEvent('TotpEnrolmentStarted', z.object({
  userId: id, factorId: id, name: factorName, secret: ciphertext, at: isoTime,
}));
/** Confirmed with a first code (its time step counts as used). */
export const TotpEnrolled = defineEvent('TotpEnrolled', z.object({ userId: id, factorId: id, name: factorName, step: z.number().int(), at: isoTime }));
export const PasskeyRegistered = defineEvent('PasskeyRegistered', z.object({
  userId: id,
  factorId: id,
  name: factorName,
  /** base64url credential id and COSE public key. */
  credentialId: z.string().max(1400),
  publicKey: z.string().max(4000),
  counter: z.number().int().min(0),
  transports: z.array(z.string().max(32)).max(10),
  deviceType: z.enum(['singleDevice', 'multiDevice']),
  backedUp: z.boolean(),
  userVerified: z.boolean(),
  aaguid: z.string().max(64),
  at: isoTime,
}));
export const SecondFactorRemoved = defineEvent('SecondFactorRemoved', z.object({ userId: id, factorId: id, method: mfaMethod }));
export const RecoveryCodesGenerated = defineEvent('RecoveryCodesGenerated', z.object({
  userId: id, setId: id, hashes: z.array(z.string().length(64)).min(1).max(20), at: isoTime,
}));
/** A successful second-factor check: at a login (`purpose: login`), a step-up (with the session) or an enrolment. */
export const SecondFactorVerified = defineEvent('SecondFactorVerified', client.extend({
  userId: id,
  method: mfaMethod,
  purpose: z.enum(['login', 'step_up', 'passwordless']),
  factorId: id.optional(),
  sessionId: id.optional(),
  /** TOTP: the time step accepted (never again). */
  step: z.number().int().optional(),
  /** Passkey: the new signature counter and backup state. */
  counter: z.number().int().min(0).optional(),
  backedUp: z.boolean().optional(),
  userVerified: z.boolean().optional(),
  /** Recovery code: which code of the set (never the code). */
  recoveryIndex: z.number().int().optional(),
  remainingRecoveryCodes: z.number().int().optional(),
  at: isoTime,
}));
export const SecondFactorFailed = defineEvent('SecondFactorFailed', client.extend({
  userId: id, method: z.string().max(40), consecutiveFailures: z.number().int(), at: isoTime,
}));
export const SecondFactorLocked = defineEvent('SecondFactorLocked', z.object({ userId: id, until: isoTime, failures: z.number().int() }));
export const SecondFactorFailuresCleared = defineEvent('SecondFactorFailuresCleared', z.object({ userId: id }));
/** An admin removed every factor (the admin is the event's actor in metadata, and `by`). */
export const SecondFactorsReset = defineEvent('SecondFactorsReset', z.object({ userId: id, by: id.optional() }));

export const mfaEvents = [
  TotpEnrolmentStarted, TotpEnrolled, PasskeyRegistered, SecondFactorRemoved, RecoveryCodesGenerated,
  SecondFactorVerified, SecondFactorFailed, SecondFactorLocked, SecondFactorFailuresCleared, SecondFactorsReset,
];

type Ev<D extends { type: string; schema: z.ZodType }> = { type: D['type']; data: z.infer<D['schema']> };
export type MfaEvent =
  | Ev<typeof TotpEnrolmentStarted> | Ev<typeof TotpEnrolled> | Ev<typeof PasskeyRegistered> | Ev<typeof SecondFactorRemoved>
  | Ev<typeof RecoveryCodesGenerated> | Ev<typeof SecondFactorVerified> | Ev<typeof SecondFactorFailed>
  | Ev<typeof SecondFactorLocked> | Ev<typeof SecondFactorFailuresCleared> | Ev<typeof SecondFactorsReset>;

export interface TotpFactor {
  id: string;
  name: string;
  secret: string;
  confirmed: boolean;
  createdAt: string;
  lastUsedAt?: string;
  /** The newest time step accepted: only later steps are accepted (each code once). */
  lastStep: number;
}

export interface PasskeyFactor {
  id: string;
  name: string;
  credentialId: string;
  publicKey: string;
  counter: number;
  transports: string[];
  deviceType: 'singleDevice' | 'multiDevice';
  backedUp: boolean;
  userVerified: boolean;
  createdAt: string;
  lastUsedAt?: string;
}

export interface MfaState {
  userId: string;
  /** The confirmed TOTP factor (one at most) and a pending enrolment. */
  totp?: TotpFactor;
  pendingTotp?: TotpFactor;
  passkeys: PasskeyFactor[];
  recovery?: { setId: string; hashes: string[]; used: number[]; createdAt: string; lastUsedAt?: string };
  failures: number;
  lockedUntil?: string;
  lastFailureAt?: string;
  /** Newest step-up per session (the last few sessions only). */
  stepUps: Record<string, string>;
}

export const initialMfaState = (): MfaState => ({ userId: '', passkeys: [], failures: 0, stepUps: {} });

const MAX_STEP_UPS = 20;

/** Whether the user has a second factor (recovery codes alone are not one). */
export const hasSecondFactor = (s: MfaState): boolean => !!s.totp || s.passkeys.length > 0;

/** The methods a user can complete a second-factor step with. */
export function mfaMethods(s: MfaState): MfaMethod[] {
  const out: MfaMethod[] = [];
  if (s.totp) out.push('totp');
  if (s.passkeys.length) out.push('passkey');
  if (hasSecondFactor(s) && s.recovery && s.recovery.used.length < s.recovery.hashes.length) out.push('recovery_code');
  return out;
}

export function evolveMfa(state: MfaState, event: { type: string; data: unknown }): MfaState {
  const e = event as MfaEvent;
  const s: MfaState = { ...state, userId: (e.data as { userId?: string })?.userId ?? state.userId };
  switch (e.type) {
    case 'TotpEnrolmentStarted':
      return { ...s, pendingTotp: { id: e.data.factorId, name: e.data.name, secret: e.data.secret, confirmed: false, createdAt: e.data.at, lastStep: -1 } };
    case 'TotpEnrolled': {
      const p = s.pendingTotp;
      if (!p || p.id !== e.data.factorId) return s;
      return { ...s, pendingTotp: undefined, totp: { ...p, name: e.data.name, confirmed: true, createdAt: e.data.at, lastStep: e.data.step, lastUsedAt: e.data.at } };
    }
    case 'PasskeyRegistered': {
      const d = e.data;
      return {
        ...s,
        passkeys: [...s.passkeys.filter((p) => p.id !== d.factorId), {
          id: d.factorId, name: d.name, credentialId: d.credentialId, publicKey: d.publicKey, counter: d.counter, transports: d.transports,
          deviceType: d.deviceType, backedUp: d.backedUp, userVerified: d.userVerified, createdAt: d.at,
        }],
      };
    }
    case 'SecondFactorRemoved': {
      const next = { ...s, passkeys: s.passkeys.filter((p) => p.id !== e.data.factorId) };
      if (s.totp?.id === e.data.factorId) next.totp = undefined;
      if (s.pendingTotp?.id === e.data.factorId) next.pendingTotp = undefined;
      if (s.recovery?.setId === e.data.factorId) next.recovery = undefined;
      return next;
    }
    case 'RecoveryCodesGenerated':
      return { ...s, recovery: { setId: e.data.setId, hashes: e.data.hashes, used: [], createdAt: e.data.at } };
    case 'SecondFactorVerified': {
      const d = e.data;
      const next: MfaState = { ...s, failures: 0, lockedUntil: undefined, lastFailureAt: undefined };
      if (d.method === 'totp' && s.totp && d.step !== undefined) next.totp = { ...s.totp, lastStep: Math.max(s.totp.lastStep, d.step), lastUsedAt: d.at };
      if (d.method === 'passkey') {
        next.passkeys = s.passkeys.map((p) => (p.id === d.factorId
          ? { ...p, counter: d.counter ?? p.counter, backedUp: d.backedUp ?? p.backedUp, lastUsedAt: d.at }
          : p));
      }
      if (d.method === 'recovery_code' && s.recovery && d.recoveryIndex !== undefined && !s.recovery.used.includes(d.recoveryIndex)) {
        next.recovery = { ...s.recovery, used: [...s.recovery.used, d.recoveryIndex], lastUsedAt: d.at };
      }
      if (d.purpose === 'step_up' && d.sessionId) {
        const entries = Object.entries({ ...s.stepUps, [d.sessionId]: d.at }).slice(-MAX_STEP_UPS);
        next.stepUps = Object.fromEntries(entries);
      }
      return next;
    }
    case 'SecondFactorFailed':
      return { ...s, failures: e.data.consecutiveFailures, lastFailureAt: e.data.at };
    case 'SecondFactorLocked':
      return { ...s, failures: e.data.failures, lockedUntil: e.data.until };
    case 'SecondFactorFailuresCleared':
      return { ...s, failures: 0, lockedUntil: undefined, lastFailureAt: undefined };
    case 'SecondFactorsReset':
      return { ...initialMfaState(), userId: s.userId };
    default:
      return state;
  }
}
