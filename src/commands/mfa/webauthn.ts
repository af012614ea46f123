/**
 * WebAuthn ceremonies (Level 3, @simplewebauthn/server) and their server-side challenges. Rules:
 * - every challenge is random (the library's 32 bytes), kept in Redis under its own value with what
 *   it is for (registration by a user, a second factor for a user, a step-up, a passwordless
 *   sign-in), for 5 minutes, and taken with GETDEL: a challenge is answered once, never twice;
 * - the response's clientDataJSON names the challenge; one not found, or found for another
 *   purpose or user, is `webauthn_challenge_invalid` (nothing else is checked);
 * - origins (WEBAUTHN_ORIGINS) and the RP id (WEBAUTHN_RP_ID) are checked by the library, so is
 *   the signature, user presence and the signature counter;
 * - registration asks for a discoverable credential (resident key required) and prefers user
 *   verification; attestation `none` (no attestation statement is trusted or kept);
 * - the user handle of a credential is the user id's bytes: a passwordless assertion names its user.
 */
import type { Redis } from 'ioredis';
import {
  generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse,
  type AuthenticationResponseJSON, type PublicKeyCredentialCreationOptionsJSON, type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Config } from '../../config';
import { domainError } from '../../errors';
import type { PasskeyFactor } from '../../events/mfa';
import type { PasskeyInput } from './decide';

export const CHALLENGE_TTL_SECONDS = 300;

export type ChallengePurpose = 'register' | 'mfa' | 'step_up' | 'passwordless';
interface ChallengeRecord {
  purpose: ChallengePurpose;
  userId?: string;
}

export interface WebAuthnDeps {
  config: Config;
  redis: Redis;
  prefix: string;
}

export const challengeInvalid = () => domainError('webauthn_challenge_invalid', 'The passkey ceremony expired or was already used; start again.');
export const verificationFailed = () => domainError('webauthn_verification_failed', 'The authenticator response did not verify.');

export function webauthnOrigins(config: Pick<Config, 'WEBAUTHN_ORIGINS' | 'PUBLIC_URL' | 'PORT'>): string[] {
  if (config.WEBAUTHN_ORIGINS) return config.WEBAUTHN_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean);
  return [config.PUBLIC_URL ? new URL(config.PUBLIC_URL).origin : `http://localhost:${config.PORT}`];
}

const challengeKey = (prefix: string, challenge: string) => `${prefix}webauthn:${challenge}`;

async function saveChallenge(deps: WebAuthnDeps, challenge: string, record: ChallengeRecord): Promise<void> {
  await deps.redis.set(challengeKey(deps.prefix, challenge), JSON.stringify(record), 'EX', CHALLENGE_TTL_SECONDS);
}

/** The challenge a response answers, taken (single use); refused unless it was issued for this purpose and user. */
async function takeChallenge(deps: WebAuthnDeps, clientDataJSON: unknown, purpose: ChallengePurpose, userId?: string): Promise<string> {
  let challenge: unknown;
  try {
    challenge = (JSON.parse(Buffer.from(String(clientDataJSON), 'base64url').toString('utf8')) as { challenge?: unknown }).challenge;
  } catch {
    throw challengeInvalid();
  }
  if (typeof challenge !== 'string' || !/^[A-Za-z0-9_-]{16,128}$/.test(challenge)) throw challengeInvalid();
  const raw = await deps.redis.getdel(challengeKey(deps.prefix, challenge));
  if (!raw) throw challengeInvalid();
  const record = JSON.parse(raw) as ChallengeRecord;
  if (record.purpose !== purpose || (userId !== undefined && record.userId !== userId)) throw challengeInvalid();
  return challenge;
}

export async function registrationOptions(
  deps: WebAuthnDeps, user: { userId: string; email: string; name: string }, existing: readonly PasskeyFactor[],
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const options = await generateRegistrationOptions({
    rpName: deps.config.WEBAUTHN_RP_NAME,
    rpID: deps.config.WEBAUTHN_RP_ID,
    userName: user.email,
    userDisplayName: user.name,
    userID: new Uint8Array(Buffer.from(user.userId, 'utf8')),
    attestationType: 'none',
    timeout: CHALLENGE_TTL_SECONDS * 1000,
    excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: p.transports })),
    authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'preferred' },
  });
  await saveChallenge(deps, options.challenge, { purpose: 'register', userId: user.userId });
  return options;
}

