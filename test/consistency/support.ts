/** A real HTTP client over ONE keep-alive connection, and the chained command → query pairs. */
import http from 'node:http';
import { expect } from 'vitest';

export { freePort } from '../server/helpers';

export interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

export interface Client {
  req(method: string, path: string, opts?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<Res>;
  /** Sockets this client opened (1 = every request went over one keep-alive connection). */
  sockets(): number;
  close(): void;
}

export function keepAliveClient(port: number): Client {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let opened = 0;
  const create = agent.createConnection.bind(agent);
  agent.createConnection = ((...args: Parameters<typeof create>) => {
    opened++;
    return create(...args);
  }) as typeof agent.createConnection;
  return {
    req(method, path, opts = {}) {
      return new Promise((resolve, reject) => {
        const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
        const headers: Record<string, string> = { ...(opts.headers ?? {}) };
        if (opts.token) headers.authorization = `Bearer ${opts.token}`;
        if (payload !== undefined) headers['content-type'] = 'application/json';
        const r = http.request({ host: '127.0.0.1', port, method, path, agent, headers }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (text += d));
          res.on('end', () => {
            let body: unknown = text;
            try {
              body = text ? JSON.parse(text) : undefined;
            } catch {
              /* not JSON */
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
          });
        });
        r.on('error', reject);
        r.end(payload);
      });
    },
    sockets: () => opened,
    close: () => agent.destroy(),
  };
}

/** Writes (every method but GET) through `writer`, reads (GET) through `reader`: two API processes. */
export function splitClient(writer: Client, reader: Client): Client {
  return {
    req: (method, path, opts) => (method === 'GET' ? reader : writer).req(method, path, opts),
    sockets: () => writer.sockets() + (writer === reader ? 0 : reader.sockets()),
    close() {
      writer.close();
      if (writer !== reader) reader.close();
    },
  };
}

/** One chained pair: a write, then the read that must show it. */
export interface Pair {
  name: string;
  /** Runs one round (write, then read) and asserts the read shows the write. */
  round(i: number): Promise<void>;
}

const ok = (r: Res, status: number, what: string) => {
  if (r.status !== status) throw new Error(`${what}: expected ${status}, got ${r.status} ${JSON.stringify(r.body)}`);
  return r;
};

/**
 * Every pair a client chains. `user` is a plain session, `admin` an admin session; both write
 * with their own token and read right after with the same one.
 */
