/**
 * The gateway proxy (role `gateway`, issue 14): `GATEWAY_PREFIX/{service}/…` to the service's
 * upstreams through @fastify/reply-from (undici pools, keep-alive). An encapsulated plugin: its
 * catch-all body parser and reply-from stay inside it (reply-from and @fastify/multipart conflict
 * as siblings). Rules:
 * - the service must be registered (else 404 like any unknown route); its policy is checked
 *   first (src/gateway/access.ts), then its rate limits, then a healthy upstream is chosen (none:
 *   503 no_healthy_upstream at once, nothing is tried);
 * - bodies stream both ways, never buffered; a request body over GATEWAY_BODY_LIMIT_BYTES is
 *   refused (413: up front by Content-Length, or when the streamed count passes it);
 * - idempotent methods without a body (GET, HEAD, OPTIONS, TRACE, PUT/DELETE without a body are
 *   not retried: only the first four) are retried up to `retries` times on another healthy
 *   upstream after a refused/reset connection or a 502/503/504 answer; a timeout is not retried,
 *   so a slow upstream answers 504 within `timeout_ms`;
 * - failures answer problem+json with the request id: 502 upstream_failed, 504 upstream_timeout;
 *   an upstream's own answer (any other status, 5xx included) is passed through as it is;
 * - upstream TLS certificates are verified (reply-from's default would not).
 */
import { Transform } from 'node:stream';
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import replyFrom from '@fastify/reply-from';
import { domainError, errors } from '../errors';
import { isReservedServiceName, type ServiceSpec } from '../events/service';
import { upstreamHeaders, upstreamPath } from './headers';
import type { Target, UpstreamPool } from './upstreams';
import { statusOf, toDomainError } from '../http/problem';
import { attachWebSocketPassthrough } from './ws';
import { gatewayUpstreamErrors, observeAnswer } from './metrics';
import { keepRelayedCaching } from '../http/cache-control';

declare module 'fastify' {
  interface FastifyRequest {
    /** The proxied call in progress (gateway routes only). */
    gatewayCall: ProxyCall | null;
  }
}

const RETRY_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'] as const;
const CALL = Symbol('gatewayCall');

function hasBody(request: FastifyRequest): boolean {
  const len = request.headers['content-length'];
  return (len !== undefined && len !== '0') || request.headers['transfer-encoding'] !== undefined;
}

/** Counts a streamed body and fails it past the limit (never buffers). */
function limited(payload: NodeJS.ReadableStream, limit: number): NodeJS.ReadableStream {
  if (!limit) return payload;
  let seen = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > limit) cb(domainError('body_too_large', 'The request body is larger than this gateway accepts.'));
      else cb(null, chunk);
    },
  });
  payload.on('error', (err) => t.destroy(err));
  return payload.pipe(t);
}

function classify(error: Error & { code?: string; cause?: { code?: string } }): 'timeout' | 'refused' | 'reset' | 'other' {
  const code = error.cause?.code ?? error.code ?? '';
  if (/TIMEOUT/i.test(code) || error.name === 'GatewayTimeoutError') return code === 'UND_ERR_CONNECT_TIMEOUT' ? 'refused' : 'timeout';
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN/.test(code)) return 'refused';
  if (/ECONNRESET|UND_ERR_SOCKET|EPIPE|UND_ERR_CLOSED/.test(code) || /ConnectionReset|SocketError/.test(error.name)) return 'reset';
  return 'other';
}

/**
 * One proxied request: what every attempt needs, kept on the request (`request.gatewayCall`) so
 * that reply-from gets the same static callbacks for every request (no closures made per request).
 */
class ProxyCall {
  target: Target | undefined;
  /** Targets already tried (made on the first retry only). */
  tried: Set<Target> | undefined;

  constructor(
    readonly name: string,
    readonly spec: ServiceSpec,
    readonly pool: UpstreamPool,
    readonly path: string,
    readonly headers: IncomingHttpHeaders,
    readonly retryable: boolean,
    readonly started: number,
    public left: number,
  ) {}

