/**
 * pino logger: JSON, pretty on a terminal, optional files (LOG_DIR/app.log, LOG_DIR/error.log),
 * secrets redacted wherever they appear in a logged object.
 * Rules:
 * - credential headers, cookies and secret-named fields are replaced by "[redacted]" at any of
 *   the first three levels of a logged object (pino redact paths, below);
 * - query-string values that look like credentials (token, ticket, key, password, code…) are
 *   masked in logged URLs;
 * - access lines (one per request, src/http/access-log.ts) go through a sibling logger without
 *   redaction: they carry only the route pattern, never the raw URL or headers;
 * - request log lines carry `request_id`: Fastify binds it on `request.log`, and any other logger
 *   (e.g. `services.log`) used while handling a request adds it from `logContext` (src/http/app.ts
 *   enters it per request).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import path from 'node:path';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { Config } from '../config';

/** Field names whose values are secrets, wherever they appear. */
export const SECRET_KEYS = [
  'password', 'current_password', 'new_password', 'passwordHash', 'password_hash',
  'refresh_token', 'refreshToken', 'access_token', 'accessToken', 'token', 'api_key', 'apiKey',
  'ticket', 'secret', 'client_secret', 'authorization', 'cookie', 'pepper', 'privateKey', 'private_key',
];

const HEADER_PATHS = [
  'req.headers.authorization',
  'req.headers["access-token"]',
  'req.headers["api-key"]',
  'req.headers["x-api-key"]',
  'req.headers["sec-websocket-protocol"]',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
];

const q = (k: string) => (/^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `["${k}"]`);
export const REDACT_PATHS = [
  ...HEADER_PATHS,
  ...SECRET_KEYS.flatMap((k) => [q(k).replace(/^\./, ''), `*${q(k)}`, `*.*${q(k)}`]),
];

const SECRET_QUERY = /^(.*(token|ticket|key|password|secret|code|signature).*)$/i;

/** Masks credential-looking query values: `/ws?ticket=abc&x=1` → `/ws?ticket=[redacted]&x=1`. */
export function redactUrl(url: string): string {
  const i = url.indexOf('?');
  if (i < 0) return url;
  const params = url.slice(i + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=');
    if (eq < 0) return pair;
    const key = pair.slice(0, eq);
    let name = key;
    try {
      name = decodeURIComponent(key);
    } catch {
      // keep the raw name
    }
    return SECRET_QUERY.test(name) ? `${key}=[redacted]` : pair;
  });
  return `${url.slice(0, i)}?${params.join('&')}`;
}

interface LoggableRequest {
  method?: string;
  url?: string;
  ip?: string;
  headers?: Record<string, unknown>;
  routeOptions?: { url?: string };
  socket?: { remoteAddress?: string };
}

export const serializers: pino.LoggerOptions['serializers'] = {
  req: (req: LoggableRequest) => ({
    method: req.method,
    url: req.url ? redactUrl(req.url) : undefined,
    route: req.routeOptions?.url,
    ip: req.ip ?? req.socket?.remoteAddress,
    user_agent: req.headers?.['user-agent'],
  }),
  res: (res: { statusCode?: number }) => ({ status: res.statusCode }),
  err: pino.stdSerializers.err,
};

/** The request being handled, for log lines written outside `request.log`. */
export const logContext = new AsyncLocalStorage<{ request_id: string }>();
/** Set on loggers that already carry `request_id` in their bindings (Fastify's request loggers). */
export const REQUEST_BOUND = Symbol.for('authledger.log.requestBound');

function mixin(_obj: object, _level: number, logger: unknown): object {
  if ((logger as Record<symbol, unknown> | undefined)?.[REQUEST_BOUND]) return {};
  return logContext.getStore() ?? {};
}

export interface LoggerOptions {
  /** Write here instead of stdout (tests capture lines this way). */
  stream?: DestinationStream;
}

/** Per logger: a sibling without redaction or serializers on the same destination (access lines). */
const accessLoggers = new WeakMap<Logger, Logger>();

/**
 * The logger for per-request access lines (src/http/access-log.ts): same destination, level and
 * `service` base as `log`, but no redaction pass and no serializers — the access line is built
 * only from fields that cannot carry a secret (method, route pattern, status, duration, ids), and
 * the ~70 redact paths were a quarter of the CPU of a request (docs/performance.md).
 * Falls back to `log` itself for a logger not made by createLogger.
 */
export function accessLoggerOf(log: Logger): Logger {
  return accessLoggers.get(log) ?? log;
}

export function createLogger(config: Pick<Config, 'LOG_LEVEL' | 'LOG_DIR' | 'NODE_ENV'>, opts: LoggerOptions = {}): Logger {
  if (config.LOG_LEVEL === 'silent' && !config.LOG_DIR) return pino({ level: 'silent' });
  const level = config.LOG_LEVEL === 'silent' ? 'info' : config.LOG_LEVEL;
  const redact = { paths: REDACT_PATHS, censor: '[redacted]' };
  const streams: pino.StreamEntry[] = [];
  if (config.LOG_LEVEL !== 'silent') {
    if (opts.stream) streams.push({ level, stream: opts.stream });
    else if (process.stdout.isTTY && config.NODE_ENV !== 'production') {
      streams.push({ level, stream: pino.transport({ target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard', ignore: 'pid,hostname,service' } }) });
    } else {
      // pino's asynchronous destination (sonic-boom): lines written while a write is in flight are
      // batched into the next one, and a slow stdout consumer never blocks the event loop. pino
      // flushes it synchronously on process exit (also on process.exit()).
      streams.push({ level, stream: pino.destination({ dest: 1, sync: false }) });
    }
  }
  if (config.LOG_DIR) {
    fs.mkdirSync(config.LOG_DIR, { recursive: true });
    streams.push({ level, stream: pino.destination({ dest: path.join(config.LOG_DIR, 'app.log'), sync: false, mkdir: true }) });
    streams.push({ level: 'error', stream: pino.destination({ dest: path.join(config.LOG_DIR, 'error.log'), sync: false, mkdir: true }) });
  }
  // One destination: no multistream layer per line.
  const destination = streams.length === 1 && streams[0]!.level === level ? streams[0]!.stream as DestinationStream : pino.multistream(streams);
  const base = { service: 'authledger' };
  const log = pino({ level, redact, serializers, mixin, base }, destination);
  accessLoggers.set(log, pino({ level, base }, destination));
  return log;
}
