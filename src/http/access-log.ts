/**
 * Request logging: one access line per request, on completion, instead of Fastify's two
 * ("incoming request" + "request completed"), and request loggers made only when used.
 * Rules:
 * - the line carries method, route pattern (never the raw URL: no query string, no path
 *   parameter, so no credential can reach it), status, duration_ms, request_id and user_id when
 *   the request authenticated; it is written through the access logger (src/infra/logger.ts:
 *   same destination, no redaction pass), as one string built here (`accessFields`, the
 *   method/route part made once per route) and framed by the logger's raw writer — the same line
 *   pino would write, without its per-call object serialisation;
 * - LOG_REQUESTS=all (default): every request at info, 5xx at error; errors: 4xx at info and 5xx
 *   at error, the rest at debug (server-to-server traffic such as /verify and the access check
 *   stays out of the log at the default level); off: no access lines (the error handler's lines
 *   for 5xx still log);
 * - `request.log` still carries request_id; its pino child (pino serialises the bindings) is
 *   made on first use, so a request that logs nothing else costs no child.
 */
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Bindings, ChildLoggerOptions, Logger } from 'pino';
import { rawLineWriterOf, REQUEST_BOUND } from '../infra/logger';

export type LogRequests = 'all' | 'errors' | 'off';

export class AccessLogController extends LogController {
  constructor(private readonly access: Logger, private readonly mode: LogRequests) {
    super({ requestIdLogLabel: 'request_id' });
  }

  override incomingRequest(): void {
    // the one line is written on completion
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) reply.log.error({ err: error, status: reply.statusCode }, 'response failed');
    writeAccessLine(this.access, this.mode, {
      request_id: request.id,
      method: request.method,
      route: request.routeOptions.url,
      status: reply.statusCode,
      duration_ms: reply.elapsedTime,
      user_id: request.auth?.userId,
    }, !!error);
  }
}

export interface AccessLine {
  request_id: string;
  method: string;
  route: string | undefined;
  status: number;
  duration_ms: number;
  user_id: string | undefined;
}

/** The access line of a finished request (the edge's, and the fast path's: src/http/fast-path.ts). */
export function writeAccessLine(access: Logger, mode: LogRequests, line: AccessLine, failed = false): void {
  if (mode === 'off') return;
  const status = line.status;
  const level = status >= 500 || failed ? 'error' : mode === 'errors' && status < 400 ? 'debug' : 'info';
  if (!access.isLevelEnabled(level)) return;
  line.duration_ms = Math.round(line.duration_ms * 1000) / 1000;
  const raw = rawLineWriterOf(access);
  if (raw) raw(level, accessFields(line), 'request', line);
  else access[level](line, 'request');
}

/** `,"method":…,"route":…` per method and route pattern (a bounded set, like the metric's labels). */
const routeParts = new Map<string, string>();

function routePart(method: string, route: string | undefined): string {
  const key = route === undefined ? method : `${method} ${route}`;
  let part = routeParts.get(key);
  if (part === undefined) {
    part = `,"method":${JSON.stringify(method)}${route === undefined ? '' : `,"route":${JSON.stringify(route)}`}`;
    if (routeParts.size >= 10_000) routeParts.clear();
    routeParts.set(key, part);
  }
  return part;
}

/**
 * The line's fields as pino would serialise them, in the same order (request_id, method, route,
 * status, duration_ms, user_id; undefined ones left out, a non-finite number as null):
 * test/http/access-line.unit.test.ts compares the two.
 */
export function accessFields(line: AccessLine): string {
  const d = line.duration_ms;
  return `,"request_id":${JSON.stringify(line.request_id)}${routePart(line.method, line.route)},"status":${Number.isFinite(line.status) ? line.status : null},"duration_ms":${Number.isFinite(d) ? d : null}${line.user_id === undefined ? '' : `,"user_id":${JSON.stringify(line.user_id)}`}`;
}

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** `request.log`: binds request_id on first use (most requests never log through it). */
class LazyRequestLogger {
  private real?: FastifyBaseLogger;
  constructor(private readonly parent: FastifyBaseLogger, private readonly bindings: Bindings, private readonly opts: ChildLoggerOptions) {}

  private get log(): FastifyBaseLogger {
    if (!this.real) {
      this.real = this.parent.child(this.bindings, this.opts);
      (this.real as unknown as Record<symbol, unknown>)[REQUEST_BOUND] = true;
    }
    return this.real;
  }

  get level(): string { return this.real?.level ?? this.opts.level ?? this.parent.level; }
  set level(l: string) { this.log.level = l; }
  isLevelEnabled(l: string): boolean { return (this.log as unknown as Logger).isLevelEnabled(l); }
  child(b: Bindings, o?: ChildLoggerOptions): FastifyBaseLogger { return this.log.child(b, o); }
  fatal(...a: unknown[]) { this.call('fatal', a); }
  error(...a: unknown[]) { this.call('error', a); }
  warn(...a: unknown[]) { this.call('warn', a); }
  info(...a: unknown[]) { this.call('info', a); }
  debug(...a: unknown[]) { this.call('debug', a); }
  trace(...a: unknown[]) { this.call('trace', a); }
  silent() {}

  private call(level: Level, args: unknown[]): void {
    // Below the level: no child is made at all.
    if (!(this.parent as unknown as Logger).isLevelEnabled(level) && this.opts.level === undefined && !this.real) return;
    (this.log[level] as (...x: unknown[]) => void)(...args);
  }
}

/** Fastify `childLoggerFactory`: a lazy request logger. */
export function lazyRequestLogger(logger: FastifyBaseLogger, bindings: Bindings, opts: ChildLoggerOptions): FastifyBaseLogger {
  return new LazyRequestLogger(logger, bindings, opts) as unknown as FastifyBaseLogger;
}
