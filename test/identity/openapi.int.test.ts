import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { bearer, signupAndLogin } from '../helpers/auth';

describe('identity routes in OpenAPI', () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  beforeAll(async () => {
    t = await testApp('idoapi');
  });
  afterAll(async () => t.close());

  it('every identity route is documented with its responses', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const paths = res.json().paths as Record<string, Record<string, { responses: Record<string, unknown> }>>;
    const expected: [string, string, string[]][] = [
      ['/api/v1/auth/signup', 'post', ['201', '400', '409']],
      ['/api/v1/auth/register', 'post', ['201', '400', '409']],
      ['/api/v1/auth/login', 'post', ['200', '401', '429']],
      ['/auth/login', 'post', ['200', '401']],
      ['/api/v1/auth/refresh', 'post', ['200', '401']],
      ['/api/v1/auth/logout', 'post', ['204', '401']],
      ['/api/v1/auth/logout-all', 'post', ['204', '401']],
      ['/api/v1/auth/sessions', 'get', ['200', '401']],
      ['/api/v1/auth/sessions/{id}', 'delete', ['204', '404']],
      ['/api/v1/auth/password', 'post', ['204', '400', '403']],
      ['/api/v1/auth/me', 'get', ['200', '401']],
      ['/api/v1/auth/verify', 'get', ['200', '401']],
      ['/api/v1/tokens/verify', 'post', ['200']],
      ['/api/v1/tokens/revoke', 'post', ['200']],
      ['/.well-known/jwks.json', 'get', ['200']],
    ];
    for (const [path, method, codes] of expected) {
      const op = paths[path]?.[method];
      expect(op, `${method} ${path}`).toBeDefined();
      for (const c of codes) expect(op!.responses[c], `${method} ${path} ${c}`).toBeDefined();
    }
  });

  it('error responses are application/problem+json with a realistic status; /verify documents its 200 as sent', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const paths = doc.paths as Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: { properties?: Record<string, { example?: number; minimum?: number }> } }>; headers?: Record<string, unknown> }> }>>;
    let errors = 0;
    for (const [path, ops] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const [code, r] of Object.entries(op.responses ?? {})) {
          if (Number(code) < 400 || !r.content) continue;
          errors++;
          expect(Object.keys(r.content), `${method} ${path} ${code}`).toEqual(['application/problem+json']);
          const status = r.content['application/problem+json']!.schema.properties!.status!;
          expect(status.example, `${method} ${path} ${code}`).toBe(Number(code));
          expect(status.minimum).toBe(400);
        }
      }
    }
    expect(errors).toBeGreaterThan(50);
    expect(JSON.stringify(doc)).not.toContain('-9007199254740991');
    const ok = paths['/api/v1/auth/verify']!.get!.responses['200']!;
    expect(Object.keys(ok.headers ?? {})).toEqual(expect.arrayContaining(['X-User-Id', 'X-Session-Id', 'X-User-Roles']));
    // As sent: the body is the JSON literal null, identity in the headers, errors as problem+json.
    const { accessToken } = await signupAndLogin(t.app);
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/auth/verify', headers: bearer(accessToken) });
    expect([res.statusCode, res.body, typeof res.headers['x-user-id']]).toEqual([200, 'null', 'string']);
    const bad = await t.app.inject({ method: 'GET', url: '/api/v1/auth/verify' });
    expect([bad.statusCode, bad.headers['content-type']]).toEqual([401, expect.stringContaining('application/problem+json')]);
  });
});
