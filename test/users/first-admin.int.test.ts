/**
 * Issue 20 §1: privilege through the first-admin settings. ADMIN_EMAIL / ADMIN_PASSWORD create the
 * first admin only when no active admin exists and never promote an account the start task did not
 * create (the address may have been freed and taken by anyone); promotion is the explicit, audited
 * `grant-admin`; an admin cannot remove itself and the last active admin is never removed; the
 * start task never fails because of the state of that address.
 */
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { bootstrapAdminFromConfig } from '../../src/commands/users/bootstrap';
import { reserveEmail } from '../../src/commands/users/email';
import { activeAdminIds } from '../../src/commands/users/admins';
import { streams } from '../../src/events/streams';
import { normaliseEmail } from '../../src/events/user';
import { confirmPendingEmailChange } from '../helpers/email-change';
import { bearer, login, signup, uniqueEmail, makeAdmin, type LoggedIn } from '../helpers/auth';
import { strongPassword } from '../helpers/users';

const run = promisify(execFile);
type T = Awaited<ReturnType<typeof testApp>>;

/** One start of the server's first-admin task with these settings, its log captured. */
async function start(t: T, email: string, password: string) {
  const lines: { level: string; obj: unknown; msg?: string }[] = [];
  const capture = (level: string) => (obj: unknown, msg?: string) => lines.push({ level, obj, msg: typeof obj === 'string' ? obj : msg });
  const log = { ...t.services.log, debug: capture('debug'), info: capture('info'), warn: capture('warn'), error: capture('error') };
  await bootstrapAdminFromConfig({ ...t.services, log, config: { ...t.services.config, ADMIN_EMAIL: email, ADMIN_PASSWORD: password } } as never);
  return lines;
}
const rolesOf = async (t: T, email: string, password = 'correct horse battery staple 42') => (await login(t.app, { email, password })).roles;
const api = (t: T, who: LoggedIn, method: 'DELETE' | 'POST' | 'PATCH', url: string, payload?: object) =>
  t.app.inject({ method, url, headers: bearer(who.accessToken), ...(payload ? { payload } : {}) });

