/**
 * MFA command routes (issue 17): enrol TOTP and passkeys, recovery codes, remove a factor, the
 * second step of a login (`/auth/mfa/verify`), passwordless passkey sign-in (`/auth/passkeys/*`),
 * step-up, and the admin reset. Rules:
 * - enrolment routes take the caller's access token, or an `enrol` mfa_token (MFA_REQUIRED_FOR_ROLES)
 *   in the body: then finishing the enrolment starts the session the login was waiting for;
 * - removing a factor and new recovery codes need a step-up (STEP_UP_MAX_AGE_SECONDS);
 * - the second-factor routes are rate-limited per IP like the password login
 *   (RATE_LIMIT_AUTH_PER_MINUTE), and per account by the second-factor lockout (decide.ts);
 * - answers carry `cache-control: no-store` (codes, tokens, secrets).
 */
import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { text } from '../../http/input';
import { metadataFrom } from '../../http/metadata';
import { problems } from '../../http/schemas';
import { MFA_PENDING_COOKIE, mfaPendingCookieOptions, refreshCookieOptions } from '../../http/cookies';
import { cookieCredential } from '../../http/request-origin';
import { mfaMethods } from '../../events/mfa';
import { loadMfa } from './stream';
import { invalidMfaToken, verifyMfaToken, type MfaTokenClaims } from '../../credentials/mfa-tokens';
import type { LoginResult } from '../identity/service';
import { AUTH_PREFIX, mfaRequiredResponse, REFRESH_COOKIE_NAME } from '../identity/routes';
import {
  completeMfaLogin, confirmTotp, finishEnrolmentLogin, generateRecoveryCodes, openMfaToken, passkeyOptionsFor,
  passkeyRegistrationOptions, passwordlessLogin, passwordlessOptions, registerPasskey, removeFactor, requireStepUp,
  resetFactors, startTotp, stepUp, type FactorInput, type MfaDeps,
} from './service';

const b64url = (max: number) => z.string().max(max).regex(/^[A-Za-z0-9_-]*$/, 'base64url');
const extensions = z.record(z.string().max(64), z.unknown()).optional().default({});
const attachment = z.enum(['platform', 'cross-platform']).optional();
export const registrationResponseSchema = z.object({
  id: b64url(1400).min(1),
  rawId: b64url(1400).min(1),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: b64url(8192),
    attestationObject: b64url(32_768),
    transports: z.array(text(32)).max(10).optional(),
    authenticatorData: b64url(32_768).optional(),
    publicKey: b64url(8192).optional(),
    publicKeyAlgorithm: z.number().int().optional(),
  }),
  clientExtensionResults: extensions,
  authenticatorAttachment: attachment,
}).describe('The PublicKeyCredential of navigator.credentials.create(), as JSON (toJSON() / @simplewebauthn/browser)');
export const authenticationResponseSchema = z.object({
  id: b64url(1400).min(1),
  rawId: b64url(1400).min(1),
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: b64url(8192),
    authenticatorData: b64url(32_768),
    signature: b64url(1024),
    userHandle: b64url(512).optional(),
  }),
  clientExtensionResults: extensions,
  authenticatorAttachment: attachment,
}).describe('The PublicKeyCredential of navigator.credentials.get(), as JSON');

const method = z.enum(['totp', 'passkey', 'recovery_code']);
const code = text(64).min(1).describe('TOTP code (6 digits) or recovery code');
const mfaToken = text(4096).min(1).describe('The mfa_token the password step answered with');
const factorCheck = {
  method,
  code: code.optional(),
  assertion: authenticationResponseSchema.optional(),
};
const needsInput = (b: { method: string; code?: string; assertion?: unknown }) => (b.method === 'passkey' ? b.assertion !== undefined : b.code !== undefined);
const inputOf = (b: { method: 'totp' | 'passkey' | 'recovery_code'; code?: string; assertion?: unknown }): FactorInput =>
  (b.method === 'passkey' ? { method: 'passkey', assertion: b.assertion as AuthenticationResponseJSON } : { method: b.method, code: b.code! });

const sessionResponse = z.object({
  access_token: z.string(),
  token_type: z.literal('bearer'),
  expires_in: z.number().int(),
  session_id: z.string(),
  refresh_token: z.string().optional(),
  user: z.object({ id: z.string(), email: z.string(), name: z.string(), roles: z.array(z.string()), email_verified: z.boolean() }),
});
const options = z.object({ challenge: z.string() }).loose().describe('PublicKeyCredential{Creation,Request}OptionsJSON for @simplewebauthn/browser');
const recoveryCodes = z.array(z.string()).optional().describe('Shown once: the first factor comes with 10 recovery codes');
const enrolled = z.object({ factor_id: z.string(), recovery_codes: recoveryCodes, session: sessionResponse.optional().describe('With an enrol mfa_token: the session of the login') });

