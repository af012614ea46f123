/**
 * pino logger: JSON, pretty on a terminal, optional files (LOG_DIR/app.log, LOG_DIR/error.log),
 * secrets redacted wherever they appear in a logged object.
 * Rules:
 * - credential headers, cookies and secret-named fields (SECRET_NAMES, any letter case) are
 *   replaced by "[redacted]" at every level of a logged object, of an error's own fields and of a
 *   child logger's bindings, to the copy's depth (redactDeep: 5 levels; below that, nothing is
 *   logged but "[truncated]"). It is done in the copy the shape masking below makes anyway: pino's
 *   own `redact` option (~70 paths with wildcards, parsed again on every call by @pinojs/redact)
 *   cost 75–100 µs per line, more than everything else a line costs (docs/performance.md);
 * - query-string values under a credential-like name (token, ticket, key, password, code…) are
 *   masked in logged URLs, and credential-shaped values (API keys, JWTs, refresh/mailed tokens:
 *   CREDENTIAL_SHAPES) are masked wherever they appear — any URL part, header, field or error
 *   message, percent-encoded or not (issue 20 §6);
 * - access lines (one per request, src/http/access-log.ts) go through a sibling logger without
 *   redaction: they carry only the route pattern, never the raw URL or headers; its raw writer
 *   (rawLineWriterOf) frames a pre-serialised line exactly as pino would (level, time, bindings,
 *   msg) and writes it to the same destination;
 * - request log lines carry `request_id`: Fastify binds it on `request.log`, and any other logger
 *   (e.g. `services.log`) used while handling a request adds it from `logContext` (src/http/app.ts
 *   enters it per request).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import path from 'node:path';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { Config } from '../config';
import { LineBatch } from './line-batch';

/** Field names whose values are secrets, wherever they appear. */
export const SECRET_KEYS = [
  'password', 'current_password', 'new_password', 'passwordHash', 'password_hash',
  'refresh_token', 'refreshToken', 'access_token', 'accessToken', 'token', 'api_key', 'apiKey',
  'ticket', 'secret', 'client_secret', 'authorization', 'cookie', 'pepper', 'privateKey', 'private_key',
];

/** Header names that carry credentials (also redacted wherever they appear as a field name). */
const SECRET_HEADERS = ['authorization', 'cookie', 'set-cookie', 'access-token', 'api-key', 'x-api-key', 'sec-websocket-protocol', 'proxy-authorization'];

/** Field names whose values are never logged, compared in lower case. */
export const SECRET_NAMES: ReadonlySet<string> = new Set([...SECRET_KEYS, ...SECRET_HEADERS].map((k) => k.toLowerCase()));
const isSecretName = (k: string) => SECRET_NAMES.has(k.toLowerCase());
const REDACTED = '[redacted]';

const SECRET_QUERY = /^(.*(token|ticket|key|password|secret|code|signature).*)$/i;

/**
 * Credentials by their shape, whatever field or parameter carries them (issue 20 §6):
 * - an API key (`alk_…`, also truncated or malformed: anything after the prefix);
 * - a JWT (a base64url JSON header `eyJ…`, a payload, and a signature that may be empty: alg none);
 * - a refresh token or a mailed token (`<uuid>.<43 base64url chars>`).
 * The patterns are linear (no nested quantifiers), so hostile input cannot make them slow.
 */
export const CREDENTIAL_SHAPES: ReadonlyArray<{ kind: 'api_key' | 'jwt' | 'refresh_token'; re: RegExp }> = [
  { kind: 'api_key', re: /alk_[A-Za-z0-9_-]{4,}/g },
  { kind: 'jwt', re: /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g },
  { kind: 'refresh_token', re: /[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\.[A-Za-z0-9_-]{43}/g },
];
const ANY_CREDENTIAL = new RegExp(CREDENTIAL_SHAPES.map((c) => c.re.source).join('|'), 'g');

/** `s` with every credential-shaped run replaced by "[redacted]". */
export function redactSecrets(s: string): string {
  return s.replace(ANY_CREDENTIAL, REDACTED);
}

/** The kind of the first credential-shaped run in `s` (after percent-decoding), or undefined. */
export function credentialShapeIn(s: string): 'api_key' | 'jwt' | 'refresh_token' | undefined {
  const texts = [s];
  if (s.includes('%') || s.includes('+')) texts.push(safeDecode(s.replace(/\+/g, ' ')));
  for (const text of texts) {
    for (const c of CREDENTIAL_SHAPES) {
      c.re.lastIndex = 0;
      if (c.re.test(text)) return c.kind;
    }
  }
  return undefined;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    // Decode what can be decoded: a stray % must not hide an encoded secret.
    return s.replace(/(%[0-9A-Fa-f]{2})+/g, (m) => {
      try {
        return decodeURIComponent(m);
      } catch {
        return m;
      }
    });
  }
}

