/**
 * Issue 20 §5: a client that aborts mid-request is not a dependency failure. A real socket sends
 * the head and part of a JSON body, then closes; the server must not log a 5xx / 503
 * `service_unavailable` "request failed" line for it (that would page an operator for a client's
 * behaviour). Variants: mid-body on signup and login, before the body, and on a large body.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/compose';
import { createLogger } from '../../src/infra/logger';
import { testServices, type TestServices } from '../helpers/app';
import { captureStream } from '../server/helpers';

describe('a client abort is not logged as a dependency failure (§5)', () => {
  let services: TestServices;
  let app: FastifyInstance;
  let port: number;
  const cap = captureStream();
  beforeAll(async () => {
    services = await testServices('secc_abort', { LOG_LEVEL: 'info' });
    const log = createLogger({ LOG_LEVEL: 'info', NODE_ENV: 'test' } as never, { stream: cap.stream });
    app = await buildApp({ ...services, log } as never);
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as net.AddressInfo).port;
  }, 120_000);
  afterAll(async () => { await app?.close(); await services?.close(); });

  const abortAfter = (head: string, partial: string) => new Promise<void>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(head + partial, () => setTimeout(() => { s.destroy(); resolve(); }, 50));
    });
    s.on('error', () => resolve());
  });

  it('aborted bodies leave no 5xx line in the log', async () => {
    const req = (url: string, length: number) => `POST ${url} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
    await abortAfter(req('/api/v1/auth/signup', 500), '{"email":"a@example.test","pass');
    await abortAfter(req('/api/v1/auth/login', 500), '{"email":');
    await abortAfter(req('/api/v1/auth/signup', 200), '');
    await abortAfter(req('/api/v1/auth/signup', 900_000), `{"name":"${'x'.repeat(60_000)}`);
    await new Promise((r) => setTimeout(r, 500));
    const bad = cap.lines.filter((l) => Number(l.status ?? l.statusCode ?? (l.res as { statusCode?: number } | undefined)?.statusCode ?? 0) >= 500 || l.code === 'service_unavailable' || l.msg === 'request failed');
    expect(bad, JSON.stringify(bad).slice(0, 1000)).toEqual([]);
    // The server still answers.
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });
});
