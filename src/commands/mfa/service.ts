/**
 * MFA command handlers (issue 17): enrolment, the second step of a login, passwordless passkey
 * sign-in, step-up, removal, recovery codes, the admin reset. Rules enforced here (the state
 * rules are in decide.ts):
 * - a TOTP secret is encrypted before it is appended (envelope.ts: the user's `mfa` data key,
 *   context bound to user and factor) and decrypted only to match a code;
 * - an mfa_token finishes at most one login: its `jti` is spent in Redis (SET NX) before the
 *   session starts, and it allows MFA_TOKEN_ATTEMPTS checks at most;
 * - every refused check is `mfa_code_invalid` (or 429 `mfa_locked`), after the same progressive
 *   delay as a wrong password, and counts towards the account's second-factor lockout;
 * - step-up: a user with a second factor may do a sensitive operation only when the session
 *   proved one (at its login, or by a step-up on that session) within STEP_UP_MAX_AGE_SECONDS.
 */
import { randomUUID } from 'node:crypto';
import QRCode from 'qrcode';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { errors } from '../../errors';
import { hasSecondFactor, type MfaMethod, type MfaState } from '../../events/mfa';
import type { EventMetadata } from '../../events/store';
import { ciphertextDataKeyId, decrypt, encrypt } from '../../credentials/envelope';
import { invalidMfaToken, verifyMfaToken, type MfaTokenClaims } from '../../credentials/mfa-tokens';
import { matchRecoveryCode, newRecoveryCodes } from '../../credentials/recovery-codes';
import { matchTotp, newTotpSecret, totpUri } from '../../credentials/totp';
import type { DataKeyStore } from '../oauth/data-keys';
import { startSession, type IdentityDeps, type LoginResult } from '../identity/service';
import { requireStepUp } from './step-up';

export { requireStepUp };
import { progressiveDelayMs } from '../identity/lockout';
import type { Client } from '../users/decide';
import { loadUser } from '../users/stream';
import { isRefusal, mfaCodeInvalid, type MfaCommand, type Purpose } from './decide';
import { loadMfa, runMfaCommand } from './stream';
import { authenticationOptions, registrationOptions, userHandleOf, verifyAssertion, verifyRegistration } from './webauthn';

export interface MfaDeps extends IdentityDeps {
  dataKeys: DataKeyStore;
}

/** Checks one mfa_token allows (wrong codes included). */
export const MFA_TOKEN_ATTEMPTS = 5;
const DATA_KEY_SCOPE = 'mfa';
const totpContext = (userId: string, factorId: string) => `totp|${userId}|${factorId}`;
const sleep = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

/** What a second-factor check was given. */
export type FactorInput =
  | { method: 'totp'; code: string }
  | { method: 'recovery_code'; code: string }
  | { method: 'passkey'; assertion: AuthenticationResponseJSON };

const AMR_OF: Record<MfaMethod, string> = { totp: 'otp', passkey: 'hwk', recovery_code: 'rec' };

async function activeUser(deps: MfaDeps, userId: string) {
  const { state } = await loadUser(deps.store, userId);
  if (!state.exists || state.deleted || state.disabled) return undefined;
  return state;
}

// ------------------------------------------------------------------ TOTP enrolment

export async function startTotp(deps: MfaDeps, userId: string, name: string | undefined, metadata: EventMetadata) {
  const user = await activeUser(deps, userId);
  if (!user) throw errors.unauthorized('The session of this access token has ended.', 'session_ended');
  const factorId = randomUUID();
  const secret = newTotpSecret();
  const dataKey = await deps.dataKeys.ensure(userId, DATA_KEY_SCOPE);
  const ciphertext = encrypt(dataKey, secret, totpContext(userId, factorId));
  await runMfaCommand(deps, userId, { type: 'StartTotp', userId, factorId, name: name ?? 'Authenticator app', secret: ciphertext, now: new Date() }, metadata);
  const uri = totpUri(secret, deps.config.WEBAUTHN_RP_NAME, user.email);
  const qrSvg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 1 });
  return { factorId, secret, uri, qrSvg };
}

async function totpSecretOf(deps: MfaDeps, userId: string, factor: { id: string; secret: string }): Promise<string | undefined> {
  const dataKey = await deps.dataKeys.load(ciphertextDataKeyId(factor.secret), userId);
  if (!dataKey) return undefined; // shredded
  return decrypt(dataKey, factor.secret, totpContext(userId, factor.id)).toString('utf8');
}

/** Confirms a pending TOTP enrolment with a first code; the first factor also gets recovery codes (shown once). */
export async function confirmTotp(deps: MfaDeps, userId: string, factorId: string, code: string, metadata: EventMetadata, now = new Date()) {
  const { state } = await loadMfa(deps.store, userId);
  const pending = state.pendingTotp?.id === factorId ? state.pendingTotp : undefined;
  const secret = pending ? await totpSecretOf(deps, userId, pending) : undefined;
  const step = secret ? await matchTotp(secret, code, now.getTime()) : undefined;
  await runMfaCommand(deps, userId, { type: 'ConfirmTotp', userId, factorId, step, now }, metadata);
  return { factorId, recoveryCodes: state.recovery ? undefined : await generateRecoveryCodes(deps, userId, metadata) };
}

