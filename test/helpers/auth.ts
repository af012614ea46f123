/**
 * Identity helpers for every stream's tests: sign up / log in / make an admin through the real
 * routes (app.inject). Signatures are stable; add options rather than change them.
 *
 *   const s = await signupAndLogin(app);                 // { accessToken, refreshToken, sessionId, userId, … }
 *   await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(s.accessToken) });
 *   const admin = await adminLogin(app, services);       // a fresh user with the admin role in its token
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { LightMyRequestResponse } from 'fastify';
import { executeUserCommand, type SessionDeps } from '../../src/commands/identity/service';

export const DEFAULT_PASSWORD = 'correct horse battery staple 42';

export function uniqueEmail(label = 'user'): string {
  return `${label}.${randomBytes(6).toString('hex')}@example.test`;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export interface SignedUp {
  userId: string;
  email: string;
  password: string;
  name: string;
  response: LightMyRequestResponse;
}

export interface LoggedIn {
  accessToken: string;
  refreshToken: string;
  sessionId: string;
  userId: string;
  email: string;
  password: string;
  roles: string[];
  /** The Set-Cookie refresh cookie as a `Cookie` header value (`refresh_token=…`), when cookies are on. */
  cookie?: string;
  response: LightMyRequestResponse;
}

/** POST /api/v1/auth/signup; throws unless 201. */
export async function signup(app: FastifyInstance, opts: { email?: string; password?: string; name?: string } = {}): Promise<SignedUp> {
  const email = opts.email ?? uniqueEmail();
  const password = opts.password ?? DEFAULT_PASSWORD;
  const name = opts.name ?? 'Test User';
  const response = await app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email, password, name } });
  if (response.statusCode !== 201) throw new Error(`signup failed: ${response.statusCode} ${response.body}`);
  return { userId: response.json().user.id, email, password, name, response };
}

/** POST /api/v1/auth/login with return_refresh_in_body=true; throws unless 200. */
export async function login(
  app: FastifyInstance,
  opts: { email: string; password?: string; deviceName?: string; userAgent?: string; ip?: string },
): Promise<LoggedIn> {
  const password = opts.password ?? DEFAULT_PASSWORD;
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email: opts.email, password, device_name: opts.deviceName, return_refresh_in_body: true },
    headers: opts.userAgent ? { 'user-agent': opts.userAgent } : {},
    remoteAddress: opts.ip,
  });
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode} ${response.body}`);
  const body = response.json();
  const setCookie = ([] as string[]).concat(response.headers['set-cookie'] ?? []).find((c) => c.startsWith('refresh_token='));
  return {
    accessToken: body.access_token,
    refreshToken: body.refresh_token,
    sessionId: body.session_id,
    userId: body.user.id,
    email: opts.email,
    password,
    roles: body.user.roles,
    cookie: setCookie?.split(';')[0],
    response,
  };
}

export async function signupAndLogin(
  app: FastifyInstance,
  opts: { email?: string; password?: string; name?: string; deviceName?: string } = {},
): Promise<LoggedIn> {
  const u = await signup(app, opts);
  return login(app, { email: u.email, password: u.password, deviceName: opts.deviceName });
}

/** Grants the admin role (RoleGranted on the user stream); it is in the access token from the next login. */
export async function makeAdmin(services: SessionDeps, userId: string): Promise<void> {
  await executeUserCommand(services, userId, { type: 'GrantRole', role: 'admin' }, { actorUserId: 'test' });
}

/** A fresh user, made admin, logged in: its access token carries the admin role. */
export async function adminLogin(app: FastifyInstance, services: SessionDeps, opts: { email?: string; password?: string; name?: string } = {}): Promise<LoggedIn> {
  const u = await signup(app, { name: 'Admin', ...opts });
  await makeAdmin(services, u.userId);
  return login(app, { email: u.email, password: u.password });
}
