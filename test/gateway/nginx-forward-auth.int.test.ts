/**
 * Forward auth with a REAL nginx (`auth_request`) in front of a test upstream, using the very
 * nginx configuration the README documents (read from README.md, hosts substituted): valid
 * token → 200 and the upstream sees the user's X-User-Id; no token → 401; after logout → 401 at
 * once; a client-sent X-User-Id never reaches the upstream; a registered service's roles apply
 * through X-Forwarded-Uri (403 passes through nginx). nginx missing → this test FAILS (CI installs it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { testApp, type TestServices } from '../helpers/app';
import { bearer, eventually, newAdmin, newUser, runProjections, type TestUser } from '../helpers/users';
import type { ProjectorHandle } from '../../src/projections/runtime';
import { freePort, ROOT, until } from '../server/helpers';
import { startUpstream, type Upstream } from './helpers';

const NGINX = process.env.NGINX_BIN ?? '/usr/sbin/nginx';

/** The nginx block documented in the README's Gateway section ("nginx `auth_request` …:"), exactly as written. */
export function documentedNginxBlock(): string {
  const doc = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const m = /nginx `auth_request`[^\n]*\n[^`]*?:\s*```nginx\n([\s\S]*?)```/.exec(doc);
  if (!m) throw new Error('README.md has no ```nginx block after "nginx `auth_request` …:"');
  return m[1]!;
}

/** A whole nginx.conf around the documented block, everything inside `dir`. */
export function nginxConf(dir: string, listen: number, appUrl: string, upstreamUrl: string): string {
  const block = documentedNginxBlock();
  if (!block.includes('http://authledger:8000') || !block.includes('http://orders_upstream/')) {
    throw new Error('the documented nginx block no longer uses http://authledger:8000 and http://orders_upstream/ (update this test)');
  }
  const located = block.replaceAll('http://authledger:8000', appUrl).replaceAll('http://orders_upstream/', `${upstreamUrl}/`);
  return `worker_processes 1;
error_log ${dir}/error.log info;
pid ${dir}/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${listen};
${located}
  }
}
`;
}

/** nginx in the foreground as a child process; fails loudly when it is not installed. */
export async function startNginx(conf: (dir: string, port: number) => string): Promise<{ port: number; dir: string; proc: ChildProcess; stop(): Promise<void> }> {
  if (!fs.existsSync(NGINX)) throw new Error(`nginx is not installed at ${NGINX} (apt-get install nginx; .ci/run installs it) — this test needs a real nginx`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authledger-nginx-'));
  fs.chmodSync(dir, 0o755);
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf(dir, port));
  const args = ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', path.join(dir, 'nginx.conf')];
  const check = spawnSync(NGINX, [...args, '-t'], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`nginx -t refused the config: ${check.stderr}`);
  const proc = spawn(NGINX, [...args, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  await until(`nginx listening on ${port} (${stderr})`, async () => {
    if (proc.exitCode !== null) throw new Error(`nginx exited ${proc.exitCode}: ${stderr}`);
    return fetch(`http://127.0.0.1:${port}/_nothing`).then(() => true, () => false);
  }, 10_000, 50);
  return {
    port, dir, proc,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGQUIT');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('nginx auth_request in front of an upstream, with /api/v1/auth/verify', () => {
  let app: FastifyInstance;
  let s: TestServices;
  let close: () => Promise<void>;
  let projector: ProjectorHandle;
  let up: Upstream;
  let nginx: Awaited<ReturnType<typeof startNginx>> | undefined;
  let admin: TestUser;
  let alice: TestUser;
  let edge: string;
  type Res = Omit<Response, 'json'> & { json(): Promise<any> };
  const get = (p: string, headers: Record<string, string> = {}) => fetch(`${edge}${p}`, { headers }) as Promise<Res>;

  beforeAll(async () => {
    ({ app, services: s, close } = await testApp('gateway-nginx', { ROLES: 'api' }));
    projector = runProjections(s);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const appUrl = `http://127.0.0.1:${(app.server.address() as any).port}`;
    up = await startUpstream('orders');
    nginx = await startNginx((dir, port) => nginxConf(dir, port, appUrl, up.url));
    edge = `http://127.0.0.1:${nginx.port}`;
    admin = await newAdmin(app, s);
    alice = await newUser(app, 'alice');
  });
  afterAll(async () => {
    await nginx?.stop();
    await up?.close();
    await projector?.stop();
    await close?.();
  });

  it('valid token: 200 through nginx, the upstream sees that user\'s X-User-Id (prefix stripped)', async () => {
    const res = await get('/orders/items/7?x=1', bearer(alice.token));
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.upstream).toBe('orders');
    expect(body.url).toBe('/items/7?x=1');
    expect(body.headers['x-user-id']).toBe(alice.id);
    expect(body.headers['x-user-roles']).toBe('user');
  });

  it('no token or a bad token: 401 from nginx, the upstream is not reached', async () => {
    const before = up.hits;
    expect((await get('/orders/items')).status).toBe(401);
    expect((await get('/orders/items', bearer('not-a-token'))).status).toBe(401);
    expect(up.hits).toBe(before);
  });

  it('a client-sent X-User-Id is not what the upstream sees', async () => {
    const res = await get('/orders/whoami', { ...bearer(alice.token), 'x-user-id': 'forged-user', 'x-user-roles': 'admin' });
    expect(res.status).toBe(200);
    const h = (await res.json()).headers;
    expect(h['x-user-id']).toBe(alice.id);
    expect(h['x-user-roles']).toBe('user');
    const before = up.hits;
    expect((await get('/orders/whoami', { 'x-user-id': alice.id })).status).toBe(401);
    expect(up.hits).toBe(before);
  });

  it('after POST logout: 401 at once', async () => {
    const bob = await newUser(app, 'bob');
    expect((await get('/orders/x', bearer(bob.token))).status).toBe(200);
    const out = await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(bob.token) });
    expect(out.statusCode).toBeLessThan(300);
    expect((await get('/orders/x', bearer(bob.token))).status).toBe(401);
  });

  it('a registered service named by X-Forwarded-Uri: its roles apply (403 passes through nginx)', async () => {
    const reg = await app.inject({ method: 'POST', url: '/api/v1/services', headers: bearer(admin.token), payload: { name: 'orders', upstreams: [up.url], auth: 'token', roles: ['admin'] } });
    expect(reg.statusCode).toBe(201);
    await eventually(async () => !!app.gateway.service('orders'), 5000);
    const before = up.hits;
    expect((await get('/orders/r', bearer(alice.token))).status).toBe(403);
    expect(up.hits).toBe(before);
    const ok = await get('/orders/r', bearer(admin.token));
    expect(ok.status).toBe(200);
    expect((await ok.json()).headers['x-user-id']).toBe(admin.id);
  });
});