// ------------------------------------------------------------------ passkey registration

export async function passkeyRegistrationOptions(deps: MfaDeps, userId: string) {
  const user = await activeUser(deps, userId);
  if (!user) throw errors.unauthorized('The session of this access token has ended.', 'session_ended');
  const { state } = await loadMfa(deps.store, userId);
  return registrationOptions(deps, { userId, email: user.email, name: user.name }, state.passkeys);
}

export async function registerPasskey(deps: MfaDeps, userId: string, name: string | undefined, response: RegistrationResponseJSON, metadata: EventMetadata) {
  const verified = await verifyRegistration(deps, userId, response);
  const { state } = await loadMfa(deps.store, userId);
  const factorId = randomUUID();
  await runMfaCommand(deps, userId, { type: 'RegisterPasskey', userId, passkey: { ...verified, factorId, name: name ?? 'Passkey' }, now: new Date() }, metadata);
  return { factorId, recoveryCodes: state.recovery ? undefined : await generateRecoveryCodes(deps, userId, metadata) };
}

// ------------------------------------------------------------------ recovery codes

export async function generateRecoveryCodes(deps: MfaDeps, userId: string, metadata: EventMetadata): Promise<string[]> {
  const { codes, hashes } = newRecoveryCodes();
  await runMfaCommand(deps, userId, { type: 'GenerateRecoveryCodes', userId, setId: randomUUID(), hashes, now: new Date() }, metadata);
  return codes;
}

// ------------------------------------------------------------------ checking a second factor

export async function passkeyOptionsFor(deps: MfaDeps, userId: string, purpose: 'mfa' | 'step_up') {
  const { state } = await loadMfa(deps.store, userId);
  if (!state.passkeys.length) throw mfaCodeInvalid();
  return authenticationOptions(deps, purpose, { userId, passkeys: state.passkeys });
}

/**
 * Checks a second factor and records the outcome on the user's MFA stream: the accepted use, or
 * the failure (then answers mfa_code_invalid after the progressive delay). Returns the amr it adds.
 */
export async function checkSecondFactor(
  deps: MfaDeps, userId: string, purpose: Purpose, input: FactorInput, client: Client, metadata: EventMetadata,
  opts: { sessionId?: string; now?: Date } = {},
): Promise<string[]> {
  const now = opts.now ?? new Date();
  const { state } = await loadMfa(deps.store, userId);
  const outcome = await outcomeOf(deps, userId, state, purpose, input, now);
  const command: MfaCommand = {
    type: 'VerifySecondFactor', userId, purpose, client, now, outcome, sessionId: opts.sessionId,
    policy: { threshold: deps.config.LOCKOUT_THRESHOLD, minutes: deps.config.LOCKOUT_MINUTES },
  };
  const { appended } = await runMfaCommand(deps, userId, command, { ...metadata, actorUserId: userId });
  if (isRefusal(appended)) {
    const failures = (appended[0]!.data as { consecutiveFailures: number }).consecutiveFailures;
    await sleep(progressiveDelayMs(failures));
    throw mfaCodeInvalid();
  }
  const verified = appended[0]!.data as { userVerified?: boolean };
  return input.method === 'passkey' && verified.userVerified ? ['hwk', 'user'] : [AMR_OF[input.method]];
}

async function outcomeOf(deps: MfaDeps, userId: string, state: MfaState, purpose: Purpose, input: FactorInput, now: Date) {
  switch (input.method) {
    case 'totp': {
      const secret = state.totp ? await totpSecretOf(deps, userId, state.totp) : undefined;
      return { method: 'totp' as const, step: secret ? await matchTotp(secret, input.code, now.getTime(), state.totp!.lastStep) : undefined };
    }
    case 'recovery_code':
      return { method: 'recovery_code' as const, index: state.recovery ? matchRecoveryCode(input.code, state.recovery.hashes, state.recovery.used) : undefined };
    case 'passkey': {
      const ceremony = purpose === 'login' ? 'mfa' : purpose;
      const a = await verifyAssertion(deps, ceremony, userId, state.passkeys, input.assertion);
      return { method: 'passkey' as const, ...a };
    }
  }
}

// ------------------------------------------------------------------ the mfa_token

const spentKey = (prefix: string, jti: string) => `${prefix}mfatoken:${jti}`;
const triesKey = (prefix: string, jti: string) => `${prefix}mfatries:${jti}`;