  /** Sends the request to `target` (an attempt; retries come back here with another target). */
  attempt(reply: FastifyReply, target: Target): void {
    this.target = target;
    target.inFlight++;
    reply.from(`${target.base}${this.path}`, fromOptions(this.spec));
  }

  /** The current target is no longer in flight (idempotent per attempt). */
  release(): void {
    const t = this.target;
    if (t) {
      this.target = undefined;
      t.inFlight--;
    }
  }

  /** The answer's metrics (status class, seconds to its headers or to the gateway's refusal). */
  done(status: number): void {
    observeAnswer(this.name, status, (performance.now() - this.started) / 1000);
  }

  /** Another healthy target for an idempotent request, if any and any retries are left. */
  async retry(reply: FastifyReply): Promise<boolean> {
    if (!this.retryable || this.left <= 0 || reply.sent) return false;
    const failed = this.target;
    this.release();
    if (failed) (this.tried ??= new Set()).add(failed);
    const next = (await this.pool.pick(this.tried)) ?? (await this.pool.pick());
    if (!next) return false;
    this.left--;
    this.attempt(reply, next);
    return true;
  }
}

type From = NonNullable<Parameters<FastifyReply['from']>[1]>;

// reply-from's options per service definition: the same object (and the same static callbacks)
// for every request to it; a new definition (a new spec object) gets its own.
const optionsBySpec = new WeakMap<ServiceSpec, From>();
function fromOptions(spec: ServiceSpec): From {
  let o = optionsBySpec.get(spec);
  if (!o) {
    o = { timeout: spec.timeout_ms, rewriteRequestHeaders, onResponse, onError } as From;
    optionsBySpec.set(spec, o);
  }
  return o;
}

function rewriteRequestHeaders(request: FastifyRequest, h: IncomingHttpHeaders): IncomingHttpHeaders {
  const out = request.gatewayCall!.headers;
  out.host = h.host;
  return out;
}

/** The upstream's body ended or was destroyed (the client went away): the target is free. */
function releaseOnClose(this: { [CALL]?: ProxyCall }): void {
  this[CALL]?.release();
}

function relay(call: ProxyCall, reply: FastifyReply, stream: NodeJS.ReadableStream, status: number): void {
  call.done(status);
  keepRelayedCaching(reply);
  (stream as unknown as { [CALL]?: ProxyCall })[CALL] = call;
  stream.on('close', releaseOnClose);
  reply.send(stream);
}

function onResponse(request: FastifyRequest, reply: FastifyReply, res: { statusCode: number; headers?: Record<string, unknown>; stream: unknown }): void {
  const call = request.gatewayCall!;
  const status = res.statusCode;
  const stream = res.stream as NodeJS.ReadableStream & { destroy(): void };
  if (status >= 502 && status <= 504) {
    gatewayUpstreamErrors.inc({ service: call.name, kind: String(status) });
    if (call.retryable && call.left > 0) {
      void retryAfterAnswer(call, reply, stream, status, Object.keys((res as { headers: Record<string, unknown> }).headers));
      return;
    }
  }
  relay(call, reply, stream, status);
}

async function retryAfterAnswer(call: ProxyCall, reply: FastifyReply, stream: NodeJS.ReadableStream & { destroy(): void }, status: number, headers: string[]): Promise<void> {
  const target = call.target;
  if (await call.retry(reply)) {
    stream.destroy();
    for (const h of headers) reply.removeHeader(h);
  } else {
    // Nothing else to try: the upstream's own answer goes out (the target stays in flight until it ends).
    if (!call.target && target) {
      call.target = target;
      target.inFlight++;
    }
    relay(call, reply, stream, status);
  }
}

function onError(reply: FastifyReply, { error }: { error: Error }): void {
  const call = reply.request.gatewayCall!;
  const target = call.target;
  const kind = classify(error as Parameters<typeof classify>[0]);
  gatewayUpstreamErrors.inc({ service: call.name, kind });
  if (target && (kind === 'refused' || kind === 'reset')) call.pool.noteFailure(target, kind);
  void failOrRetry(call, reply, kind, error);
}