/** Verifies a registration response; the passkey to store (name and id given by the caller). */
export async function verifyRegistration(
  deps: WebAuthnDeps, userId: string, response: RegistrationResponseJSON,
): Promise<Omit<PasskeyInput, 'factorId' | 'name'>> {
  const challenge = await takeChallenge(deps, response?.response?.clientDataJSON, 'register', userId);
  let result;
  try {
    result = await verifyRegistrationResponse({
      response, expectedChallenge: challenge, expectedOrigin: webauthnOrigins(deps.config), expectedRPID: deps.config.WEBAUTHN_RP_ID,
      requireUserVerification: false,
    });
  } catch {
    throw verificationFailed();
  }
  if (!result.verified) throw verificationFailed();
  const info = result.registrationInfo;
  return {
    credentialId: info.credential.id,
    publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
    counter: info.credential.counter,
    transports: (info.credential.transports ?? []).slice(0, 10),
    deviceType: info.credentialDeviceType,
    backedUp: info.credentialBackedUp,
    userVerified: info.userVerified,
    aaguid: info.aaguid,
  };
}

export async function authenticationOptions(
  deps: WebAuthnDeps, purpose: Exclude<ChallengePurpose, 'register'>, user?: { userId: string; passkeys: readonly PasskeyFactor[] },
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const options = await generateAuthenticationOptions({
    rpID: deps.config.WEBAUTHN_RP_ID,
    timeout: CHALLENGE_TTL_SECONDS * 1000,
    userVerification: purpose === 'passwordless' ? 'required' : 'preferred',
    ...(user ? { allowCredentials: user.passkeys.map((p) => ({ id: p.credentialId, transports: p.transports })) } : {}),
  });
  await saveChallenge(deps, options.challenge, { purpose, ...(user ? { userId: user.userId } : {}) });
  return options;
}

/** The user a passwordless assertion names (its user handle), or undefined. */
export function userHandleOf(response: AuthenticationResponseJSON): string | undefined {
  const h = response?.response?.userHandle;
  if (typeof h !== 'string' || !/^[A-Za-z0-9_-]{1,200}$/.test(h)) return undefined;
  const id = Buffer.from(h, 'base64url').toString('utf8');
  return /^[0-9a-f-]{36}$/.test(id) ? id : undefined;
}

export interface AssertionOutcome {
  factorId: string | undefined;
  counter: number;
  backedUp: boolean;
  userVerified: boolean;
}

/**
 * Verifies an assertion against the user's passkeys. The challenge is taken first (so a response is
 * answered once); a response that does not verify gives `factorId: undefined` (the decider counts
 * it as a failed second factor).
 */
export async function verifyAssertion(
  deps: WebAuthnDeps, purpose: Exclude<ChallengePurpose, 'register'>, userId: string | undefined,
  passkeys: readonly PasskeyFactor[], response: AuthenticationResponseJSON,
): Promise<AssertionOutcome> {
  const challenge = await takeChallenge(deps, response?.response?.clientDataJSON, purpose, purpose === 'passwordless' ? undefined : userId);
  const failed: AssertionOutcome = { factorId: undefined, counter: 0, backedUp: false, userVerified: false };
  const passkey = passkeys.find((p) => p.credentialId === response?.id);
  if (!passkey) return failed;
  try {
    const result = await verifyAuthenticationResponse({
      response, expectedChallenge: challenge, expectedOrigin: webauthnOrigins(deps.config), expectedRPID: deps.config.WEBAUTHN_RP_ID,
      credential: { id: passkey.credentialId, publicKey: new Uint8Array(Buffer.from(passkey.publicKey, 'base64url')), counter: passkey.counter, transports: passkey.transports as never },
      requireUserVerification: purpose === 'passwordless',
    });
    if (!result.verified) return failed;
    const info = result.authenticationInfo;
    return { factorId: passkey.id, counter: info.newCounter, backedUp: info.credentialBackedUp, userVerified: info.userVerified };
  } catch {
    return failed;
  }
}