/** A URL part (path segment, name or value) with secrets masked, also when percent-encoded. */
function redactPart(part: string): string {
  return credentialShapeIn(part) ? REDACTED : part;
}

/**
 * Masks credentials in a logged URL: query values whose parameter name looks secret (token,
 * ticket, key, password, code…), and any path segment, parameter name or value shaped like a
 * credential (redactSecrets), percent-encoded or not:
 * `/ws?ticket=abc&x=1` → `/ws?ticket=[redacted]&x=1`, `/a?q=alk_…` → `/a?q=[redacted]`.
 */
export function redactUrl(url: string): string {
  const i = url.indexOf('?');
  const path = (i < 0 ? url : url.slice(0, i)).split('/').map(redactPart).join('/');
  if (i < 0) return path;
  const params = url.slice(i + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=');
    if (eq < 0) return redactPart(pair);
    const key = pair.slice(0, eq);
    const name = safeDecode(key);
    if (SECRET_QUERY.test(name)) return `${redactPart(key)}=[redacted]`;
    return `${redactPart(key)}=${redactPart(pair.slice(eq + 1))}`;
  });
  return `${path}?${params.join('&')}`;
}

/**
 * A copy of a logged value to a bounded depth: secret-named fields (SECRET_NAMES) replaced by
 * "[redacted]", credential-shaped strings masked. Objects are copied as JSON.stringify would write
 * them (own enumerable fields), so class instances and nested errors are masked too; values with a
 * `toJSON` (dates, buffers) are left as they are. A field that cannot be read is logged as such.
 */
export function redactDeep(value: unknown, depth = 5): unknown {
  if (typeof value === 'string') return looksLikeUrl(value) ? redactUrl(value) : redactSecrets(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth <= 0) return '[truncated]';
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth - 1));
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return value;
  return copyFields(value, (v) => redactDeep(v, depth - 1));
}

/** `o`'s own fields, names masked, secret-named values redacted, the others through `each`. */
function copyFields(o: object, each: (v: unknown, k: string) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) out[redactSecrets(k)] = isSecretName(k) ? REDACTED : each(field(o, k), k);
  return out;
}

function field(o: object, k: string): unknown {
  try {
    return (o as Record<string, unknown>)[k];
  } catch {
    return '[unreadable]';
  }
}

const looksLikeUrl = (s: string) => (s.startsWith('/') || /^[a-z][a-z0-9+.-]*:\/\//i.test(s)) && s.length < 8192 && !s.includes(' ');

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
    user_agent: typeof req.headers?.['user-agent'] === 'string' ? redactSecrets(req.headers['user-agent']) : undefined,
  }),
  res: (res: { statusCode?: number }) => ({ status: res.statusCode }),
  // Error messages and stacks can quote a URL or a header (a failed fetch, a driver error).
  err: (err: Error) => redactDeep({ ...pino.stdSerializers.err(err) }) as ReturnType<typeof pino.stdSerializers.err>,
  // The message itself (`log.warn(\`fetch \${url} failed\`)`).
  msg: (msg: unknown) => (typeof msg === 'string' ? redactSecrets(msg) : msg),
};