async function failOrRetry(call: ProxyCall, reply: FastifyReply, kind: ReturnType<typeof classify>, error: Error): Promise<void> {
  if (kind !== 'timeout' && await call.retry(reply)) return;
  call.release();
  const { name, spec } = call;
  const err = kind === 'timeout'
    ? domainError('upstream_timeout', `The service ${name} did not answer within ${spec.timeout_ms} ms.`)
    : domainError('upstream_failed', `The service ${name} could not be reached.`, { detail: `${kind}: ${error.message}` });
  call.done(kind === 'timeout' ? 504 : 502);
  reply.send(err);
}

export async function gatewayProxy(app: FastifyInstance, opts: { mountPath: string }): Promise<void> {
  const prefix = opts.mountPath; // not `prefix`: Fastify would prefix the routes with it
  const gw = app.gateway;
  const bodyLimit = app.config.GATEWAY_BODY_LIMIT_BYTES;
  await gw.ready();

  await app.register(replyFrom, {
    // The upstream URL of a request is parsed once per distinct URL (a bounded LRU of 100).
    disableRequestLogging: true,
    undici: { connections: 256, pipelining: 1, keepAliveTimeout: 30_000, tls: { rejectUnauthorized: true } } as never,
  });
  app.decorateRequest('gatewayCall', null);

  // Inside this plugin only: every body is a stream handed on as it comes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, limited(payload, bodyLimit)));

  async function handler(request: FastifyRequest<{ Params: { service: string } }>, reply: FastifyReply) {
    const name = request.params.service;
    const entry = isReservedServiceName(name) ? undefined : gw.service(name);
    const mount = `${prefix}/${name}`;
    const raw = request.raw.url ?? '';
    if (!entry || !(raw === mount || raw.startsWith(`${mount}/`) || raw.startsWith(`${mount}?`))) {
      throw errors.notFound(`No route ${request.method} ${prefix}/${name}.`, 'route_not_found');
    }
    const { spec } = entry;
    const started = performance.now();
    try {
      const len = request.headers['content-length'];
      if (bodyLimit && len !== undefined && Number(len) > bodyLimit) throw domainError('body_too_large', 'The request body is larger than this gateway accepts.');
      const identity = await gw.access.authorize(request.headers, spec);
      // No promise for what is known at once: services without limits, static upstreams.
      const limits = gw.limit(spec, identity, request.ip);
      if (limits) await limits;
      const pool = gw.pool(name);
      const picked = pool?.pick();
      const first = picked instanceof Promise ? await picked : picked;
      if (!pool || !first) throw domainError('no_healthy_upstream', `No healthy upstream of the service ${name}; retry later.`, { retryAfterSeconds: 1 });

      let path: string;
      try {
        path = upstreamPath(raw, mount, spec);
        decodeURIComponent(path);
      } catch {
        throw errors.badRequest('The request URL is malformed.', 'bad_url');
      }
      const ips = request.ips;
      const headers = upstreamHeaders(request.headers, spec, identity, {
        requestId: String(request.id),
        forwardedFor: !ips ? request.ip : ips.length === 1 ? ips[0]! : [...ips].reverse().join(', '),
        proto: request.protocol,
        host: request.host,
      });
      const retryable = RETRY_METHODS.has(request.method) && !hasBody(request);
      const call = new ProxyCall(name, spec, pool, path, headers, retryable, started, spec.retries);
      request.gatewayCall = call;
      call.attempt(reply, first);
      return reply;
    } catch (err) {
      observeAnswer(name, statusOf(toDomainError(err)), (performance.now() - started) / 1000);
      throw err;
    }
  }

  attachWebSocketPassthrough(app, prefix);
  // Answers relayed from an upstream keep its caching headers; the gateway's own (401, 404, 502…)
  // get no-store like every other answer of this server (src/http/cache-control.ts).
  // No per-request log context on the API port either (src/http/edge.ts): nothing here needs it.
  const config = { rateLimit: false, securityHeaders: 'errors', cacheControl: 'relayed', requestContext: 'off' } as const;
  for (const url of [`${prefix}/:service`, `${prefix}/:service/*`]) {
    app.route({ method: [...METHODS], url, config, schema: { hide: true }, handler });
  }
}
