/**
 * Secrets in URLs and logs (issue 20 §6). The attack class: an API key, a JWT or a refresh token
 * under any parameter name (not only the known ones), in a path segment, percent-encoded
 * (whole or in part), with `+`, repeated, as a parameter *name*, in a custom header, a Referer, a
 * nested object, an error message or the log message itself. Logs never show them (redaction by
 * value shape); the API refuses any of them in a URL with 400, on every route (known or not).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/compose';
import { createLogger, redactSecrets, redactUrl } from '../../src/infra/logger';
import { generateApiKey } from '../../src/credentials/api-key-format';
import { newRefreshToken } from '../../src/credentials/refresh-tokens';
import { testServices, type TestServices } from '../helpers/app';
import { bearer, signupAndLogin, type LoggedIn } from '../helpers/auth';
import { captureStream } from '../server/helpers';

const KEY = generateApiKey().key;
const REFRESH = newRefreshToken('0b9f4c62-7f3e-4a55-9d0c-2b8c1a7e5d10').token;
// A JWT-shaped value (header.payload.signature); the real access token is added in the app tests.
const JWT = 'eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1MSIsInNpZCI6InMxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU';
const NONE_JWT = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.';
const SECRETS = { KEY, REFRESH, JWT, NONE_JWT };
/** The distinctive middle of each secret: what must never show in a log, whatever the framing. */
const core = (s: string) => s.slice(8, 40);

const pctAll = (s: string) => [...s].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');
const pctSome = (s: string) => s.replace(/[a.]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);

/** Every way of putting `secret` in a URL. */
function urlsCarrying(secret: string, base = '/api/v1/features'): string[] {
  return [
    `${base}?q=${secret}`,
    `${base}?search=${secret}&x=1`,
    `${base}?a=1&filter=${encodeURIComponent(secret)}`,
    `${base}?x=${pctAll(secret)}`,
    `${base}?x=${pctSome(secret)}`,
    `${base}?x=prefix-${secret}-suffix`,
    `${base}?x=${secret}&x=${secret}`,
    `${base}?${secret}=1`,
    `${base}?${secret}`,
    `${base}/${secret}`,
    `${base}/${pctSome(secret)}`,
  ];
}

describe('logs: credentials are masked by their shape, wherever they are', () => {
  it.each(Object.entries(SECRETS))('%s in any URL part', (_name, secret) => {
    for (const url of urlsCarrying(secret)) {
      const out = redactUrl(url);
      expect(out, url).not.toContain(core(secret));
      expect(out, url).not.toContain(core(pctAll(secret)));
      expect(out, url).not.toContain(core(pctSome(secret)));
    }
  });

  it('harmless URLs are left alone', () => {
    for (const url of ['/api/v1/users?limit=10&cursor=eyJwIjoxMjN9', '/api/v1/auth/sessions/0b9f4c62-7f3e-4a55-9d0c-2b8c1a7e5d10', '/a?x=1&q=hello%20world', '/plain']) {
      expect(redactUrl(url)).toBe(url);
    }
    expect(redactSecrets('user 0b9f4c62-7f3e-4a55-9d0c-2b8c1a7e5d10 logged in')).toBe('user 0b9f4c62-7f3e-4a55-9d0c-2b8c1a7e5d10 logged in');
  });

  it.each(Object.entries(SECRETS))('%s in headers of any name, nested fields, errors and the message', (_name, secret) => {
    const cap = captureStream();
    const log = createLogger({ LOG_LEVEL: 'info', NODE_ENV: 'test' }, { stream: cap.stream });
    log.info({
      req: { method: 'GET', url: `/x?innocent=${secret}`, headers: { 'user-agent': `curl ${secret}` } },
      headers: { 'x-debug-token': secret, 'x-forwarded-auth': `Bearer ${secret}`, referer: `https://app.example/cb?state=1&r=${secret}`, 'x-custom': [secret] },
      upstream: { request: { url: `https://provider.example/userinfo?k=${secret}`, headers: { 'x-key': secret } } },
      note: `retrying with ${secret}`,
    }, 'payload');
    log.error({ err: new Error(`GET https://provider.example/x?arg=${secret} failed`) }, 'upstream failed');
    log.warn(`could not use ${secret} for the call`);
    log.info({ [secret]: 'as a field name' }, 'name');
    log.flush();
    const text = cap.raw.join('\n');
    expect(cap.lines.length).toBe(4);
    expect(text).not.toContain(core(secret));
    expect(text).toContain('[redacted]');
    // What is not secret still shows.
    expect(text).toContain('provider.example');
    expect(text).toContain('could not use');
  });
});

describe('API: credentials in a URL are refused with 400', () => {
  let services: TestServices;
  let app: FastifyInstance;
  let s: LoggedIn;
  const logs = captureStream();

  beforeAll(async () => {
    services = await testServices('seca_urlsecrets');
    const log = createLogger({ LOG_LEVEL: 'debug', NODE_ENV: 'test' }, { stream: logs.stream });
    app = await buildApp({ ...services, log });
    await app.ready();
    s = await signupAndLogin(app);
  });
  afterAll(async () => {
    await app?.close();
    await services?.close();
  });

  const all = () => ({ ...SECRETS, ACCESS: s.accessToken, REAL_REFRESH: s.refreshToken });

  it('every credential kind, every framing, on known and unknown routes, GET and POST', async () => {
    for (const [name, secret] of Object.entries(all())) {
      for (const base of ['/api/v1/features', '/api/v1/auth/me', '/api/v1/auth/refresh', '/no/such/route', '/api/v1/users']) {
        for (const url of urlsCarrying(secret, base)) {
          for (const method of ['GET', 'POST'] as const) {
            const res = await app.inject({ method, url, headers: bearer(s.accessToken) });
            expect(res.body).not.toContain(core(secret));
            expect(res.statusCode, `${name} ${method} ${url}`).toBe(400);
            expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
            expect(res.json().code).toBe(name === 'KEY' ? 'api_key_in_url' : 'credentials_in_url');
          }
        }
      }
    }
  });

  it('the refusal happens before the handler: a refresh token in the URL does not refresh', async () => {
    const res = await app.inject({ method: 'POST', url: `/api/v1/auth/refresh?refresh_token=${s.refreshToken}`, payload: {} });
    expect(res.statusCode).toBe(400);
    // The session's token still works from the body.
    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: s.refreshToken } })).statusCode).toBe(200);
  });

  it('no credential reaches the log lines of those requests', () => {
    const text = logs.raw.join('\n');
    expect(logs.lines.length).toBeGreaterThan(0);
    for (const secret of Object.values(all())) expect(text).not.toContain(core(secret));
  });

  it('URLs the router refuses (over-long parameter, bad percent-encoding) are problem+json', async () => {
    for (const url of [`/api/v1/features/${'x'.repeat(300)}`, '/api/v1/features/%E0%A4%A']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(400);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.json().code).toBe('bad_url');
    }
  });

  it('ordinary URLs still pass', async () => {
    expect((await app.inject({ method: 'GET', url: '/api/v1/auth/me?x=1', headers: bearer(s.accessToken) })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: `/api/v1/auth/sessions?cursor=eyJwIjoxMjN9`, headers: bearer(s.accessToken) })).statusCode).not.toBe(400);
  });
});
