/** The MFA stream's decider, given / when / then. */
import { describe, it } from 'vitest';
import { spec } from '../helpers/decider';
import { mfaDecider, type MfaCommand } from '../../src/commands/mfa/decide';
import type { MfaEvent } from '../../src/events/mfa';

const userId = 'u1';
const now = new Date('2026-01-01T00:00:00.000Z');
const at = now.toISOString();
const ct = 'alc1.key.iv.ct.tag';
const policy = { threshold: 3, minutes: 15 };
const client = { ip: '203.0.113.9' };
const started: MfaEvent = { type: 'TotpEnrolmentStarted', data: { userId, factorId: 'f1', name: 'phone', secret: ct, at } };
const enrolled: MfaEvent = { type: 'TotpEnrolled', data: { userId, factorId: 'f1', name: 'phone', step: 100, at } };
const codes: MfaEvent = { type: 'RecoveryCodesGenerated', data: { userId, setId: 'r1', hashes: ['a'.repeat(64), 'b'.repeat(64)], at } };
const verifyTotp = (step: number | undefined): MfaCommand => ({ type: 'VerifySecondFactor', userId, purpose: 'login', client, now, outcome: { method: 'totp', step }, policy });

describe('MFA decider', () => {
  it('confirms a pending TOTP enrolment only with a matched code', () => {
    spec(mfaDecider).given([started]).when({ type: 'ConfirmTotp', userId, factorId: 'f1', step: 100, now }).then([enrolled]);
    spec(mfaDecider).given([started]).when({ type: 'ConfirmTotp', userId, factorId: 'f1', step: undefined, now }).thenThrows('mfa_code_invalid');
    spec(mfaDecider).given([started]).when({ type: 'ConfirmTotp', userId, factorId: 'other', step: 100, now }).thenThrows('totp_enrolment_not_found');
    spec(mfaDecider).given([started, enrolled]).when({ type: 'StartTotp', userId, factorId: 'f2', name: 'x', secret: ct, now }).thenThrows('totp_already_enrolled');
  });

  it('accepts a later TOTP step once; the same or an older step is a counted failure', () => {
    spec(mfaDecider).given([started, enrolled]).when(verifyTotp(101)).then([
      { type: 'SecondFactorVerified', data: { userId, purpose: 'login', at, ...client, method: 'totp', factorId: 'f1', step: 101 } },
    ]);
    spec(mfaDecider).given([started, enrolled]).when(verifyTotp(100)).then([
      { type: 'SecondFactorFailed', data: { userId, method: 'totp', consecutiveFailures: 1, at, ...client } },
    ]);
  });

  it('locks at the threshold and then refuses without recording', () => {
    const failed = (n: number): MfaEvent => ({ type: 'SecondFactorFailed', data: { userId, method: 'totp', consecutiveFailures: n, at } });
    const until = new Date(now.getTime() + 15 * 60_000).toISOString();
    spec(mfaDecider).given([started, enrolled, failed(1), failed(2)]).when(verifyTotp(undefined)).then([
      { type: 'SecondFactorFailed', data: { userId, method: 'totp', consecutiveFailures: 3, at, ...client } },
      { type: 'SecondFactorLocked', data: { userId, until, failures: 3 } },
    ]);
    spec(mfaDecider).given([started, enrolled, { type: 'SecondFactorLocked', data: { userId, until, failures: 3 } }]).when(verifyTotp(101)).thenThrows('mfa_locked');
  });

  it('a recovery code works once, and only with a second factor', () => {
    const use = (index: number | undefined): MfaCommand => ({ type: 'VerifySecondFactor', userId, purpose: 'login', client, now, outcome: { method: 'recovery_code', index }, policy });
    const used: MfaEvent = { type: 'SecondFactorVerified', data: { userId, purpose: 'login', at, method: 'recovery_code', factorId: 'r1', recoveryIndex: 1, remainingRecoveryCodes: 1 } };
    spec(mfaDecider).given([started, enrolled, codes]).when(use(1)).then([{ ...used, data: { ...used.data, ...client } }]);
    spec(mfaDecider).given([started, enrolled, codes, used]).when(use(1)).then([
      { type: 'SecondFactorFailed', data: { userId, method: 'recovery_code', consecutiveFailures: 1, at, ...client } },
    ]);
    spec(mfaDecider).given([codes]).when({ type: 'GenerateRecoveryCodes', userId, setId: 'r2', hashes: ['c'.repeat(64)], now }).thenThrows('no_second_factor');
  });

  it('a passkey counter must grow; removing the last factor removes the recovery codes', () => {
    const passkey = { factorId: 'p1', name: 'key', credentialId: 'cred', publicKey: 'pk', counter: 5, transports: [], deviceType: 'singleDevice' as const, backedUp: false, userVerified: true, aaguid: '0' };
    const pk: MfaEvent = { type: 'PasskeyRegistered', data: { userId, ...passkey, at } };
    const usePk = (counter: number): MfaCommand => ({ type: 'VerifySecondFactor', userId, purpose: 'passwordless', client, now, outcome: { method: 'passkey', factorId: 'p1', counter, backedUp: false, userVerified: true }, policy });
    spec(mfaDecider).given([pk]).when(usePk(5)).then([{ type: 'SecondFactorFailed', data: { userId, method: 'passkey', consecutiveFailures: 1, at, ...client } }]);
    spec(mfaDecider).given([pk]).when(usePk(6)).then([{
      type: 'SecondFactorVerified', data: { userId, purpose: 'passwordless', at, ...client, method: 'passkey', factorId: 'p1', counter: 6, backedUp: false, userVerified: true },
    }]);
    spec(mfaDecider).given([pk, codes]).when({ type: 'RemoveFactor', userId, factorId: 'p1' }).then([
      { type: 'SecondFactorRemoved', data: { userId, factorId: 'p1', method: 'passkey' } },
      { type: 'SecondFactorRemoved', data: { userId, factorId: 'r1', method: 'recovery_code' } },
    ]);
    spec(mfaDecider).given([pk]).when({ type: 'RemoveFactor', userId, factorId: 'nope' }).thenThrows('factor_not_found');
    spec(mfaDecider).given([pk]).when({ type: 'RegisterPasskey', userId, passkey: { ...passkey, factorId: 'p2' }, now }).thenThrows('passkey_already_registered');
  });

  it('an admin reset removes everything once', () => {
    spec(mfaDecider).given([started, enrolled, codes]).when({ type: 'ResetFactors', userId, by: 'admin1' }).then([{ type: 'SecondFactorsReset', data: { userId, by: 'admin1' } }]);
    spec(mfaDecider).given([started, enrolled, { type: 'SecondFactorsReset', data: { userId } }]).when({ type: 'ResetFactors', userId }).then([]);
  });
});
