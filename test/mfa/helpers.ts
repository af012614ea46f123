/** MFA test helpers: enrol TOTP / a passkey through the real routes, current codes, the MFA login. */
import type { FastifyInstance } from 'fastify';
import { generate } from 'otplib';
import { expect } from 'vitest';
import { bearer } from '../helpers/auth';
import { SoftAuthenticator } from './authenticator';

export const ORIGIN = 'http://localhost:8000';
export const MFA_ENV = { WEBAUTHN_ORIGINS: ORIGIN, WEBAUTHN_RP_ID: 'localhost' };

/** The code of the step `offsetSteps` away from now (the window accepts -1, 0, +1). */
export const totpCode = (secret: string, offsetSteps = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + offsetSteps * 30 });

export async function enrolTotp(app: FastifyInstance, accessToken: string): Promise<{ factorId: string; secret: string; recoveryCodes: string[] }> {
  const start = await app.inject({ method: 'POST', url: '/api/v1/auth/mfa/totp', headers: bearer(accessToken), payload: { name: 'phone' } });
  expect(start.statusCode, start.body).toBe(201);
  const { factor_id: factorId, secret } = start.json();
  const confirm = await app.inject({ method: 'POST', url: '/api/v1/auth/mfa/totp/confirm', headers: bearer(accessToken), payload: { factor_id: factorId, code: await totpCode(secret, -1) } });
  expect(confirm.statusCode, confirm.body).toBe(200);
  return { factorId, secret, recoveryCodes: confirm.json().recovery_codes ?? [] };
}

export async function registerPasskey(app: FastifyInstance, accessToken: string, authenticator: SoftAuthenticator, name = 'laptop') {
  const options = await app.inject({ method: 'POST', url: '/api/v1/auth/mfa/passkeys/registration-options', headers: bearer(accessToken) });
  expect(options.statusCode, options.body).toBe(200);
  const response = authenticator.create(options.json());
  const done = await app.inject({ method: 'POST', url: '/api/v1/auth/mfa/passkeys', headers: bearer(accessToken), payload: { name, response } });
  expect(done.statusCode, done.body).toBe(201);
  return done.json() as { factor_id: string; recovery_codes?: string[] };
}

/** The password step; expects the MFA challenge. */
export async function passwordStep(app: FastifyInstance, email: string, password: string) {
  const res = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });
  expect(res.statusCode, res.body).toBe(200);
  const body = res.json();
  expect(body.mfa_required).toBe(true);
  expect(body.access_token).toBeUndefined();
  return body as { mfa_token: string; methods: string[]; mfa_enrolment_required: boolean; expires_in: number };
}

export const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
