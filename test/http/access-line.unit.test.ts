/**
 * The access line written the cheap way (src/http/access-log.ts `accessFields` framed by the
 * logger's raw writer, src/infra/logger.ts) is the line pino writes for the same object: the same
 * bytes for every field shape (absent route or user, strings that need escaping, non-finite
 * numbers), levels and LOG_REQUESTS modes, also through a multistream (LOG_DIR's routing by level).
 */
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import pino, { type Logger } from 'pino';
import { accessFields, writeAccessLine, type AccessLine, type LogRequests } from '../../src/http/access-log';
import { accessLoggerOf, createLogger, rawLineWriterOf } from '../../src/infra/logger';
import { captureStream } from '../server/helpers';

const lines: AccessLine[] = [
  { request_id: 'rid-1', method: 'GET', route: '/api/v1/auth/verify', status: 200, duration_ms: 0.1234567, user_id: '0b0f7e7a-8f1c-4b6a-9c7d-1234567890ab' },
  { request_id: '1f7c2c1e-7a0e-4e57-9d9e-51b6f7e0a001', method: 'POST', route: '/api/v1/features/:name/access', status: 200, duration_ms: 12, user_id: 'u1' },
  { request_id: 'rid-2', method: 'GET', route: '/api/v1/auth/me', status: 401, duration_ms: 3.0004, user_id: undefined },
  { request_id: 'rid-3', method: 'GET', route: undefined, status: 404, duration_ms: 0, user_id: undefined },
  { request_id: 'q"uote\\back/slash', method: 'DELETE', route: '/a/"b"', status: 503, duration_ms: 1e21, user_id: 'ünïcödé ✓' },
  { request_id: 'ctl\u0001\n\t', method: 'PATCH', route: '/x', status: 500, duration_ms: Number.NaN, user_id: 'line\u2028sep' },
  { request_id: 'x'.repeat(150), method: 'PUT', route: '/y', status: 429, duration_ms: Number.POSITIVE_INFINITY, user_id: '' },
];

/** The level writeAccessLine picks (the rules in access-log.ts), for pino's reference line. */
const levelOf = (mode: LogRequests, status: number, failed: boolean) => (status >= 500 || failed ? 'error' : mode === 'errors' && status < 400 ? 'debug' : 'info');

/** What the cheap writer gave and what pino gives for the same line, through `log`'s access logger. */
function both(log: Logger, out: { raw: string[] }, mode: LogRequests, line: AccessLine, failed: boolean): { cheap: string[]; pino: string[] } {
  const access = accessLoggerOf(log);
  const real = { info: access.info, error: access.error, debug: access.debug };
  // The cheap way must not call pino's log methods at all.
  access.info = access.error = access.debug = (() => {
    throw new Error('pino log method called');
  }) as never;
  let from = out.raw.length;
  try {
    writeAccessLine(access, mode, { ...line }, failed);
  } finally {
    Object.assign(access, real);
  }
  const cheap = out.raw.slice(from);
  from = out.raw.length;
  const level = levelOf(mode, line.status, failed);
  if (mode !== 'off' && access.isLevelEnabled(level)) access[level]({ ...line, duration_ms: Math.round(line.duration_ms * 1000) / 1000 }, 'request');
  return { cheap, pino: out.raw.slice(from) };
}

describe('access line, the cheap way', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.parse('2026-12-02T21:00:00.123Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is byte for byte the line pino writes, for every field shape, level and mode', () => {
    let compared = 0;
    for (const level of ['info', 'debug', 'error'] as const) {
      const out = captureStream();
      const log = createLogger({ LOG_LEVEL: level, NODE_ENV: 'test' }, { stream: out.stream });
      expect(rawLineWriterOf(accessLoggerOf(log))).toBeTypeOf('function');
      for (const mode of ['all', 'errors', 'off'] as const) {
        for (const line of lines) {
          for (const failed of [false, true]) {
            const { cheap, pino: reference } = both(log, out, mode, line, failed);
            expect(cheap, `${level}/${mode}/${line.request_id}/${failed}`).toEqual(reference);
            if (reference.length) {
              expect(JSON.parse(cheap[0]!)).toEqual(JSON.parse(reference[0]!));
              compared++;
            }
          }
        }
      }
    }
    // Lines were written (not two empty lists): at info every mode but off logs each line once.
    expect(compared).toBeGreaterThan(lines.length * 4);
  });

  it('the parsed line has exactly the access fields, the level number, time, service and msg', () => {
    const out = captureStream();
    const log = createLogger({ LOG_LEVEL: 'info', NODE_ENV: 'test' }, { stream: out.stream });
    writeAccessLine(accessLoggerOf(log), 'all', { ...lines[0]! });
    writeAccessLine(accessLoggerOf(log), 'all', { ...lines[3]! });
    expect(out.lines).toEqual([
      { level: 30, time: Date.parse('2026-12-02T21:00:00.123Z'), service: 'authledger', request_id: 'rid-1', method: 'GET', route: '/api/v1/auth/verify', status: 200, duration_ms: 0.123, user_id: '0b0f7e7a-8f1c-4b6a-9c7d-1234567890ab', msg: 'request' },
      { level: 30, time: Date.parse('2026-12-02T21:00:00.123Z'), service: 'authledger', request_id: 'rid-3', method: 'GET', status: 404, duration_ms: 0, msg: 'request' },
    ]);
    expect(accessFields({ ...lines[3]! })).toBe(',"request_id":"rid-3","method":"GET","status":404,"duration_ms":0');
  });

  it('through a multistream, each line reaches the streams of its level, as pino routes it', () => {
    // createLogger's LOG_DIR layout (every line to app.log, errors to error.log), with memory streams.
    const app = new PassThrough();
    const errors = new PassThrough();
    const read = (s: PassThrough) => String(s.read() ?? '').split('\n').filter(Boolean);
    const destination = pino.multistream([{ level: 'debug', stream: app }, { level: 'error', stream: errors }]);
    const access = pino({ level: 'debug', base: { service: 'authledger' } }, destination);
    // The same framing createLogger installs, on this logger (a logger made elsewhere has none).
    expect(rawLineWriterOf(access)).toBeUndefined();
    const log = createLogger({ LOG_LEVEL: 'debug', NODE_ENV: 'test' }, { stream: destination });
    const viaCreate = accessLoggerOf(log);
    writeAccessLine(viaCreate, 'errors', { ...lines[0]! }); // 2xx: debug
    writeAccessLine(viaCreate, 'all', { ...lines[2]! }); // 401: info
    writeAccessLine(viaCreate, 'all', { ...lines[4]! }); // 503: error
    const cheapApp = read(app);
    const cheapErrors = read(errors);
    access.debug({ ...lines[0]!, duration_ms: 0.123 }, 'request');
    access.info({ ...lines[2]!, duration_ms: 3 }, 'request');
    access.error({ ...lines[4]! }, 'request');
    expect(cheapApp.map((l) => JSON.parse(l).level)).toEqual([20, 30, 50]);
    expect(cheapApp).toEqual(read(app));
    expect(cheapErrors.map((l) => JSON.parse(l).status)).toEqual([503]);
    expect(cheapErrors).toEqual(read(errors));
  });
});