export function pairs(c: Client, user: { token: string; userId: string; email: string; password: string }, admin: { token: string; userId: string }, tag: string, positionShape = /^\d+\.\d+$/): Pair[] {
  const keys: string[] = [];
  return [
    {
      name: 'create key → get key, list keys',
      async round(i) {
        const w = ok(await c.req('POST', '/api/v1/api-keys', { token: user.token, body: { name: `k${tag}${i}`, features: '*' } }), 201, 'create key');
        expect(w.headers['x-log-position']).toMatch(positionShape);
        keys.push(w.body.id);
        const g = ok(await c.req('GET', `/api/v1/api-keys/${w.body.id}`, { token: user.token }), 200, 'get key');
        expect(g.body.status).toBe('active');
        if (i % 20 === 0 && keys.length < 100) {
          const l = ok(await c.req('GET', '/api/v1/api-keys?limit=100&all=false', { token: user.token }), 200, 'list keys');
          expect(JSON.stringify(l.body)).toContain(w.body.id);
        }
      },
    },
    {
      name: 'revoke key → get key',
      async round(i) {
        const id = keys[i]!;
        const w = await c.req('DELETE', `/api/v1/api-keys/${id}`, { token: user.token });
        expect([200, 204]).toContain(w.status);
        const g = ok(await c.req('GET', `/api/v1/api-keys/${id}`, { token: user.token }), 200, 'get key');
        expect(g.body.status).toBe('revoked');
      },
    },
    {
      name: 'session revoke → sessions list',
      async round() {
        const l = ok(await c.req('POST', '/api/v1/auth/login', { body: { email: user.email, password: user.password, return_refresh_in_body: true } }), 200, 'login');
        const sid = l.body.session_id as string;
        const d = await c.req('DELETE', `/api/v1/auth/sessions/${sid}`, { token: user.token });
        expect([200, 204]).toContain(d.status);
        const s = ok(await c.req('GET', '/api/v1/auth/sessions', { token: user.token }), 200, 'sessions');
        expect(JSON.stringify(s.body)).not.toContain(sid);
      },
    },
    {
      name: 'register / patch / delete feature → get, list',
      async round(i) {
        const name = `f-${tag}-${i}`;
        ok(await c.req('POST', '/api/v1/features', { token: admin.token, body: { name, description: 'one' } }), 201, 'register');
        expect(ok(await c.req('GET', `/api/v1/features/${name}`, { token: admin.token }), 200, 'get').body.description).toBe('one');
        ok(await c.req('PATCH', `/api/v1/features/${name}`, { token: admin.token, body: { description: 'two' } }), 200, 'patch');
        expect(ok(await c.req('GET', `/api/v1/features/${name}`, { token: admin.token }), 200, 'get').body.description).toBe('two');
        const d = await c.req('DELETE', `/api/v1/features/${name}`, { token: admin.token });
        expect([200, 204]).toContain(d.status);
        const after = await c.req('GET', `/api/v1/features/${name}`, { token: admin.token });
        expect(after.status).toBe(404);
        if (i % 20 === 0) {
          const l = ok(await c.req('GET', '/api/v1/features', { token: admin.token }), 200, 'list');
          expect(JSON.stringify(l.body)).not.toContain(`"${name}"`);
        }
      },
    },
    {
      name: 'create / patch / disable / delete user, grant / revoke role → get, list users; audit',
      async round(i) {
        const email = `u${i}.${tag}.${Date.now()}@example.test`;
        const w = ok(await c.req('POST', '/api/v1/users', { token: admin.token, body: { email, password: 'correct horse battery staple 42', name: 'One' } }), 201, 'create user');
        const id = w.body.id as string;
        expect(ok(await c.req('GET', `/api/v1/users/${id}`, { token: admin.token }), 200, 'get user').body.name).toBe('One');
        const list = ok(await c.req('GET', `/api/v1/users?email=${encodeURIComponent(email)}`, { token: admin.token }), 200, 'list users');
        expect(JSON.stringify(list.body)).toContain(id);
        ok(await c.req('PATCH', `/api/v1/users/${id}`, { token: admin.token, body: { name: 'Two' } }), 200, 'patch user');
        expect(ok(await c.req('GET', `/api/v1/users/${id}`, { token: admin.token }), 200, 'get user').body.name).toBe('Two');
        const listed = ok(await c.req('GET', `/api/v1/users?email=${encodeURIComponent(email)}`, { token: admin.token }), 200, 'list users');
        expect(JSON.stringify(listed.body)).toContain('"Two"');
        ok(await c.req('POST', `/api/v1/users/${id}/roles`, { token: admin.token, body: { role: 'admin' } }), 200, 'grant');
        expect(ok(await c.req('GET', `/api/v1/users/${id}`, { token: admin.token }), 200, 'get user').body.roles).toContain('admin');
        const rv = await c.req('DELETE', `/api/v1/users/${id}/roles/admin`, { token: admin.token });
        expect([200, 204]).toContain(rv.status);
        expect(ok(await c.req('GET', `/api/v1/users/${id}`, { token: admin.token }), 200, 'get user').body.roles).not.toContain('admin');
        const dis = await c.req('POST', `/api/v1/users/${id}/disable`, { token: admin.token, body: {} });
        expect([200, 204]).toContain(dis.status);
        expect(ok(await c.req('GET', `/api/v1/users/${id}`, { token: admin.token }), 200, 'get user').body.disabled).toBe(true);
        const audit = ok(await c.req('GET', `/api/v1/audit/users/${id}/events?limit=100`, { token: admin.token }), 200, 'audit');
        expect(JSON.stringify(audit.body)).toContain('UserDisabled');
        const del = await c.req('DELETE', `/api/v1/users/${id}`, { token: admin.token });
        expect([200, 204]).toContain(del.status);
        expect((await c.req('GET', `/api/v1/users/${id}`, { token: admin.token })).status).toBe(404);
      },
    },
  ];
}

/**
 * Values for every path parameter of the app's GET and query routes, given the ids a test made;
 * `fill` throws for a parameter it has no value for (a new route: add one here).
 */
export function routeFiller(ids: { userId: string; keyId: string; feature: string }): (url: string) => string {
  const none = '00000000-0000-4000-8000-000000000000';
  const values: Record<string, string> = {
    '/api/v1/users/:id': ids.userId,
    '/api/v1/audit/users/:id': ids.userId,
    '/api/v1/api-keys/:id': ids.keyId,
    '/api/v1/features/:name': ids.feature,
    '/api/v1/services/:name': 'no-such-service',
    '/feature/access/:feature_name': ids.feature,
    ':provider': 'github',
    ':group': 'g1',
    '/api/v1/files/:id': none,
    ':category': 'images',
    ':storedName': `${none}.png`,
    ':linkId': none,
    '/oauth/:id': none,
    '/api/v1/auth/identities/:id': none,
  };
  return (url) => url.replace(/:(\w+)/g, (m, _n, at: number) => {
    const v = Object.entries(values).find(([k]) => (k.startsWith(':') ? k === m : url.startsWith(k) && at === k.indexOf(m)))?.[1];
    if (v === undefined) throw new Error(`no value for ${m} in ${url}: add one to routeFiller (test/consistency/support.ts)`);
    return encodeURIComponent(v);
  });
}

/** Query routes answered by POST, with a body each (every other non-GET route is a command). */
export function queryPosts(accessToken: string): Record<string, object> {
  return {
    '/api/v1/tokens/verify': { token: accessToken },
    '/api/v1/admin/read-models/query': { sql: 'SELECT 1' },
    '/api/v1/features/:name/access': {},
    '/feature/access/:feature_name': {},
  };
}