/** Every logged object (not access lines) passes here: credential-shaped strings in any field, header or URL are masked. */
const formatters: pino.LoggerOptions['formatters'] = {
  // req/res/err have serializers of their own (above), which run after this.
  log: (obj) => copyFields(obj, (v, k) => (k === 'req' || k === 'res' || k === 'err' ? v : redactDeep(v))),
  // A child logger's bindings are written on each of its lines: the same copy, once per child.
  bindings: (bindings) => redactDeep(bindings) as Record<string, unknown>,
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
 * its copy for redaction was a quarter of the CPU of a request (docs/performance.md).
 * Falls back to `log` itself for a logger not made by createLogger.
 */
export function accessLoggerOf(log: Logger): Logger {
  return accessLoggers.get(log) ?? log;
}

/**
 * Writes a line whose fields are already JSON (`,"a":1,"b":"x"`, without the closing brace) the
 * way `logger[level](fields, msg)` would: the same level number, time, bindings and `msg`, to the
 * same destination (multistream's level routing included), without pino's per-call object
 * serialisation. For access lines (src/http/access-log.ts), whose few fields are known.
 */
export type RawLineWriter = (level: 'error' | 'info' | 'debug', fields: string, msg: string, obj: object) => void;

const rawWriters = new WeakMap<Logger, RawLineWriter>();

/** The raw writer of an access logger made by createLogger (undefined for any other logger). */
export function rawLineWriterOf(access: Logger): RawLineWriter | undefined {
  return rawWriters.get(access);
}

type PinoInternals = Record<symbol, unknown>;

/** pino's own framing of `logger`: its level prefixes, time function, bindings and stream (pino.symbols). */
function rawLineWriter(logger: Logger): RawLineWriter {
  const internals = logger as unknown as PinoInternals;
  const { chindingsSym, timeSym, timeSliceIndexSym, streamSym, needsMetadataGsym, messageKeySym } = pino.symbols;
  const bindings = internals[chindingsSym] as string;
  const time = internals[timeSym] as () => string;
  const timeSlice = internals[timeSliceIndexSym] as number;
  const msgKey = `,${JSON.stringify(internals[messageKeySym])}:`;
  let lastMsg = '';
  let msgPart = `${msgKey}""}\n`;
  const stream = internals[streamSym] as DestinationStream & Record<string | symbol, unknown>;
  const needsMetadata = stream[needsMetadataGsym] === true;
  const levelOf = { error: logger.levels.values.error!, info: logger.levels.values.info!, debug: logger.levels.values.debug! };
  const opening = { error: `{"level":${levelOf.error}`, info: `{"level":${levelOf.info}`, debug: `{"level":${levelOf.debug}` };
  return (level, fields, msg, obj) => {
    const t = time();
    if (needsMetadata) {
      // What pino tells a multistream (it routes by lastLevel) before each write.
      stream.lastLevel = levelOf[level];
      stream.lastObj = obj;
      stream.lastMsg = msg;
      stream.lastTime = t.slice(timeSlice);
      stream.lastLogger = logger;
    }
    if (msg !== lastMsg) {
      lastMsg = msg;
      msgPart = `${msgKey}${JSON.stringify(msg)}}\n`;
    }
    stream.write(opening[level] + t + bindings + fields + msgPart);
  };
}

/**
 * Lines are written in blocks of at least 4 KiB, and at least every 100 ms: one access line per
 * request was one write (a thread-pool task and a syscall) per request, the largest single cost of
 * a proxied request (issue 14, docs/gateway.md) and a fifth of the CPU of /verify (issue 12). A line
 * waits at most 100 ms; on exit (process.exit, an uncaught exception, SIGTERM's graceful stop) pino
 * writes what is buffered synchronously, so only a SIGKILL can lose the last 100 ms. Before that,
 * the lines of one turn of the event loop are joined into one write (src/infra/line-batch.ts,
 * which hands them over on exit too).
 */
export const LOG_BATCH = { minLength: 4096, flushMs: 100 } as const;
const BATCHED = { minLength: LOG_BATCH.minLength, periodicFlush: LOG_BATCH.flushMs };

/**
 * A log file opened synchronously, so its destination is ready at once: given a path, sonic-boom
 * opens the file asynchronously, and a process that exits before the open completes (a CLI
 * command, a failed start) crashed in pino's exit flush with "sonic boom is not ready yet".
 * Appending, owner and group only (logs may hold user ids and addresses).
 */
function fileDestination(file: string): DestinationStream {
  const fd = fs.openSync(file, 'a', 0o640);
  return new LineBatch(pino.destination({ dest: fd, sync: false, ...BATCHED }));
}

export function createLogger(config: Pick<Config, 'LOG_LEVEL' | 'LOG_DIR' | 'NODE_ENV'>, opts: LoggerOptions = {}): Logger {
  if (config.LOG_LEVEL === 'silent' && !config.LOG_DIR) return pino({ level: 'silent' });
  const level = config.LOG_LEVEL === 'silent' ? 'info' : config.LOG_LEVEL;
  const streams: pino.StreamEntry[] = [];
  if (config.LOG_LEVEL !== 'silent') {
    if (opts.stream) streams.push({ level, stream: opts.stream });
    else if (process.stdout.isTTY && config.NODE_ENV !== 'production') {
      streams.push({ level, stream: pino.transport({ target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard', ignore: 'pid,hostname,service' } }) });
    } else {
      // pino's asynchronous destination (sonic-boom): lines written while a write is in flight are
      // batched into the next one, and a slow stdout consumer never blocks the event loop. pino
      // flushes it synchronously on process exit (also on process.exit()). Lines reach it joined
      // per turn of the event loop (src/infra/line-batch.ts).
      streams.push({ level, stream: new LineBatch(pino.destination({ dest: 1, sync: false, ...BATCHED })) });
    }
  }
  if (config.LOG_DIR) {
    fs.mkdirSync(config.LOG_DIR, { recursive: true });
    streams.push({ level, stream: fileDestination(path.join(config.LOG_DIR, 'app.log')) });
    streams.push({ level: 'error', stream: fileDestination(path.join(config.LOG_DIR, 'error.log')) });
  }
  // One destination: no multistream layer per line.
  const destination = streams.length === 1 && streams[0]!.level === level ? streams[0]!.stream as DestinationStream : pino.multistream(streams);
  const base = { service: 'authledger' };
  const log = pino({ level, serializers, formatters, mixin, base }, destination);
  const access = pino({ level, base }, destination);
  accessLoggers.set(log, access);
  rawWriters.set(access, rawLineWriter(access));
  return log;
}
