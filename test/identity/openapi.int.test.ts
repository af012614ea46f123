import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';

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
});
