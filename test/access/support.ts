/**
 * Helpers of the access and users tests: real signup / login through the HTTP routes, admins
 * through the real role command, and the projections these tests read.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import type { Services } from '../../src/services';
import { grantRole } from '../../src/commands/users/handlers';
import { startProjector, type ProjectorHandle } from '../../src/projections/runtime';
import { projections } from '../../src/projections/index';

export interface TestUser {
  id: string;
  email: string;
  password: string;
  token: string;
}

export const strongPassword = () => `Plum-${randomBytes(6).toString('hex')}-Harbour!`;

export async function login(app: FastifyInstance, email: string, password: string): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().access_token as string;
}

export async function newUser(app: FastifyInstance, label = 'user'): Promise<TestUser> {
  const email = `${label}-${randomBytes(4).toString('hex')}@example.com`;
  const password = strongPassword();
  const res = await app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email, password, name: `${label} person` } });
  expect(res.statusCode, res.body).toBe(201);
  const id = res.json().user.id as string;
  return { id, email, password, token: await login(app, email, password) };
}

/** A user with the admin role, logged in after the grant (roles travel in the access token). */
export async function newAdmin(app: FastifyInstance, services: Services): Promise<TestUser> {
  const u = await newUser(app, 'admin');
  await grantRole(services, u.id, 'admin', { actorUserId: 'test' });
  return { ...u, token: await login(app, u.email, u.password) };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Runs every projection (read models) for the duration of a test file. */
export function runProjections(services: Services): ProjectorHandle {
  return startProjector(services, projections);
}

/** Polls until `fn` returns a truthy value (read models are eventually consistent). */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs = 10_000): Promise<NonNullable<Exclude<T, false | 0 | ''>>> {
  const started = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<Exclude<T, false | 0 | ''>>;
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
