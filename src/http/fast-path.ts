/**
 * The fast path (issue 12): the plain success answers of the hottest server-to-server routes
 * (forward auth, the access check) written with node's http directly, before Fastify routes the
 * request. Rules:
 * - a fast handler answers only what it can prove is a 200; for anything else it returns
 *   undefined and the request goes to Fastify unchanged, which answers it as it always did
 *   (errors, problem+json, policies, CORS, HEAD, OPTIONS…). So every refusal keeps its one
 *   implementation; a handler may read (caches, Redis) before it hands a request on, never write;
 * - only exact paths with simple segments (no query, no percent-encoding, no trailing slash) and
 *   requests without a body (no Content-Type, Transfer-Encoding or non-zero Content-Length, no
 *   Expect) are tried; while the app closes, none is; the route a method and URL match (a pure
 *   function of them) is remembered, for URLs up to 256 characters, 10,000 per method;
 * - a 200 carries what Fastify's would: the request id (kept when sane, else a UUID), the route's
 *   headers, `X-Process-Time`, the JSON content type; one access line (LOG_REQUESTS) and one
 *   latency observation with the route pattern, as the edge writes them;
 * - test/http/fast-path.int.test.ts sends the same requests both ways and compares the answers.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { writeAccessLine, type LogRequests } from './access-log';
import { credentialShapeIn } from '../infra/logger';
import { requestIdOf } from './edge';

/** A 200 a fast handler proves: the route's own headers, the JSON body, the user for the access line. */
export interface FastAnswer {
  headers: Record<string, string>;
  body: string;
  userId?: string;
}

/**
 * Answers a request, or undefined to hand it to Fastify; at once when it can (no promise), else
 * later. May throw or reject: the request then goes to Fastify too.
 */
export type FastHandler = (req: IncomingMessage, params: Readonly<Record<string, string>>) => FastAnswer | undefined | Promise<FastAnswer | undefined>;

interface FastRoute {
  method: string;
  /** The route pattern, as Fastify names it (the access line's and the metric's `route`). */
  pattern: string;
  segments: string[];
  /** Has `:param` segments: a credential-shaped URL goes to Fastify (which refuses it, ./edge.ts). */
  parametric: boolean;
  handler: FastHandler;
}

/** A path segment the fast path takes as it is (anything else, e.g. percent-encoded, goes to Fastify). */
const SIMPLE_SEGMENT = /^[A-Za-z0-9._~-]{1,200}$/;
const JSON_TYPE = 'application/json; charset=utf-8';
/** Headers `send` sets itself (in first or last place). */
const OURS = new Set(['x-request-id', 'content-type', 'x-process-time', 'content-length']);
/** URLs whose match is remembered, per method (then it starts over). */
const MATCHES_KEPT = 10_000;
const MATCHED_URL_MAX = 256;

interface Match {
  route: FastRoute;
  /** Shared by every request to the same URL: read only. */
  params: Readonly<Record<string, string>>;
}

export type ObserveRequest = (method: string, route: string, status: number, seconds: number) => void;

export class FastPath {
  private readonly routes: FastRoute[] = [];
  /** `match` by method and URL, remembered (a pure function of them; bounded, and emptied by `add`). */
  private readonly matched = new Map<string, Map<string, Match | null>>();
  private closing = false;
  /** Off: every request goes to Fastify (the equivalence test compares both ways). */
  enabled = true;
  /** Requests the fast path answered (diagnostics, tests). */
  answered = 0;
  /** Set by the metrics plugin (src/http/plugins/metrics.ts). */
  observe: ObserveRequest = () => undefined;

  constructor(private readonly access: Logger, private readonly mode: LogRequests) {}

  /** A fast handler for `method pattern` (`:name` segments become params). */
  add(method: string, pattern: string, handler: FastHandler): void {
    this.routes.push({ method, pattern, segments: pattern.split('/'), parametric: pattern.includes('/:'), handler });
    this.matched.clear();
  }

