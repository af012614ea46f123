/**
 * One access line per request (issue 12): on completion, route pattern not raw URL, user id when
 * known, LOG_REQUESTS=all|errors|off, through the unredacted access logger without leaking secrets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/compose';
import { createLogger } from '../../src/infra/logger';
import { testServices, type TestServices } from '../helpers/app';
import { bearer, signupAndLogin } from '../helpers/auth';
import { captureStream } from '../server/helpers';

async function appLogging(services: TestServices, mode: 'all' | 'errors' | 'off', level = 'info') {
  const logs = captureStream();
  const log = createLogger({ LOG_LEVEL: level as 'info', NODE_ENV: 'test' }, { stream: logs.stream });
  const app = await buildApp({ ...services, log, config: { ...services.config, LOG_REQUESTS: mode } });
  await app.ready();
  return { app, logs };
}

const accessLines = (logs: ReturnType<typeof captureStream>, rid: string) => logs.lines.filter((l) => l.request_id === rid && l.msg === 'request');

describe('access log', () => {
  let services: TestServices;
  let all: { app: FastifyInstance; logs: ReturnType<typeof captureStream> };
  let token: string;
  let userId: string;

  beforeAll(async () => {
    services = await testServices('acclog');
    all = await appLogging(services, 'all');
    const u = await signupAndLogin(all.app);
    token = u.accessToken;
    userId = u.userId;
  });
  afterAll(async () => {
    await all?.app.close();
    await services?.close();
  });

  it('LOG_REQUESTS=all: one line on completion with the route pattern, status, duration and user id; no URL, no secret', async () => {
    const res = await all.app.inject({ method: 'GET', url: '/api/v1/auth/verify?access_token=qs-secret-1', headers: { ...bearer(token), 'x-request-id': 'rid-acc-1' } });
    expect(res.statusCode).toBe(200);
    const lines = all.logs.lines.filter((l) => l.request_id === 'rid-acc-1');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 30, msg: 'request', method: 'GET', route: '/api/v1/auth/verify', status: 200, user_id: userId, service: 'authledger' });
    expect(lines[0]!.duration_ms).toBeGreaterThanOrEqual(0);
    expect(lines[0]).not.toHaveProperty('url');
    const raw = all.logs.raw.join('\n');
    expect(raw).not.toContain('qs-secret-1');
    expect(raw).not.toContain(token);
  });

  it('a refused request gets its line with the status and no user id', async () => {
    await all.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { ...bearer('not-a-token'), 'x-request-id': 'rid-acc-2' } });
    const [line] = accessLines(all.logs, 'rid-acc-2');
    expect(line).toMatchObject({ level: 30, route: '/api/v1/auth/me', status: 401 });
    expect(line).not.toHaveProperty('user_id');
  });

  it('LOG_REQUESTS=errors: 2xx at debug (absent at info, present at debug), 4xx still logged', async () => {
    for (const level of ['info', 'debug']) {
      const { app, logs } = await appLogging(services, 'errors', level);
      try {
        await app.inject({ method: 'GET', url: '/api/v1/auth/verify', headers: { ...bearer(token), 'x-request-id': `rid-err-ok-${level}` } });
        await app.inject({ method: 'GET', url: '/api/v1/auth/verify', headers: { 'x-request-id': `rid-err-401-${level}` } });
        const ok = accessLines(logs, `rid-err-ok-${level}`);
        if (level === 'info') expect(ok).toHaveLength(0);
        else expect(ok).toMatchObject([{ level: 20, status: 200 }]);
        expect(accessLines(logs, `rid-err-401-${level}`)).toMatchObject([{ level: 30, status: 401 }]);
      } finally {
        await app.close();
      }
    }
  });

  it('LOG_REQUESTS=off: no access lines', async () => {
    const { app, logs } = await appLogging(services, 'off');
    try {
      await app.inject({ method: 'GET', url: '/api/v1/auth/verify', headers: { 'x-request-id': 'rid-off' } });
      await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'rid-off-2' } });
      expect(logs.lines.filter((l) => l.msg === 'request')).toHaveLength(0);
    } finally {
      await app.close();
    }
  });
});
