/**
 * Browser security headers (Helmet's set: CSP, HSTS in https deployments, nosniff, frame and
 * referrer policies, COOP/CORP…), computed once at startup and applied to every response.
 *
 * Why not @fastify/helmet: it builds a new Helmet middleware for every request (parsing the CSP
 * directives each time) — the largest single cost of a cheap route in the CPU profile. The header
 * values depend only on configuration, so Helmet itself (the very version @fastify/helmet uses)
 * runs once here against a recording response and the resulting headers are replayed per request.
 */
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';

type HelmetMiddleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;
type Helmet = (options: Record<string, unknown>) => HelmetMiddleware;

// Helmet is @fastify/helmet's dependency: resolve it from there, so the headers are exactly what
// that plugin would send.
const requireFromHelmetPlugin = createRequire(createRequire(import.meta.url).resolve('@fastify/helmet'));
const helmet = requireFromHelmetPlugin('helmet') as Helmet;

export interface SecurityHeaderOptions {
  /** HSTS and upgrade-insecure-requests: only where the deployment is https. */
  httpsOnly: boolean;
}

/** The Helmet options of this API (docs pages, Swagger UI and ReDoc, need their own scripts and styles). */
export function helmetOptions({ httpsOnly }: SecurityHeaderOptions): Record<string, unknown> {
  return {
    hsts: httpsOnly ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'", "'unsafe-inline'"],
        styleSrc: ["'self'", "'unsafe-inline'", 'https://fonts.googleapis.com'],
        fontSrc: ["'self'", 'data:', 'https://fonts.gstatic.com'],
        imgSrc: ["'self'", 'data:', 'https:'],
        workerSrc: ["'self'", 'blob:'],
        connectSrc: ["'self'", 'ws:', 'wss:'],
        upgradeInsecureRequests: httpsOnly ? [] : null,
      },
    },
  };
}

/**
 * The headers Helmet sets with these options, lower-cased, as one frozen object. Every option used
 * here is static (no per-request directive functions, no nonces), which is what makes this exact.
 */
export function securityHeaders(opts: SecurityHeaderOptions): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: unknown) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
    getHeader: (name: string) => headers[name.toLowerCase()],
  };
  let failure: unknown;
  helmet(helmetOptions(opts))({} as IncomingMessage, recorder as unknown as ServerResponse, (err) => {
    failure = err;
  });
  if (failure) throw failure;
  if (!headers['content-security-policy'] || !headers['x-content-type-options']) throw new Error('security headers: Helmet produced no CSP/nosniff');
  return Object.freeze(headers);
}