/** A valid, unspent mfa_token of `purpose`, counting one more attempt on it. */
export async function openMfaToken(deps: MfaDeps, token: string, purpose: MfaTokenClaims['purpose']): Promise<MfaTokenClaims> {
  const claims = await verifyMfaToken(deps.keys, deps.config, token);
  if (claims.purpose !== purpose) throw invalidMfaToken();
  const ttl = Math.max(1, claims.expiresAt - Math.floor(Date.now() / 1000) + 5);
  const [[, spent], [, tries]] = (await deps.redis.multi().exists(spentKey(deps.prefix, claims.jti)).incr(triesKey(deps.prefix, claims.jti)).expire(triesKey(deps.prefix, claims.jti), ttl).exec()) as [[null, number], [null, number]];
  if (spent || tries > MFA_TOKEN_ATTEMPTS) throw invalidMfaToken();
  return claims;
}

/** Spends an mfa_token (once: a second spend of the same token fails). */
async function spendMfaToken(deps: MfaDeps, claims: MfaTokenClaims): Promise<void> {
  const ttl = Math.max(1, claims.expiresAt - Math.floor(Date.now() / 1000) + 5);
  const ok = await deps.redis.set(spentKey(deps.prefix, claims.jti), '1', 'EX', ttl, 'NX');
  if (ok !== 'OK') throw invalidMfaToken();
}

async function sessionFor(deps: MfaDeps, userId: string, client: Client, metadata: EventMetadata, amr: string[], deviceName?: string, method?: string): Promise<LoginResult> {
  const user = await activeUser(deps, userId);
  if (!user) throw errors.forbidden('This account cannot sign in.', 'account_disabled');
  return startSession(deps, user, client, metadata, { deviceName, method, amr: [...new Set(amr)] });
}

/** POST /auth/mfa/verify: the second step of a password login. */
export async function completeMfaLogin(deps: MfaDeps, mfaToken: string, input: FactorInput, client: Client, metadata: EventMetadata): Promise<LoginResult> {
  const claims = await openMfaToken(deps, mfaToken, 'login');
  const amr = await checkSecondFactor(deps, claims.userId, 'login', input, client, metadata);
  await spendMfaToken(deps, claims);
  return sessionFor(deps, claims.userId, client, metadata, [...claims.amr, ...amr], claims.deviceName, claims.method);
}

/** Enrolment with an `enrol` mfa_token (MFA_REQUIRED_FOR_ROLES) finishes the login it interrupted. */
export async function finishEnrolmentLogin(deps: MfaDeps, claims: MfaTokenClaims, method: 'totp' | 'passkey', client: Client, metadata: EventMetadata): Promise<LoginResult> {
  await spendMfaToken(deps, claims);
  return sessionFor(deps, claims.userId, client, metadata, [...claims.amr, AMR_OF[method]], claims.deviceName, claims.method);
}

// ------------------------------------------------------------------ passwordless

export const passwordlessOptions = (deps: MfaDeps) => authenticationOptions(deps, 'passwordless');

/** POST /auth/passkeys/verify: a discoverable passkey alone signs in (its user handle names the user). */
export async function passwordlessLogin(deps: MfaDeps, assertion: AuthenticationResponseJSON, client: Client, metadata: EventMetadata): Promise<LoginResult> {
  const userId = userHandleOf(assertion);
  const user = userId ? await activeUser(deps, userId) : undefined;
  if (!userId || !user) {
    // Still spend the challenge, so an unknown user costs the same and the response cannot be retried.
    await verifyAssertion(deps, 'passwordless', undefined, [], assertion).catch(() => undefined);
    throw mfaCodeInvalid();
  }
  const amr = await checkSecondFactor(deps, userId, 'passwordless', { method: 'passkey', assertion }, client, metadata);
  return startSession(deps, user, client, metadata, { amr });
}

// ------------------------------------------------------------------ step-up

/** POST /auth/mfa/step-up: proves a second factor on the caller's session. */
export async function stepUp(deps: MfaDeps, caller: { userId: string; sessionId: string }, input: FactorInput, client: Client, metadata: EventMetadata): Promise<void> {
  const { state } = await loadMfa(deps.store, caller.userId);
  if (!hasSecondFactor(state)) throw errors.conflict('Enrol a second factor first.', 'no_second_factor');
  await checkSecondFactor(deps, caller.userId, 'step_up', input, client, metadata, { sessionId: caller.sessionId });
}

// ------------------------------------------------------------------ removal and reset

export async function removeFactor(deps: MfaDeps, caller: { userId: string; sessionId: string }, factorId: string, metadata: EventMetadata): Promise<void> {
  await requireStepUp(deps, caller);
  await runMfaCommand(deps, caller.userId, { type: 'RemoveFactor', userId: caller.userId, factorId }, metadata);
}

/** An admin removes every factor of a user (the admin is the actor; the user is mailed by the worker). */
export async function resetFactors(deps: MfaDeps, userId: string, adminId: string, metadata: EventMetadata): Promise<boolean> {
  const { state } = await loadUser(deps.store, userId);
  if (!state.exists || state.deleted) throw errors.notFound('No such user.', 'user_not_found');
  const { appended } = await runMfaCommand(deps, userId, { type: 'ResetFactors', userId, by: adminId }, { ...metadata, actorUserId: adminId });
  return appended.length > 0;
}
