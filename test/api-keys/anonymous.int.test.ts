import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { generateApiKey } from '../../src/credentials/api-key-format';

describe('access routes refuse anonymous callers', () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  beforeAll(async () => {
    t = await testApp('access-anon');
  });
  afterAll(async () => t.close());

  const key = generateApiKey().key;
  const routes: [string, string, unknown?][] = [
    ['POST', '/api/v1/features', { name: 'reports', description: 'x' }],
    ['PATCH', '/api/v1/features/reports', { enabled: false }],
    ['DELETE', '/api/v1/features/reports'],
    ['GET', '/api/v1/features'],
    ['GET', '/api/v1/features/reports'],
    ['POST', '/feature/register', { name: 'reports' }],
    ['POST', '/api/v1/api-keys', { name: 'k', features: '*' }],
    ['GET', '/api/v1/api-keys'],
    ['GET', '/api/v1/api-keys/0123456789abcdef'],
    ['DELETE', '/api/v1/api-keys/0123456789abcdef'],
    ['POST', '/api_key/generate'],
    ['POST', '/api/v1/features/reports/access'],
    ['POST', '/feature/access/reports'],
  ];
  for (const [method, url, body] of routes) {
    it(`${method} ${url} → 401 problem`, async () => {
      const res = await t.app.inject({ method: method as 'GET', url, payload: body as object, headers: { 'x-api-key': key } });
      expect(res.statusCode).toBe(401);
      expect(res.headers['content-type']).toContain('application/problem+json');
    });
  }

  it('a garbage access token is 401 too', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/feature/access/reports', headers: { 'access-token': 'nope', 'api-key': key } });
    expect(res.statusCode).toBe(401);
  });

  it('the OpenAPI document lists the access routes', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    const paths = Object.keys(res.json().paths);
    expect(paths).toEqual(expect.arrayContaining(['/api/v1/features/{name}/access', '/feature/access/{feature_name}', '/api_key/generate', '/api/v1/api-keys']));
  });
});