  /** From now on every request goes to Fastify (its preClose: it answers 503 while closing). */
  close(): void {
    this.closing = true;
  }

  /** Puts the fast path in front of `app`'s request handler on its server. */
  install(app: FastifyInstance): void {
    const server = app.server as Server;
    const [fastify, ...others] = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
    if (!fastify || others.length) throw new Error('fast path: expected exactly one request listener (Fastify\'s)');
    server.removeListener('request', fastify);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (!this.tryAnswer(req, res, fastify)) fastify(req, res);
    });
    app.addHook('preClose', (done) => {
      this.close();
      done();
    });
  }

  private match(req: IncomingMessage): Match | undefined {
    const method = req.method ?? '';
    const url = req.url ?? '';
    let byUrl = this.matched.get(method);
    const known = byUrl?.get(url);
    if (known !== undefined) return known ?? undefined;
    const found = this.matchNow(method, url);
    if (url.length > MATCHED_URL_MAX) return found;
    if (!byUrl) this.matched.set(method, (byUrl = new Map()));
    if (byUrl.size >= MATCHES_KEPT) byUrl.clear();
    byUrl.set(url, found ?? null);
    return found;
  }

  private matchNow(method: string, url: string): Match | undefined {
    if (url.includes('?')) return undefined;
    let parts: string[] | undefined;
    for (const route of this.routes) {
      if (route.method !== method) continue;
      parts ??= url.split('/');
      if (parts.length !== route.segments.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 1; i < parts.length && ok; i++) {
        const want = route.segments[i]!;
        const got = parts[i]!;
        if (want.startsWith(':')) {
          if (SIMPLE_SEGMENT.test(got)) params[want.slice(1)] = got;
          else ok = false;
        } else ok = want === got;
      }
      if (ok && parts[0] === '' && !(route.parametric && credentialShapeIn(url))) return { route, params: Object.freeze(params) };
    }
    return undefined;
  }

  private tryAnswer(req: IncomingMessage, res: ServerResponse, fastify: (req: IncomingMessage, res: ServerResponse) => void): boolean {
    if (!this.enabled || this.closing || this.routes.length === 0) return false;
    const h = req.headers;
    if (h['content-type'] !== undefined || h['transfer-encoding'] !== undefined || h.expect !== undefined) return false;
    if (h['content-length'] !== undefined && h['content-length'] !== '0') return false;
    const found = this.match(req);
    if (!found) return false;
    const start = performance.now();
    let answer: ReturnType<FastHandler>;
    try {
      answer = found.route.handler(req, found.params);
    } catch {
      return false;
    }
    if (answer === undefined) return false;
    if (answer instanceof Promise) {
      answer.then(
        (a) => (a ? this.send(req, res, found.route, a, start) : fastify(req, res)),
        () => fastify(req, res),
      );
    } else this.send(req, res, found.route, answer, start);
    return true;
  }

  private send(req: IncomingMessage, res: ServerResponse, route: FastRoute, answer: FastAnswer, start: number): void {
    const requestId = requestIdOf(req.headers);
    const elapsedMs = performance.now() - start;
    // A flat name/value list, as `{ 'x-request-id', ...answer.headers, <ours> }` would give (an
    // answer's own x-request-id wins, ours come last): no object copy per answer.
    const own = answer.headers;
    const head: string[] = ['x-request-id', own['x-request-id'] ?? requestId];
    for (const name in own) if (!OURS.has(name)) head.push(name, own[name]!);
    head.push('content-type', JSON_TYPE, 'x-process-time', (elapsedMs / 1000).toFixed(6), 'content-length', String(Buffer.byteLength(answer.body)));
    res.writeHead(200, head);
    res.end(answer.body);
    this.answered++;
    const ms = performance.now() - start;
    this.observe(route.method, route.pattern, 200, ms / 1000);
    writeAccessLine(this.access, this.mode, { request_id: requestId, method: route.method, route: route.pattern, status: 200, duration_ms: ms, user_id: answer.userId });
  }
}
