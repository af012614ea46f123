/**
 * Helpers of the API-key, users and HTTP tests, on top of the identity helpers (test/helpers/auth.ts):
 * users as {id, email, password, token}, admins through this stream's role command, projections.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../src/services';
import { grantRole } from '../../src/commands/users/handlers';
import { bearer, login as identityLogin, signupAndLogin, uniqueEmail } from './auth';
import { startProjector, type ProjectorHandle } from '../../src/projections/runtime';
import { projectionsFor } from '../../src/projections/index';
import { projectionPosition } from '../../src/projections/engine';
import { comparePositions } from '../../src/events/store';

export interface TestUser {
  id: string;
  email: string;
  password: string;
  token: string;
}

export const strongPassword = () => `Plum-${randomBytes(6).toString('hex')}-Harbour!`;

export async function login(app: FastifyInstance, email: string, password: string): Promise<string> {
  return (await identityLogin(app, { email, password })).accessToken;
}

export async function newUser(app: FastifyInstance, label = 'user'): Promise<TestUser> {
  const password = strongPassword();
  const u = await signupAndLogin(app, { email: uniqueEmail(label), password, name: `${label} person` });
  return { id: u.userId, email: u.email, password, token: u.accessToken };
}

/** A user with the admin role (granted by this stream's role command), logged in after the grant. */
export async function newAdmin(app: FastifyInstance, services: Services): Promise<TestUser> {
  const u = await newUser(app, 'admin');
  await grantRole(services, u.id, 'admin', { actorUserId: 'test' });
  return { ...u, token: await login(app, u.email, u.password) };
}

export { bearer };

/** Runs every projection (read models) for the duration of a test file. */
export function runProjections(services: Services): ProjectorHandle {
  return startProjector(services, projectionsFor(services.config));
}

/**
 * Waits until every projection has passed the log's head as it is now. A test on a long-lived
 * server (EventStoreDB: the log keeps every earlier run's events, while each test's read models
 * start empty) calls it after starting the projector, so its first read-your-writes wait is not
 * the whole catch-up. Throws when the projections are still behind after `timeoutMs`.
 */
export async function caughtUp(services: Services, timeoutMs = 120_000): Promise<void> {
  const head = await services.store.headPosition();
  const list = projectionsFor(services.config);
  const deps = { pool: services.pool, redis: services.redis, redisPrefix: services.prefix };
  await eventually(async () => {
    const positions = await Promise.all(list.map((p) => projectionPosition(deps, p)));
    return positions.every((pos) => comparePositions(pos, head) >= 0);
  }, timeoutMs);
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
