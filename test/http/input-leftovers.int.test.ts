/**
 * Issue 20 §5 leftovers: the realtime REST `message`, the `token` of POST /api/v1/tokens/verify and
 * the OAuth callback's query parameters go through the shared types of src/http/input.ts: hostile
 * strings are 400 `validation_failed` (problem+json) before any handler, never a 5xx.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { adminLogin, bearer, type LoggedIn } from '../helpers/auth';

type T = Awaited<ReturnType<typeof testApp>>;
const CONTROL = ['\u0001', '\u0007', '\u001b[2J', '\u007f', '\u0085', '\u009f'];
const SURROGATE = ['\ud800', '\udfff', '\udc00\ud800'];

let t: T;
let admin: LoggedIn;
beforeAll(async () => {
  t = await testApp('inputleft');
  admin = await adminLogin(t.app, t.services);
});
afterAll(async () => t.close());

const refused = (res: { statusCode: number; headers: Record<string, unknown>; json: () => { code?: string } }, what: string) => {
  expect(res.statusCode, what).toBe(400);
  expect(String(res.headers['content-type']), what).toContain('application/problem+json');
  expect(res.json().code, what).toBe('validation_failed');
};

describe('shared input types on the remaining fields', () => {
  it('realtime REST messages: control characters and lone surrogates are refused, ordinary text is not', async () => {
    for (const prefix of ['/api/v1/realtime', '/api/ws']) {
      for (const route of [`${prefix}/send_to/bob`, `${prefix}/broadcast_to_group/lobby`]) {
        for (const bad of [...CONTROL, ...SURROGATE]) {
          const res = await t.app.inject({ method: 'POST', url: route, headers: bearer(admin.accessToken), payload: { message: `hi${bad}there` } });
          refused(res, `${route} ${JSON.stringify(bad)}`);
        }
        // Tab and line breaks are text: past validation (nobody is connected: 404).
        const ok = await t.app.inject({ method: 'POST', url: route, headers: bearer(admin.accessToken), payload: { message: 'line one\n\tline two 😀' } });
        expect(ok.statusCode, route).toBe(404);
      }
    }
  });

  it('tokens/verify: a token with NUL or a lone surrogate is 400 whoever asks', async () => {
    for (const bad of ['\u0000', ...SURROGATE]) {
      for (const headers of [{}, bearer(admin.accessToken)]) {
        const res = await t.app.inject({ method: 'POST', url: '/api/v1/tokens/verify', headers, payload: { token: `eyJ${bad}x` } });
        expect(res.statusCode, JSON.stringify(bad)).toBe(400);
      }
    }
    // A well-formed body still reaches the caller check.
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/tokens/verify', payload: { token: 'x.y.z' } })).statusCode).toBe(401);
  });

  it('OAuth callback: hostile code, state, error text and unknown parameters are 400; repeated parameters too', async () => {
    const base = '/api/v1/auth/oauth/github/callback';
    const enc = encodeURIComponent;
    for (const bad of CONTROL) {
      for (const q of [`code=${enc(`c${bad}`)}&state=s`, `code=c&state=${enc(`s${bad}`)}`, `error=access_denied&error_description=${enc(`no${bad}`)}`, `code=c&state=s&extra=${enc(bad)}`]) {
        refused(await t.app.inject({ method: 'GET', url: `${base}?${q}` }), q);
      }
    }
    refused(await t.app.inject({ method: 'GET', url: `${base}?code=a&code=b&state=s` }), 'repeated code');
    refused(await t.app.inject({ method: 'GET', url: `${base}?code=${'a'.repeat(4097)}&state=s` }), 'overlong code');
    // Ordinary parameters, including ones providers add, pass validation (then fail as a sign-in, not as input).
    const ordinary = await t.app.inject({ method: 'GET', url: `${base}?code=abc&state=def&scope=${enc('openid email')}&authuser=0`, headers: { accept: 'application/json' } });
    expect(ordinary.statusCode).toBeLessThan(500);
    expect(ordinary.json().code).not.toBe('validation_failed');
  });
});
