/**
 * The console's admin and realtime screens in a real browser (issue 16): an admin disables a user
 * whose other browser context is then signed out with the notice; two contexts chat in a group
 * (group and direct messages, members); the read-model browser refuses UPDATE, DELETE, SET ROLE,
 * COPY and multi-statement tricks and charts / exports a real answer; axe-core on every page here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { expectAccessible, uniqueEmail, useBrowser } from './helpers';
import { ROOT } from '../server/helpers';

const PASSWORD = 'correct horse battery staple 42';
const ADMIN = uniqueEmail('admin');
const b = useBrowser('badmin', { realtime: true, env: { ADMIN_EMAIL: ADMIN, ADMIN_PASSWORD: PASSWORD } });

async function apiSignup(email: string, name: string) {
  const res = await fetch(b.url('/api/v1/auth/signup'), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD, name }),
  });
  expect(res.status).toBe(201);
}

async function signIn(context: BrowserContext, email: string, path: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(b.url(`/console/sign-in?next=${encodeURIComponent(`/console${path}`)}`));
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.pathname === `/console${path}`);
  return page;
}

async function connect(page: Page, clientId: string, group: string) {
  await page.getByLabel('Client id').fill(clientId);
  await page.getByLabel('Group', { exact: true }).fill(group);
  await page.getByRole('button', { name: 'Connect' }).click();
  await page.getByText(`Connected as ${clientId}`).first().waitFor();
}

let adminContext: BrowserContext;
let admin: Page;

describe('console admin and realtime screens', () => {
  it('every admin screen and the realtime screen pass axe', async () => {
    adminContext = await b.context();
    admin = await signIn(adminContext, ADMIN, '/admin/users');
    const screens: [string, string][] = [
      ['/admin/users', 'Users'], ['/admin/features', 'Manage features'], ['/admin/events', 'Event search'],
      ['/admin/live', 'Live audit feed'], ['/admin/projections', 'Projections and queues'], ['/admin/read-models', 'Read-model browser'],
      ['/admin/files', 'Uploaded files'], ['/admin/services', 'Gateway services'],
      ['/realtime', 'Realtime'],
    ];
    for (const [path, title] of screens) {
      await admin.goto(b.url(`/console${path}`));
      await admin.getByRole('heading', { name: title, level: 1 }).waitFor();
      await admin.waitForLoadState('networkidle');
      await expectAccessible(admin, path);
    }
    // The projection status shows the projections; the users list shows the admin.
    await admin.goto(b.url('/console/admin/projections'));
    await admin.locator('[data-projection="users"]').waitFor();
  });

  it('admin disables a user whose other browser context is then signed out with the notice', async () => {
    const email = uniqueEmail('victim');
    await apiSignup(email, 'Victim Person');
    const userContext = await b.context();
    const user = await signIn(userContext, email, '/realtime');
    await connect(user, `victim-${Date.now().toString(36)}`, 'lobby');

    await admin.goto(b.url('/console/admin/users'));
    await admin.getByLabel('Search users').fill(email);
    await admin.getByRole('button', { name: 'Search' }).click();
    await admin.getByRole('button', { name: `Disable ${email}` }).click();
    await admin.getByText(`${email} disabled`).waitFor();
    await expect.poll(() => admin.locator(`tr[data-user="${email}"] td[data-status]`).textContent()).toBe('disabled');

    // The other context hears it from the hub at once, says why, and ends up signed out.
    await user.getByText('Your session ended: an administrator disabled your account.').first().waitFor();
    await user.waitForURL(/\/console\/sign-in/);
    await user.getByText('Your session ended: an administrator disabled your account.').waitFor();
    await expectAccessible(user, 'sign-in with the notice');

    // Enabled again from the same screen.
    await admin.getByRole('button', { name: `Enable ${email}` }).click();
    await expect.poll(() => admin.locator(`tr[data-user="${email}"] td[data-status]`).textContent()).toBe('active');
  });

  it('two browser contexts chat in a group, see each other as members and send direct messages', async () => {
    const [one, two] = [uniqueEmail('chat1'), uniqueEmail('chat2')];
    await apiSignup(one, 'Chat One');
    await apiSignup(two, 'Chat Two');
    const [a, c] = [await signIn(await b.context(), one, '/realtime'), await signIn(await b.context(), two, '/realtime')];
    const tag = Date.now().toString(36);
    const group = `room-${tag}`;
    await connect(a, `alice-${tag}`, group);
    await connect(c, `carol-${tag}`, group);
    await a.getByRole('button', { name: 'Refresh members' }).click();
    await a.getByTestId('members').getByText(`carol-${tag}`).waitFor();

    await a.getByLabel('Message to the group').fill('hello from alice');
    await a.getByRole('button', { name: 'Send to group' }).click();
    await c.getByTestId('messages').getByText(`[${group}] alice-${tag}: hello from alice`).waitFor();

    await c.getByLabel('To client id').fill(`alice-${tag}`);
    await c.getByLabel('Direct message', { exact: true }).fill('just for you');
    await c.getByRole('button', { name: 'Send direct' }).click();
    await a.getByTestId('messages').getByText(`carol-${tag} → alice-${tag}: just for you`).waitFor();
    await expectAccessible(a, 'realtime connected');
  });

  it('the read-model browser refuses UPDATE, DELETE, SET ROLE, COPY and multi-statement tricks, and charts and exports a real answer', async () => {
    await admin.goto(b.url('/console/admin/read-models'));
    await admin.getByTestId('views').getByRole('button', { name: /^users/ }).click();
    await admin.getByRole('heading', { name: 'users: sample rows' }).waitFor();
    const box = admin.getByLabel(/^Query/);
    const refusals = [
      'UPDATE users SET disabled = true',
      'DELETE FROM users',
      'SET ROLE postgres',
      "COPY users TO '/tmp/x'",
      'SELECT 1; DELETE FROM users',
      'SELECT 1 --\n; RESET ROLE',
      'SELECT 1 /* */; SET ROLE postgres',
    ];
    for (const sql of refusals) {
      await box.fill(sql);
      await admin.getByRole('button', { name: 'Run' }).click();
      await expect.poll(() => admin.getByTestId('sql-error').textContent(), { message: sql }).toContain('sql_refused');
    }
    // Past the check, the role: the event log is not readable.
    await box.fill('SELECT * FROM events');
    await admin.getByRole('button', { name: 'Run' }).click();
    await expect.poll(() => admin.getByTestId('sql-error').textContent()).toContain('42501');
    await expectAccessible(admin, 'read-model browser with a refusal');

    await admin.getByTestId('views').getByRole('button', { name: /^users/ }).click(); // close the sample
    await box.fill('SELECT status, count(*) AS n FROM sessions GROUP BY status');
    await admin.getByRole('button', { name: 'Run' }).click();
    await admin.getByText(/rows in \d+ ms/).waitFor();
    await admin.getByLabel('Show as').selectOption('bar');
    await admin.locator('svg[role="img"] rect').first().waitFor();
    await admin.getByLabel('Show as').selectOption('pie');
    await admin.locator('svg[role="img"] path').first().waitFor();
    await expectAccessible(admin, 'read-model browser with a chart');
    const [csv] = await Promise.all([admin.waitForEvent('download'), admin.getByRole('button', { name: 'Export CSV' }).click()]);
    const text = fs.readFileSync((await csv.path())!, 'utf8');
    expect(text.split('\r\n')[0]).toBe('status,n');
    expect(text).toContain('active,');

    await box.fill("SELECT split_part(stream_name, '-', 1) AS stream, sum(events) AS events FROM user_streams GROUP BY 1 ORDER BY 2 DESC");
    await admin.getByRole('button', { name: 'Run' }).click();
    await admin.getByLabel('Values', { exact: true }).selectOption({ label: 'events' });
    await admin.locator('svg[role="img"] path').first().waitFor();
    await admin.getByLabel('Show as').selectOption('bar');
    await admin.locator('svg[role="img"] rect').first().waitFor();
    // The README's picture of this screen.
    await admin.setViewportSize({ width: 1280, height: 1120 });
    await b.shot(admin, path.join(ROOT, 'docs', 'screenshots', 'read-model-browser.png'));
    await admin.setViewportSize({ width: 1280, height: 860 });

    // Saved queries: save, then it is listed and loads back.
    await admin.getByLabel('Save as').fill('sessions by status');
    await admin.getByRole('button', { name: 'Save query' }).click();
    await admin.getByRole('button', { name: 'Load saved query sessions by status' }).waitFor();
    await box.fill('SELECT 1');
    await admin.getByRole('button', { name: 'Load saved query sessions by status' }).click();
    await expect.poll(() => box.inputValue()).toContain('split_part(stream_name');
  });

  it('the live audit feed shows events as they are written, and the files screen lists and deletes anyone\'s upload', async () => {
    const live = await adminContext.newPage();
    await live.goto(b.url('/console/admin/live'));
    await expect.poll(() => live.getByTestId('feed-status').textContent()).toContain('Live');
    const email = uniqueEmail('uploader');
    await apiSignup(email, 'Up Loader');
    await live.getByText('UserRegistered').first().waitFor();

    const login = await fetch(b.url('/api/v1/auth/login'), {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }),
    });
    const token = ((await login.json()) as { access_token: string }).access_token;
    const form = new FormData();
    form.append('file', new Blob(['hello, admin'], { type: 'text/plain' }), 'note-for-admin.txt');
    const up = await fetch(b.url('/api/v1/files'), { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
    expect(up.status, await up.clone().text()).toBe(201);
    await live.getByText('FileUploaded').first().waitFor();
    await live.close();

    await admin.goto(b.url('/console/admin/files'));
    await admin.locator('tr[data-file="note-for-admin.txt"]').waitFor();
    admin.once('dialog', (d) => void d.accept());
    await admin.getByRole('button', { name: 'Delete note-for-admin.txt' }).click();
    await admin.getByText('note-for-admin.txt deleted.').waitFor();
    await expect.poll(() => admin.locator('tr[data-file="note-for-admin.txt"]').count()).toBe(0);
  });

  it('the gateway services screen registers, changes and deregisters a service', async () => {
    await admin.goto(b.url('/console/admin/services'));
    await admin.getByLabel('Service name').fill('orders');
    await admin.getByLabel('Upstream URLs').fill('http://127.0.0.1:9, http://127.0.0.1:10');
    await admin.getByLabel('Auth policy').selectOption('api_key');
    await admin.getByRole('button', { name: 'Register' }).click();
    await admin.getByText('orders registered.').waitFor();
    await admin.locator('tr[data-service="orders"]').getByText('http://127.0.0.1:10').waitFor();
    await admin.getByRole('button', { name: 'Edit orders' }).click();
    await admin.getByLabel('Upstreams of orders').fill('http://127.0.0.1:11');
    await admin.getByRole('button', { name: 'Save' }).click();
    await admin.getByText('orders updated.').waitFor();
    await admin.locator('tr[data-service="orders"]').getByText('http://127.0.0.1:11').waitFor();
    await expectAccessible(admin, 'gateway services with one');
    admin.once('dialog', (d) => void d.accept());
    await admin.getByRole('button', { name: 'Deregister orders' }).click();
    await admin.getByText('orders deregistered.').waitFor();
    await expect.poll(() => admin.locator('tr[data-service="orders"]').count()).toBe(0);
  });
});
