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
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import replyFrom from '@fastify/reply-from';
import { domainError, errors } from '../errors';
import { isReservedServiceName } from '../events/service';
import { upstreamHeaders, upstreamPath } from './headers';
import type { Target } from './upstreams';
import { statusOf, toDomainError } from '../http/problem';
import { attachWebSocketPassthrough } from './ws';
import { gatewayUpstreamErrors, observeAnswer } from './metrics';
import { keepRelayedCaching } from '../http/cache-control';

const RETRY_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'] as const;

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
    const done = (status: number) => observeAnswer(name, status, (performance.now() - started) / 1000);
    try {
      const len = Number(request.headers['content-length'] ?? 0);
      if (bodyLimit && len > bodyLimit) throw domainError('body_too_large', 'The request body is larger than this gateway accepts.');
      const identity = await gw.access.authorize(request.headers, spec);
      // No promise for what is known at once: services without limits, static upstreams.
      const limited = gw.limit(spec, identity, request.ip);
      if (limited) await limited;
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
      const headersOut = upstreamHeaders(request.headers, spec, identity, {
        requestId: String(request.id),
        forwardedFor: [...request.ips ?? [request.ip]].reverse().join(', '),
        proto: request.protocol,
        host: request.host,
      });
      const retryable = RETRY_METHODS.has(request.method) && !hasBody(request);
      const tried = new Set<Target>();

      const attempt = (target: Target, left: number) => {
        tried.add(target);
        target.inFlight++;
        let released = false;
        const release = () => {
          if (!released) {
            released = true;
            target.inFlight--;
          }
        };
        const retry = async (): Promise<boolean> => {
          if (!retryable || left <= 0 || reply.sent) return false;
          const next = (await pool.pick(tried)) ?? (await pool.pick());
          if (!next) return false;
          attempt(next, left - 1);
          return true;
        };
        reply.from(`${target.base}${path}`, {
          timeout: spec.timeout_ms,
          rewriteRequestHeaders: (_req, h) => {
            headersOut.host = h.host;
            return headersOut;
          },
          onResponse: (_req, rep, res) => {
            const status = res.statusCode;
            if (status >= 502 && status <= 504) gatewayUpstreamErrors.inc({ service: name, kind: String(status) });
            if (status >= 502 && status <= 504 && retryable && left > 0) {
              void (async () => {
                const stream = res.stream as NodeJS.ReadableStream & { destroy(): void };
                const headers = Object.keys((res as unknown as { headers: Record<string, unknown> }).headers);
                if (await retry()) {
                  stream.destroy();
                  for (const h of headers) rep.removeHeader(h);
                  release();
                } else {
                  done(status);
                  keepRelayedCaching(rep);
                  stream.on('close', release);
                  rep.send(stream);
                }
              })();
              return;
            }
            done(status);
            keepRelayedCaching(rep);
            const stream = res.stream as NodeJS.ReadableStream;
            stream.on('close', release);
            stream.on('end', release);
            rep.send(stream);
          },
          onError: (rep, { error }) => {
            release();
            const kind = classify(error as Parameters<typeof classify>[0]);
            gatewayUpstreamErrors.inc({ service: name, kind });
            if (kind === 'refused' || kind === 'reset') pool.noteFailure(target, kind);
            void (async () => {
              if (kind !== 'timeout' && await retry()) return;
              const err = kind === 'timeout'
                ? domainError('upstream_timeout', `The service ${name} did not answer within ${spec.timeout_ms} ms.`)
                : domainError('upstream_failed', `The service ${name} could not be reached.`, { detail: `${kind}: ${(error as Error).message}` });
              done(kind === 'timeout' ? 504 : 502);
              rep.send(err);
            })();
          },
        });
      };
      attempt(first, spec.retries);
      return reply;
    } catch (err) {
      done(statusOf(toDomainError(err)));
      throw err;
    }
  }

  attachWebSocketPassthrough(app, prefix);
  // Answers relayed from an upstream keep its caching headers; the gateway's own (401, 404, 502…)
  // get no-store like every other answer of this server (src/http/cache-control.ts).
  const config = { rateLimit: false, securityHeaders: 'errors', cacheControl: 'relayed' } as const;
  for (const url of [`${prefix}/:service`, `${prefix}/:service/*`]) {
    app.route({ method: [...METHODS], url, config, schema: { hide: true }, handler });
  }
}
