import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { bootstrapAdminFromConfig, ensureAdmin, ensureFirstAdmin, grantAdminByEmail } from '../../src/commands/users/bootstrap';
import { runStartup } from '../../src/compose';
import { bearer, login, strongPassword } from '../helpers/users';
import { startProjector, type ProjectorHandle } from '../../src/projections/runtime';

const run = promisify(execFile);

describe('the first admin', () => {
  const email = `root-${Date.now()}@example.com`;
  const password = strongPassword();
  let t: Awaited<ReturnType<typeof testApp>>;
  // As in production: the projector runs, so the admin's first query after its login
  // (read-your-writes) finds the users read model past it.
  let projector: ProjectorHandle | undefined;
  beforeAll(async () => {
    t = await testApp('bootstrap', { ADMIN_EMAIL: email, ADMIN_PASSWORD: password });
    projector = startProjector(t.services);
  });
  afterAll(async () => {
    await projector?.stop();
    await t?.close();
  });

  it('is created at start from ADMIN_EMAIL / ADMIN_PASSWORD and can use admin routes', async () => {
    const token = await login(t.app, email, password);
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/users', headers: bearer(token) });
    expect(res.statusCode).toBe(200);
  });

  it('is idempotent: starting again creates nothing new', async () => {
    const before = await t.services.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM events');
    await runStartup(t.services);
    await runStartup(t.services);
    const after = await t.services.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM events');
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
    const again = await ensureAdmin(t.services, { email: email.toUpperCase(), password: 'irrelevant' }, { actorUserId: 'test' });
    expect(again).toMatchObject({ created: false, admin: true });
  });

  it('the start task never promotes an existing account (issue 20 §1); grant-admin does, without touching its password', async () => {
    const other = `promote-${Date.now()}@example.com`;
    const pw = strongPassword();
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email: other, password: pw, name: 'P' } })).statusCode).toBe(201);
    expect(await ensureFirstAdmin(t.services, { email: other, password: strongPassword() })).toMatchObject({ outcome: 'admin_exists' });
    expect(await ensureAdmin(t.services, { email: other, password: strongPassword() }, { actorUserId: 'test' })).toMatchObject({ created: false, admin: false });
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/users', headers: bearer(await login(t.app, other, pw)) })).statusCode).toBe(403);
    expect(await grantAdminByEmail(t.services, other, 'test')).toMatchObject({ granted: true });
    const token = await login(t.app, other, pw);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/users', headers: bearer(token) })).statusCode).toBe(200);
  });

  it('refuses a weak ADMIN_PASSWORD at start, and creates nothing without both settings', async () => {
    const withConfig = (c: Partial<typeof t.services.config>) => ({ ...t.services, config: { ...t.services.config, ...c } });
    await expect(bootstrapAdminFromConfig(withConfig({ ADMIN_EMAIL: 'weak@example.com', ADMIN_PASSWORD: 'password1' }))).rejects.toThrow(/password policy/);
    const count = async () => (await t.services.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM events')).rows[0]!.n;
    const before = await count();
    await bootstrapAdminFromConfig(withConfig({ ADMIN_EMAIL: undefined, ADMIN_PASSWORD: undefined }));
    await bootstrapAdminFromConfig(withConfig({ ADMIN_EMAIL: 'half@example.com', ADMIN_PASSWORD: undefined }));
    expect(await count()).toBe(before);
  });

  it('`npm run cli -- create-admin` creates (then finds) an admin', async () => {
    const cliEmail = `cli-${Date.now()}@example.com`;
    const cliPassword = strongPassword();
    const env = {
      ...process.env, DATABASE_URL: t.services.config.DATABASE_URL, REDIS_URL: t.services.config.REDIS_URL, REDIS_PREFIX: t.services.prefix,
      PASSWORD_PEPPER: t.services.config.PASSWORD_PEPPER, BCRYPT_COST: '4', LOG_LEVEL: 'silent', ADMIN_PASSWORD: cliPassword, DATA_DIR: t.services.config.DATA_DIR,
    };
    const first = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'create-admin', '--email', cliEmail], { env, timeout: 60_000 });
    expect(first.stdout).toContain(`created admin ${cliEmail}`);
    const second = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'create-admin', '--email', cliEmail], { env, timeout: 60_000 });
    expect(second.stdout).toContain('is already an admin');
    const token = await login(t.app, cliEmail, cliPassword);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/users', headers: bearer(token) })).statusCode).toBe(200);
  }, 120_000);
});