describe('the first admin: only when no admin exists, never someone else’s account', () => {
  let t: T;
  const adminPassword = strongPassword();
  beforeAll(async () => {
    t = await testApp('secb2admin', { EMAIL_CHANGE_CANCEL_TTL: '1' });
  });
  afterAll(async () => t.close());

  it('an address already taken by a signup is not promoted at start; the start goes on and says why', async () => {
    const taken = uniqueEmail('squatter');
    await signup(t.app, { email: taken });
    const log = await start(t, taken, adminPassword);
    expect(await rolesOf(t, taken)).toEqual(['user']);
    expect(log.some((l) => l.level === 'warn' && /NOT promoted/.test(l.msg ?? ''))).toBe(true);
    // the same, spelled differently (case / NFKC variants of the address)
    await start(t, taken.toUpperCase(), adminPassword);
    expect(await rolesOf(t, taken)).toEqual(['user']);
  });

  it('a half-registered address (reserved, no account) does not make the start fail', async () => {
    const half = uniqueEmail('half');
    await reserveEmail(t.services, normaliseEmail(half), randomUUID(), {});
    const log = await start(t, half, adminPassword);
    expect(log.some((l) => l.level === 'warn' && /unfinished registration/.test(l.msg ?? ''))).toBe(true);
  });

  let admin: LoggedIn;
  const adminEmail = uniqueEmail('root');
  it('with no admin, the start creates the first admin', async () => {
    await start(t, adminEmail, adminPassword);
    admin = await login(t.app, { email: adminEmail, password: adminPassword });
    expect(admin.roles).toContain('admin');
  });

  it('a freed ADMIN_EMAIL taken by someone else is not promoted at the next start (e-mail changed)', async () => {
    const moved = await api(t, admin, 'PATCH', `/api/v1/users/${admin.userId}`, { email: uniqueEmail('root-moved') });
    expect(moved.statusCode, moved.body).toBe(200);
    // Pending until confirmed; then the old address is held for a revert until the cancel link expires (1 s here).
    await confirmPendingEmailChange(t.app, t.services, admin.userId);
    await new Promise((r) => setTimeout(r, 1100));
    await signup(t.app, { email: adminEmail }); // the attacker takes the freed address
    const before = (await t.services.store.readAll({ filter: { eventTypes: ['RoleGranted'] } })).length;
    await start(t, adminEmail, adminPassword);
    expect(await rolesOf(t, adminEmail)).toEqual(['user']);
    expect((await t.services.store.readAll({ filter: { eventTypes: ['RoleGranted'] } })).length).toBe(before);
  });

  it('an admin can neither delete, disable nor demote itself', async () => {
    for (const [method, url] of [
      ['DELETE', `/api/v1/users/${admin.userId}`],
      ['POST', `/api/v1/users/${admin.userId}/disable`],
      ['DELETE', `/api/v1/users/${admin.userId}/roles/admin`],
    ] as const) {
      const r = await api(t, admin, method, url);
      expect(r.statusCode, `${method} ${url}: ${r.body}`).toBe(409);
      expect(r.json().code).toBe('cannot_target_self');
    }
    const stream = await t.services.store.readStream(streams.user(admin.userId));
    expect(stream.map((e) => e.type)).not.toContain('UserDeleted');
    expect(stream.map((e) => e.type)).not.toContain('UserDisabled');
  });

  it('two admins removing each other at once (demote, disable, delete) never leave no active admin', async () => {
    for (const [method, suffix] of [['DELETE', '/roles/admin'], ['POST', '/disable'], ['DELETE', '']] as const) {
      const a = await signup(t.app, { name: 'A' });
      const b = await signup(t.app, { name: 'B' });
      await makeAdmin(t.services, a.userId);
      await makeAdmin(t.services, b.userId);
      // make them the only two active admins: the first admin is demoted by one of them
      const la = await login(t.app, { email: a.email });
      const lb = await login(t.app, { email: b.email });
      const others = await t.services.store.readAll({ filter: { eventTypes: ['RoleGranted'] } });
      for (const id of new Set(others.map((e) => (e.data as { userId: string }).userId))) {
        if (id !== a.userId && id !== b.userId) await api(t, la, 'DELETE', `/api/v1/users/${id}/roles/admin`);
      }
      const [ra, rb] = await Promise.all([api(t, la, method, `/api/v1/users/${b.userId}${suffix}`), api(t, lb, method, `/api/v1/users/${a.userId}${suffix}`)]);
      const ok = [ra, rb].filter((r) => r.statusCode < 300);
      expect(ok.length, `${method} ${suffix}: ${ra.statusCode} ${ra.body} / ${rb.statusCode} ${rb.body}`).toBe(1);
      // the other is refused: the last active admin (409), or its session already ended by the winner (401)
      const refused = [ra, rb].find((r) => r.statusCode >= 300)!;
      expect([409, 401]).toContain(refused.statusCode);
      if (refused.statusCode === 409) expect(refused.json().code).toBe('last_admin');
      expect((await activeAdminIds(t.services.store)).length).toBe(1);
    }
  });
});

describe('`npm run cli -- grant-admin <email>`: the explicit, audited promotion', () => {
  let t: T;
  beforeAll(async () => {
    t = await testApp('secb2grant');
  });
  afterAll(async () => t.close());

  it('promotes the account, with the operator recorded as the actor', async () => {
    const u = await signup(t.app);
    const env = {
      ...process.env, DATABASE_URL: t.services.config.DATABASE_URL, REDIS_URL: t.services.config.REDIS_URL, REDIS_PREFIX: t.services.prefix,
      PASSWORD_PEPPER: t.services.config.PASSWORD_PEPPER, BCRYPT_COST: '4', LOG_LEVEL: 'silent', DATA_DIR: t.services.config.DATA_DIR,
    };
    const out = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'grant-admin', u.email.toUpperCase(), '--operator', 'alice'], { env, timeout: 60_000 });
    expect(out.stdout).toContain(`granted admin to ${u.email.toUpperCase()}`);
    const granted = (await t.services.store.readStream(streams.user(u.userId))).filter((e) => e.type === 'RoleGranted');
    expect(granted).toHaveLength(1);
    expect(granted[0]!.data).toMatchObject({ role: 'admin' });
    expect(granted[0]!.metadata.actorUserId).toBe('operator:alice');
    expect(await rolesOf(t, u.email)).toContain('admin');
    // create-admin no longer promotes an existing account
    const other = await signup(t.app);
    const refused = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'create-admin', '--email', other.email], { env: { ...env, ADMIN_PASSWORD: strongPassword() }, timeout: 60_000 }).catch((e: { code: number; stderr: string }) => e);
    expect((refused as { code?: number }).code).toBe(1);
    expect(await rolesOf(t, other.email)).toEqual(['user']);
  }, 120_000);
});
