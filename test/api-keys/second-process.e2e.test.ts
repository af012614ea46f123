/**
 * Revocation seen by a real second API process (its own memory caches and Redis subscriptions),
 * started with `node --import tsx src/main.ts` against the same database and Redis prefix.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { bearer, newAdmin, newUser, type TestUser } from '../helpers/users';
import { freePort } from '../server/helpers';


describe('a second API process', () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  let child: ChildProcess;
  let base: string;
  let admin: TestUser;
  let user: TestUser;
  let output = '';

  beforeAll(async () => {
    t = await testApp('access-2proc');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const c = t.services.config;
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: {
        ...process.env, NODE_ENV: 'test', ROLES: 'api', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn',
        DATABASE_URL: c.DATABASE_URL, REDIS_URL: c.REDIS_URL, REDIS_PREFIX: t.services.prefix, DATA_DIR: c.DATA_DIR,
        PASSWORD_PEPPER: c.PASSWORD_PEPPER, BCRYPT_COST: '4', RATE_LIMIT_PER_MINUTE: '0', RATE_LIMIT_AUTH_PER_MINUTE: '0', COOKIE_SECURE: 'false',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    admin = await newAdmin(t.app, t.services);
    user = await newUser(t.app, 'proc');
    await t.app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(admin.token), payload: { name: 'reports' } });
    const started = Date.now();
    for (;;) {
      const ok = await fetch(`${base}/health`).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() - started > 60_000 || child.exitCode !== null) throw new Error(`second process did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 90_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await t?.close();
  });

  const remoteAccess = (token: string, key: string) =>
    fetch(`${base}/feature/access/reports`, { method: 'POST', headers: { 'access-token': token, 'api-key': key } });

  async function statusWithin(ms: number, token: string, key: string, until: number): Promise<{ status: number; elapsed: number }> {
    const started = Date.now();
    let status = 0;
    while (Date.now() - started < ms) {
      status = (await remoteAccess(token, key)).status;
      if (status === until) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    return { status, elapsed: Date.now() - started };
  }

  it('sees a key revoked here within 1 s', async () => {
    const key = (await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(user.token), payload: { name: 'p', features: '*' } })).json();
    for (let i = 0; i < 3; i++) expect((await remoteAccess(user.token, key.api_key)).status).toBe(200);
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${key.id}`, headers: bearer(user.token) })).statusCode).toBe(204);
    const r = await statusWithin(1000, user.token, key.api_key, 401);
    expect(r.status).toBe(401);
    expect(r.elapsed).toBeLessThan(1000);
  });

  it('sees a user disabled here within 1 s (token and keys)', async () => {
    const u = await newUser(t.app, 'proc2');
    const key = (await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(u.token), payload: { name: 'p', features: '*' } })).json();
    for (let i = 0; i < 3; i++) expect((await remoteAccess(u.token, key.api_key)).status).toBe(200);
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/users/${u.id}/disable`, headers: bearer(admin.token) })).statusCode).toBe(200);
    const r = await statusWithin(1000, u.token, key.api_key, 401);
    expect(r.status).toBe(401);
  });
});