const clientOf = (request: FastifyRequest) => {
  const ua = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof ua === 'string' ? ua.slice(0, 512) : undefined };
};

export async function mfaCommandRoutes(app: FastifyInstance): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { config } = app;
  const deps: MfaDeps = {
    config, store: app.eventStore, redis: app.redis, prefix: app.redisPrefix, inline: app.inlineProjections, pool: app.pg,
    keys: app.keys, gate: app.sessionGate, log: app.log, dataKeys: app.dataKeys,
  };
  const authLimit: FastifyContextConfig = config.RATE_LIMIT_AUTH_PER_MINUTE > 0
    ? { rateLimit: { max: config.RATE_LIMIT_AUTH_PER_MINUTE, timeWindow: '1 minute' } }
    : { rateLimit: false };
  const cookieOptions = refreshCookieOptions(config);

  const sessionBody = (reply: FastifyReply, result: LoginResult, inBody = false) => {
    if (config.REFRESH_COOKIE) reply.setCookie(REFRESH_COOKIE_NAME, result.refreshToken, { ...cookieOptions, maxAge: config.REFRESH_TOKEN_TTL });
    return {
      access_token: result.accessToken.token, token_type: 'bearer' as const, expires_in: result.accessToken.expiresIn, session_id: result.sessionId,
      user: result.user, ...(inBody || !config.REFRESH_COOKIE ? { refresh_token: result.refreshToken } : {}),
    };
  };

  /** The caller of an enrolment route: an `enrol` mfa_token in the body, else the access token. */
  const callerOf = async (request: FastifyRequest, reply: FastifyReply, token: string | undefined): Promise<{ userId: string; enrol?: MfaTokenClaims }> => {
    if (token !== undefined) {
      const enrol = await openMfaToken(deps, token, 'enrol');
      return { userId: enrol.userId, enrol };
    }
    await app.authenticate(request, reply);
    return { userId: request.auth!.userId };
  };
  const enrolSecurity: { [k: string]: string[] }[] = [{ bearer: [] }, {}];

  // ---------------------------------------------------------------- TOTP
  r.post(`${AUTH_PREFIX}/mfa/totp`, {
    schema: {
      tags: ['mfa'], summary: 'Start enrolling an authenticator app (TOTP)',
      description: 'Answers the secret, its otpauth:// URI and a QR code (SVG, made here). Confirm with a first code. Bearer token, or an enrol mfa_token.',
      security: enrolSecurity,
      body: z.object({ name: text(100).trim().min(1).optional(), mfa_token: mfaToken.optional() }).nullish(),
      response: { 201: z.object({ factor_id: z.string(), secret: z.string(), otpauth_uri: z.string(), qr_svg: z.string() }), ...problems(400, 401, 409) },
    },
  }, async (request, reply) => {
    const caller = await callerOf(request, reply, request.body?.mfa_token);
    const t = await startTotp(deps, caller.userId, request.body?.name, metadataFrom(request, { actorUserId: caller.userId }));
    reply.header('cache-control', 'no-store');
    return reply.code(201).send({ factor_id: t.factorId, secret: t.secret, otpauth_uri: t.uri, qr_svg: t.qrSvg });
  });

  r.post(`${AUTH_PREFIX}/mfa/totp/confirm`, {
    schema: {
      tags: ['mfa'], summary: 'Confirm an authenticator app with its first code',
      security: enrolSecurity,
      body: z.object({ factor_id: z.uuid(), code, mfa_token: mfaToken.optional(), return_refresh_in_body: z.boolean().optional() }),
      response: { 200: enrolled, ...problems(400, 401, 404, 409) },
    },
  }, async (request, reply) => {
    const caller = await callerOf(request, reply, request.body.mfa_token);
    const meta = metadataFrom(request, { actorUserId: caller.userId });
    const done = await confirmTotp(deps, caller.userId, request.body.factor_id, request.body.code, meta);
    reply.header('cache-control', 'no-store');
    const session = caller.enrol ? sessionBody(reply, await finishEnrolmentLogin(deps, caller.enrol, 'totp', clientOf(request), meta), request.body.return_refresh_in_body) : undefined;
    return { factor_id: done.factorId, recovery_codes: done.recoveryCodes, session };
  });

  // ---------------------------------------------------------------- passkey registration
  r.post(`${AUTH_PREFIX}/mfa/passkeys/registration-options`, {
    schema: {
      tags: ['mfa'], summary: 'Options to register a passkey (navigator.credentials.create)',
      description: 'A single-use challenge, valid 5 minutes; discoverable credential required, user verification preferred.',
      security: enrolSecurity,
      body: z.object({ mfa_token: mfaToken.optional() }).nullish(),
      response: { 200: options, ...problems(400, 401) },
    },
  }, async (request, reply) => {
    const caller = await callerOf(request, reply, request.body?.mfa_token);
    reply.header('cache-control', 'no-store');
    return { ...(await passkeyRegistrationOptions(deps, caller.userId)) };
  });

  r.post(`${AUTH_PREFIX}/mfa/passkeys`, {
    schema: {
      tags: ['mfa'], summary: 'Register a passkey (the response to the registration options)',
      security: enrolSecurity,
      body: z.object({ name: text(100).trim().min(1).optional(), response: registrationResponseSchema, mfa_token: mfaToken.optional(), return_refresh_in_body: z.boolean().optional() }),
      response: { 201: enrolled, ...problems(400, 401, 409) },
    },
  }, async (request, reply) => {
    const caller = await callerOf(request, reply, request.body.mfa_token);
    const meta = metadataFrom(request, { actorUserId: caller.userId });
    const done = await registerPasskey(deps, caller.userId, request.body.name, request.body.response as unknown as RegistrationResponseJSON, meta);
    reply.header('cache-control', 'no-store');
    const session = caller.enrol ? sessionBody(reply, await finishEnrolmentLogin(deps, caller.enrol, 'passkey', clientOf(request), meta), request.body.return_refresh_in_body) : undefined;
    return reply.code(201).send({ factor_id: done.factorId, recovery_codes: done.recoveryCodes, session });
  });

  // ---------------------------------------------------------------- recovery codes, removal
  r.post(`${AUTH_PREFIX}/mfa/recovery-codes`, {
    schema: {
      tags: ['mfa'], summary: 'New recovery codes (the old set stops working); needs a step-up',
      security: [{ bearer: [] }],
      response: { 200: z.object({ recovery_codes: z.array(z.string()) }), ...problems(401, 409) },
    },
    preHandler: app.authenticate,
  }, async (request, reply) => {
    const auth = request.auth!;
    await requireStepUp(deps, auth);
    reply.header('cache-control', 'no-store');
    return { recovery_codes: await generateRecoveryCodes(deps, auth.userId, metadataFrom(request)) };
  });

  r.delete(`${AUTH_PREFIX}/mfa/factors/:id`, {
    schema: {
      tags: ['mfa'], summary: 'Remove one of your factors (TOTP, a passkey, the recovery codes); needs a step-up',
      security: [{ bearer: [] }],
      params: z.object({ id: z.uuid() }),
      response: { 204: z.null().describe('Removed'), ...problems(400, 401, 404) },
    },
    preHandler: app.authenticate,
  }, async (request, reply) => {
    await removeFactor(deps, request.auth!, request.params.id, metadataFrom(request));
    return reply.code(204).send(null);
  });

  // ---------------------------------------------------------------- second step, step-up
  r.post(`${AUTH_PREFIX}/mfa/passkey-options`, {
    schema: {
      tags: ['mfa'], summary: 'Options to prove a passkey (navigator.credentials.get): with an mfa_token (login) or a bearer token (step-up)',
      security: enrolSecurity,
      body: z.object({ mfa_token: mfaToken.optional() }).nullish(),
      response: { 200: options, ...problems(400, 401) },
    },
    config: authLimit,
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const token = request.body?.mfa_token;
    if (token !== undefined) return { ...(await passkeyOptionsFor(deps, (await openMfaToken(deps, token, 'login')).userId, 'mfa')) };
    await app.authenticate(request, reply);
    return { ...(await passkeyOptionsFor(deps, request.auth!.userId, 'step_up')) };
  });

  // A social sign-in waiting for its second factor (src/commands/oauth/second-factor.ts): the
  // console takes the mfa_token from its HttpOnly cookie once, then finishes with /mfa/verify.
  r.post(`${AUTH_PREFIX}/mfa/pending`, {
    schema: {
      tags: ['mfa'], summary: 'The mfa_token of a social sign-in waiting for its second factor (from its HttpOnly cookie, once)',
      description: 'Cookie-authenticated: the request must come from the API\'s own origin or CORS_ORIGINS. 401 mfa_token_invalid without a valid pending sign-in.',
      response: { 200: mfaRequiredResponse, ...problems(401, 403, 429) },
    },
    config: authLimit,
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const token = cookieCredential(request, MFA_PENDING_COOKIE);
    reply.clearCookie(MFA_PENDING_COOKIE, mfaPendingCookieOptions(config));
    if (!token) throw invalidMfaToken();
    const claims = await verifyMfaToken(deps.keys, config, token);
    const { state } = await loadMfa(deps.store, claims.userId);
    const enrol = claims.purpose === 'enrol';
    return {
      mfa_required: true as const, mfa_token: token, expires_in: Math.max(0, claims.expiresAt - Math.floor(Date.now() / 1000)),
      methods: enrol ? ['totp' as const, 'passkey' as const] : mfaMethods(state), mfa_enrolment_required: enrol,
    };
  });

  r.post(`${AUTH_PREFIX}/mfa/verify`, {
    schema: {
      tags: ['mfa'], summary: 'Second step of a login: a TOTP code, a passkey assertion or a recovery code → session',
      description: 'The mfa_token finishes one login at most and allows 5 checks. Every refusal is 401 mfa_code_invalid; ' +
        'LOCKOUT_THRESHOLD failures lock second-factor checks for LOCKOUT_MINUTES (429 mfa_locked).',
      body: z.object({ mfa_token: mfaToken, ...factorCheck, return_refresh_in_body: z.boolean().optional() }).refine(needsInput, { message: 'code (totp, recovery_code) or assertion (passkey) is required', path: ['code'] }),
      response: { 200: sessionResponse, ...problems(400, 401, 403, 429) },
    },
    config: authLimit,
  }, async (request, reply) => {
    const result = await completeMfaLogin(deps, request.body.mfa_token, inputOf(request.body), clientOf(request), metadataFrom(request));
    reply.header('cache-control', 'no-store');
    return sessionBody(reply, result, request.body.return_refresh_in_body);
  });

  r.post(`${AUTH_PREFIX}/mfa/step-up`, {
    schema: {
      tags: ['mfa'], summary: 'Prove a second factor again on this session (for sensitive operations)',
      description: `Valid for STEP_UP_MAX_AGE_SECONDS (${config.STEP_UP_MAX_AGE_SECONDS}s) on this session.`,
      security: [{ bearer: [] }],
      body: z.object(factorCheck).refine(needsInput, { message: 'code (totp, recovery_code) or assertion (passkey) is required', path: ['code'] }),
      response: { 204: z.null().describe('Stepped up'), ...problems(400, 401, 409, 429) },
    },
    preHandler: app.authenticate,
    config: authLimit,
  }, async (request, reply) => {
    await stepUp(deps, request.auth!, inputOf(request.body), clientOf(request), metadataFrom(request));
    return reply.code(204).send(null);
  });

  // ---------------------------------------------------------------- passwordless
  r.post(`${AUTH_PREFIX}/passkeys/options`, {
    schema: {
      tags: ['mfa'], summary: 'Passwordless sign-in, step 1: options for navigator.credentials.get (any discoverable passkey)',
      response: { 200: options, ...problems(429) },
    },
    config: authLimit,
  }, async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return { ...(await passwordlessOptions(deps)) };
  });

  r.post(`${AUTH_PREFIX}/passkeys/verify`, {
    schema: {
      tags: ['mfa'], summary: 'Passwordless sign-in, step 2: the assertion → session (user verification required)',
      body: z.object({ assertion: authenticationResponseSchema, device_name: text(200).optional(), return_refresh_in_body: z.boolean().optional() }),
      response: { 200: sessionResponse, ...problems(400, 401, 403, 429) },
    },
    config: authLimit,
  }, async (request, reply) => {
    const result = await passwordlessLogin(deps, request.body.assertion as unknown as AuthenticationResponseJSON, clientOf(request), metadataFrom(request));
    reply.header('cache-control', 'no-store');
    return sessionBody(reply, result, request.body.return_refresh_in_body);
  });

  // ---------------------------------------------------------------- admin
  r.post('/api/v1/users/:id/mfa/reset', {
    schema: {
      tags: ['mfa'], summary: 'Admin: remove every second factor of a user (the user is mailed)',
      security: [{ bearer: [] }],
      params: z.object({ id: z.uuid() }),
      response: { 204: z.null().describe('Reset (also when there was nothing to reset)'), ...problems(400, 401, 403, 404) },
    },
    preHandler: app.requireAdmin,
  }, async (request, reply) => {
    await requireStepUp(deps, request.auth!); // the admin's own second factor, when it has one
    await resetFactors(deps, request.params.id, request.auth!.userId, metadataFrom(request));
    return reply.code(204).send(null);
  });
}
